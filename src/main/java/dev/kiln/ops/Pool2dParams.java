package dev.kiln.ops;

/** Pool2d hyper-parameters. For AVG, countIncludePad follows PyTorch (default true). */
public record Pool2dParams(int kernelH, int kernelW, int strideH, int strideW, int padH, int padW,
                           boolean ceilMode, boolean countIncludePad) {
    public static Pool2dParams of(int kernel, int stride, int padding) {
        return new Pool2dParams(kernel, kernel, stride, stride, padding, padding, false, true);
    }
}
