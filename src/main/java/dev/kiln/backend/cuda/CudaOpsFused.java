package dev.kiln.backend.cuda;

import dev.kiln.tensor.DType;
import java.util.Arrays;

/**
 * The fused kernels the {@code Backend} interface has no op for yet, reached through
 * {@link CudaBackend}'s public methods: bias + GELU ({@code elementwise.cu}: {@code kiln_bias_gelu_f32},
 * {@code kiln_bias_gelu_tanh_f32}), softmax / log-softmax backward over the last dim and layer-norm
 * backward ({@code reduce.cu}). Operands are row-major (rows, cols) with cols the last dim (or the
 * trailing normalized dims for layer norm); strided inputs are copied to contiguous scratch first;
 * outputs must be contiguous. Shapes are checked here, with one-line errors naming the op.
 */
final class CudaOpsFused {
    private final CudaOpsKernels k;
    private final CudaOpsCopy copy;

    CudaOpsFused(CudaOpsKernels k, CudaOpsCopy copy) {
        this.k = k;
        this.copy = copy;
    }

    /** {rows, cols} of a tensor whose last {@code trailing} dims form a row. */
    static long[] rowsCols(String op, int[] shape, int trailing) {
        if (shape.length < trailing || trailing < 1)
            throw new IllegalArgumentException("cuda " + op + ": needs at least " + Math.max(1, trailing) + " dims, got " + Arrays.toString(shape));
        long cols = 1, rows = 1;
        for (int i = 0; i < shape.length; i++) {
            if (i >= shape.length - trailing) cols *= shape[i];
            else rows *= shape[i];
        }
        return new long[] {rows, cols};
    }

    /** Throws unless every view has {@code shape}; out views must also be contiguous. */
    static void sameShape(String op, int[] shape, CudaOpsView... views) {
        for (CudaOpsView v : views) {
            if (v != null && !Arrays.equals(v.shape(), shape))
                throw new IllegalArgumentException("cuda " + op + ": operand " + Arrays.toString(v.shape()) + " does not match "
                        + Arrays.toString(shape));
        }
    }

    static void contiguousOut(String op, CudaOpsView... outs) {
        for (CudaOpsView o : outs)
            if (o != null && !o.isContiguous()) throw new IllegalArgumentException("cuda " + op + ": the output must be contiguous");
    }

    /** y = gelu(x + bias) with bias over the last dim; f32 (the kernel's only dtype). */
    void biasGelu(CudaOpsView x, CudaOpsView bias, boolean tanh, CudaOpsView y) {
        String op = tanh ? "biasGeluTanh" : "biasGelu";
        if (x.dtype() != DType.F32 || bias.dtype() != DType.F32 || y.dtype() != DType.F32)
            throw new UnsupportedOperationException("cuda " + op + ": float32 only, got " + x.dtype().pyName());
        long[] rc = rowsCols(op, x.shape(), 1);
        if (bias.shape().length != 1 || bias.shape()[0] != rc[1])
            throw new IllegalArgumentException("cuda " + op + ": bias " + Arrays.toString(bias.shape()) + " must be [" + rc[1] + "]");
        sameShape(op, x.shape(), y);
        contiguousOut(op, y);
        if (rc[0] * rc[1] == 0) return;
        long[] xc = copy.contiguous(x), bc = copy.contiguous(bias);
        try {
            k.launch1d("elementwise", tanh ? "kiln_bias_gelu_tanh_f32" : "kiln_bias_gelu_f32", rc[0] * rc[1], 4, 8,
                    new KernelArgs().ptr(xc[0]).ptr(bc[0]).ptr(y.ptr()).i64(rc[0]).i64(rc[1]));
        } finally {
            if (xc[1] != 0) k.free(xc[1]);
            if (bc[1] != 0) k.free(bc[1]);
        }
    }

    /** dx = softmax backward (y the forward's output, g = dL/dy) over the last dim; log: of log-softmax. */
    void softmaxBackward(CudaOpsView y, CudaOpsView g, boolean log, CudaOpsView dx) {
        String op = log ? "logSoftmaxBackward" : "softmaxBackward";
        DType t = CudaOpsElementwise.floating(op, y.dtype());
        sameShape(op, y.shape(), g, dx);
        contiguousOut(op, dx);
        if (g.dtype() != t || dx.dtype() != t) throw new IllegalArgumentException("cuda " + op + ": operands must all be " + t.pyName());
        long[] rc = rowsCols(op, y.shape(), 1);
        if (rc[0] * rc[1] == 0) return;
        long[] yc = copy.contiguous(y), gc = copy.contiguous(g);
        try {
            int[] block = CudaOpsKernels.rowBlock(rc[1]);
            k.launch("reduce", (log ? "kiln_log_softmax_backward_" : "kiln_softmax_backward_") + CudaOpsCopy.suffix(t),
                    CudaOpsKernels.rowGrid(rc[0], block), block, new KernelArgs().ptr(yc[0]).ptr(gc[0]).ptr(dx.ptr()).i64(rc[0]).i64(rc[1]));
        } finally {
            if (yc[1] != 0) k.free(yc[1]);
            if (gc[1] != 0) k.free(gc[1]);
        }
    }

    /**
     * Layer-norm backward over the trailing {@code normalizedDims} dims: dx (and dw, db when not
     * null; w may be null) from dy and the forward's input x. The row statistics are recomputed by
     * the forward kernel into scratch (mean, rstd per row), then the dx (row) and dw/db (column)
     * kernels run.
     */
    void layerNormBackward(CudaOpsView dy, CudaOpsView x, CudaOpsView w, int normalizedDims, double eps, CudaOpsView dx,
                           CudaOpsView dw, CudaOpsView db) {
        String op = "layerNormBackward";
        DType t = CudaOpsElementwise.floating(op, x.dtype());
        sameShape(op, x.shape(), dy, dx);
        long[] rc = rowsCols(op, x.shape(), normalizedDims);
        int[] wshape = Arrays.copyOfRange(x.shape(), x.shape().length - normalizedDims, x.shape().length);
        sameShape(op, wshape, w, dw, db);
        contiguousOut(op, dx, dw, db);
        long rows = rc[0], cols = rc[1];
        if (rows * cols == 0) return;
        long[] xc = copy.contiguous(x), dyc = copy.contiguous(dy), wc = w == null ? new long[] {0, 0} : copy.contiguous(w);
        long stats = k.scratch(2L * rows * t.byteSize()), ytmp = k.scratch(rows * cols * t.byteSize());
        long mean = stats, rstd = stats + rows * t.byteSize();
        try {
            int[] block = CudaOpsKernels.rowBlock(cols);
            int[] grid = CudaOpsKernels.rowGrid(rows, block);
            String sfx = CudaOpsCopy.suffix(t);
            k.launch("reduce", "kiln_layernorm_forward_" + sfx, grid, block, new KernelArgs().ptr(xc[0]).ptr(0).ptr(0).ptr(ytmp)
                    .ptr(mean).ptr(rstd).i64(rows).i64(cols).scalar(t, eps));
            k.launch("reduce", "kiln_layernorm_backward_dx_" + sfx, grid, block, new KernelArgs().ptr(dyc[0]).ptr(xc[0]).ptr(wc[0])
                    .ptr(mean).ptr(rstd).ptr(dx.ptr()).i64(rows).i64(cols));
            if (dw != null || db != null) {
                k.launch("reduce", "kiln_layernorm_backward_dwdb_" + sfx, CudaOpsKernels.colGrid(cols), new int[] {32, 16, 1},
                        new KernelArgs().ptr(dyc[0]).ptr(xc[0]).ptr(mean).ptr(rstd).ptr(dw == null ? 0 : dw.ptr())
                                .ptr(db == null ? 0 : db.ptr()).i64(rows).i64(cols));
            }
        } finally {
            k.free(ytmp);
            k.free(stats);
            for (long[] c : new long[][] {xc, dyc, wc}) if (c[1] != 0) k.free(c[1]);
        }
    }
}
