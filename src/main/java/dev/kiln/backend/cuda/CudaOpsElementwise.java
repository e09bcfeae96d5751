package dev.kiln.backend.cuda;

import dev.kiln.ops.BinaryOp;
import dev.kiln.ops.UnaryOp;
import dev.kiln.tensor.DType;
import java.util.Arrays;
import java.util.Locale;

/**
 * Elementwise ops of the CUDA backend on {@code kernels/elementwise.cu} (f32 and f64): the
 * contiguous kernels when every operand is contiguous with the output's shape (16-byte packets
 * inside), the {@code _strided} twins with a KilnIndexer otherwise (broadcast dims have stride 0).
 * ReLU backward has only a contiguous kernel: strided operands are first copied to scratch.
 */
final class CudaOpsElementwise {
    private final CudaOpsKernels k;
    private final CudaOpsCopy copy;

    CudaOpsElementwise(CudaOpsKernels k, CudaOpsCopy copy) {
        this.k = k;
        this.copy = copy;
    }

    /** out = op(x); x: (any strides), out: same shape, same dtype. */
    void unary(UnaryOp op, CudaOpsView x, CudaOpsView out, double a, double b) {
        DType t = floating("unary " + op, x.dtype());
        if (out.dtype() != t) throw new UnsupportedOperationException("cuda: unary " + op + " needs out dtype " + t + ", got " + out.dtype());
        long n = out.numel();
        if (n == 0) return;
        String name = "kiln_" + op.name().toLowerCase(Locale.ROOT) + "_" + CudaOpsCopy.suffix(t);
        KernelArgs args = new KernelArgs().ptr(x.ptr()).ptr(out.ptr()).i64(n).scalar(t, a).scalar(t, b);
        if (x.isContiguous() && out.isContiguous()) {
            k.launch1d("elementwise", name, n, CudaOpsKernels.lanes(t), 8, args);
        } else {
            args.bytes(CudaOpsKernels.indexer(out.shape(), out.strides(), x.strides()));
            k.launch1d("elementwise", name + "_strided", n, 1, 16, args);
        }
    }

    /** out = a op b; a, b already broadcast to out's shape; comparisons write BOOL. */
    void binary(BinaryOp op, CudaOpsView a, CudaOpsView b, CudaOpsView out) {
        DType t = floating("binary " + op, a.dtype());
        DType r = op.isComparison() ? DType.BOOL : t;
        if (b.dtype() != t || out.dtype() != r) {
            throw new UnsupportedOperationException("cuda: binary " + op + " needs a, b " + t + " and out " + r
                    + ", got " + a.dtype() + ", " + b.dtype() + ", " + out.dtype());
        }
        long n = out.numel();
        if (n == 0) return;
        String name = "kiln_" + op.name().toLowerCase(Locale.ROOT) + "_" + CudaOpsCopy.suffix(t);
        KernelArgs args = new KernelArgs().ptr(a.ptr()).ptr(b.ptr()).ptr(out.ptr()).i64(n);
        if (a.isContiguous() && b.isContiguous() && out.isContiguous()
                && Arrays.equals(a.shape(), out.shape()) && Arrays.equals(b.shape(), out.shape())) {
            k.launch1d("elementwise", name, n, CudaOpsKernels.lanes(t), 8, args);
        } else {
            args.bytes(CudaOpsKernels.indexer(out.shape(), out.strides(), a.strides(), b.strides()));
            k.launch1d("elementwise", name + "_strided", n, 1, 16, args);
        }
    }

    /** out = x > 0 ? g : 0 (all the same shape and dtype). */
    void reluBackward(CudaOpsView g, CudaOpsView x, CudaOpsView out) {
        DType t = floating("reluBackward", x.dtype());
        long n = out.numel();
        if (n == 0) return;
        long[] xc = copy.contiguous(x);
        long[] gc = copy.contiguous(g);
        long[] oc = out.isContiguous() ? new long[] {out.ptr(), 0} : new long[] {k.scratch(out.bytes()), 1};
        try {
            KernelArgs args = new KernelArgs().ptr(xc[0]).ptr(gc[0]).ptr(oc[0]).i64(n);
            k.launch1d("elementwise", "kiln_relu_backward_" + CudaOpsCopy.suffix(t), n, CudaOpsKernels.lanes(t), 8, args);
            if (oc[1] != 0) copy.copy(CudaOpsView.contiguous(oc[0], t, out.shape()), out);
        } finally {
            if (xc[1] != 0) k.free(xc[1]);
            if (gc[1] != 0) k.free(gc[1]);
            if (oc[1] != 0) k.free(oc[0]);
        }
    }

    /** The dtype when it is F32 or F64, else an UnsupportedOperationException naming op and dtype. */
    static DType floating(String op, DType t) {
        if (t == DType.F32 || t == DType.F64) return t;
        throw new UnsupportedOperationException("cuda: " + op + " is implemented for float32/float64 only, got " + t.pyName());
    }
}
