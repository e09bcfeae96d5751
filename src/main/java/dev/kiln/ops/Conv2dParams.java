package dev.kiln.ops;

/** Conv2d hyper-parameters: (h, w) pairs for stride, padding, dilation; channel groups. */
public record Conv2dParams(int strideH, int strideW, int padH, int padW, int dilationH, int dilationW, int groups) {
    public static Conv2dParams of(int stride, int padding) { return new Conv2dParams(stride, stride, padding, padding, 1, 1, 1); }
    public static Conv2dParams defaults() { return of(1, 0); }
}
