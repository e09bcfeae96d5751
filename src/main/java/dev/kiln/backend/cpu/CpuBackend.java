package dev.kiln.backend.cpu;

import dev.kiln.backend.Backend;
import dev.kiln.backend.Backends;
import dev.kiln.backend.GemmEpilogue;
import dev.kiln.ops.BinaryOp;
import dev.kiln.ops.Conv2dParams;
import dev.kiln.ops.Pool2dParams;
import dev.kiln.ops.PoolOp;
import dev.kiln.ops.ReduceOp;
import dev.kiln.ops.UnaryOp;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.lang.ref.Reference;

/**
 * The CPU backend: off-heap host memory and Vector API kernels (see {@link CpuConfig}). Every
 * kernel call fences its tensors: kernels work on raw segments, and the Cleaner must not free a
 * tensor's memory while a kernel still runs on it.
 */
public final class CpuBackend implements Backend {
    @Override public String name() { return "cpu"; }

    /**
     * How this backend runs op on dtype t, for the op table: "vector" (a Vector API kernel, its tail
     * in the reference), "reference" (the op's float64 reference per element), "integer" (exact
     * integer arithmetic: ops that keep integer types), or "via F32" (other ops on integers: cast first).
     */
    public static String unaryKernel(UnaryOp op, DType t) {
        if (!t.isFloating()) return op.keepsIntType() ? "integer" : "via F32";
        if (t != DType.F32 && t != DType.F64) return "via F32";
        return ElemUnary.hasVectorForm(op, t) ? "vector" : "reference";
    }

    /** How this backend runs the binary op on dtype t, for the op table (as {@link #unaryKernel}; "-": not defined there). */
    public static String binaryKernel(BinaryOp op, DType t) {
        if (!t.isFloating()) return op.definedOnInts() || op.isComparison() ? "integer" : "-";
        if (t != DType.F32 && t != DType.F64) return "via F32";
        return ElemBinary.hasVectorForm(op, t) ? "vector" : "reference";
    }

    /**
     * {@code acc[i] = acc[i] op b[i * bStride]} for {@code i < n} over raw contiguous segments, on the
     * calling thread with the same kernels as {@link #binary} (for callers that run their own
     * threads, e.g. the CPU ring's I/O thread). bStride is 1, or 0 to broadcast b[0]. Arithmetic
     * ops other than POW; F32/F64 (Vector API) and I32/I64 (no DIV, like the integer kernels).
     */
    public static void binaryInPlace(BinaryOp op, DType t, MemorySegment acc, MemorySegment b, long bStride, int n) {
        if (op.isComparison() || op == BinaryOp.POW || (bStride != 0 && bStride != 1))
            throw new IllegalArgumentException("binaryInPlace: " + op + " with b stride " + bStride + " is not supported");
        if (n == 0) return;   // the row kernels read their first elements up front
        switch (t) {
            case F32 -> ElemBinary.f32(op, acc, 0, 1, b, 0, bStride, acc, 0, 1, n, CpuConfig.scalar(), null);
            case F64 -> ElemBinary.f64(op, acc, 0, 1, b, 0, bStride, acc, 0, 1, n, CpuConfig.scalar(), null);
            case I32, I64 -> {
                Storage sa = Storage.wrap(Backends.cpu(), acc), sb = Storage.wrap(Backends.cpu(), b);
                ElemInt.binary(op, t, sa, 0, 1, sb, 0, bStride, sa, 0, 1, n);
            }
            default -> throw new IllegalArgumentException("binaryInPlace: unsupported dtype " + t.pyName());
        }
    }

    @Override public Storage allocate(long bytes) { return Storage.allocateHost(this, bytes); }

    @Override public Storage allocateUninitialized(long bytes) { return Storage.allocateHost(this, bytes, false); }

    @Override public void copy(Tensor src, Tensor dst) {
        try {
            CpuCopy.copy(src, dst);
        } finally {
            fence(src, dst);
        }
    }

    @Override public void unary(UnaryOp op, Tensor x, Tensor out, double a, double b) {
        try {
            CpuElementwise.unary(op, x, out, a, b);
        } finally {
            fence(x, out);
        }
    }

    @Override public void binary(BinaryOp op, Tensor a, Tensor b, Tensor out) {
        try {
            CpuElementwise.binary(op, a, b, out);
        } finally {
            fence(a, b, out);
        }
    }

    @Override public void where(Tensor cond, Tensor a, Tensor b, Tensor out) {
        try {
            CpuElementwise.where(cond, a, b, out);
        } finally {
            fence(cond, a, b, out);
        }
    }

    @Override public void reduce(ReduceOp op, Tensor x, int[] axes, Tensor out, double param) {
        try {
            CpuReduce.reduce(op, x, axes, out, param);
        } finally {
            fence(x, out);
        }
    }

    @Override public void softmax(Tensor x, int axis, boolean log, Tensor out) {
        try {
            CpuReduce.softmax(x, axis, log, out);
        } finally {
            fence(x, out);
        }
    }

    @Override public void layerNorm(Tensor x, Tensor w, Tensor b, int normalizedDims, double eps, Tensor out) {
        try {
            CpuReduce.layerNorm(x, w, b, normalizedDims, eps, out);
        } finally {
            fence(x, w, b, out);
        }
    }

    @Override public void gemm(boolean transA, boolean transB, double alpha, Tensor a, Tensor b, double beta, Tensor c) {
        try {
            CpuGemm.gemm(transA, transB, alpha, a, b, beta, c);
        } finally {
            fence(a, b, c);
        }
    }

    @Override public boolean gemmBf16(Tensor a, Tensor w, Tensor c) {
        if (a.dtype() != DType.F32 || w.dtype() != DType.F32 || c.dtype() != DType.F32 || a.dim() != 2 || w.dim() != 2
                || c.dim() != 2 || !w.storage().isConstant() || !c.isContiguous())
            return false;
        try {
            Bf16Gemm.gemm(a, Bf16Gemm.packConstant(w), c);
        } finally {
            fence(a, w, c);
        }
        return true;
    }

    @Override public boolean gemmBf16(boolean transA, boolean transB, Tensor a, Tensor b, Tensor c) {
        if (a.dtype() != DType.F32 || b.dtype() != DType.F32 || c.dtype() != DType.F32 || a.dim() != 2 || b.dim() != 2
                || c.dim() != 2 || !c.isContiguous() || !Bf16Gemm.useNative())
            return false;
        try (Bf16Gemm.Packed pb = Bf16Gemm.pack(b, transB); Tensor at = transA ? a.transpose(0, 1) : null) {
            Bf16Gemm.gemm(transA ? at : a, pb, c);
        } finally {
            fence(a, b, c);
        }
        return true;
    }

    @Override public void gemm(boolean transA, boolean transB, double alpha, Tensor a, Tensor b, double beta, Tensor c,
                               GemmEpilogue epilogue) {
        try {
            CpuGemm.gemm(transA, transB, alpha, a, b, beta, c, epilogue);
        } finally {
            fence(a, b, c);
        }
    }

    @Override public void conv2d(Tensor x, Tensor w, Tensor bias, Conv2dParams p, Tensor out) {
        try {
            CpuConv.conv2d(x, w, bias, p, out, null, false);
        } finally {
            fence(x, w, bias, out);
        }
    }

    @Override public void conv2dFused(Tensor x, Tensor w, Tensor bias, Conv2dParams p, Tensor residual, boolean relu, Tensor out) {
        try {
            CpuConv.conv2d(x, w, bias, p, out, residual, relu);
        } finally {
            fence(x, w, bias, residual, out);
        }
    }

    @Override public boolean softmaxBackward(Tensor y, Tensor g, boolean log, Tensor dx) {
        try {
            return CpuNormGrad.softmaxBackward(y, g, log, dx);
        } finally {
            fence(y, g, dx);
        }
    }

    @Override public boolean layerNormBackward(Tensor g, Tensor x, Tensor w, int k, double eps, Tensor gx, Tensor gw, Tensor gb) {
        try {
            return CpuNormGrad.layerNormBackward(g, x, w, k, eps, gx, gw, gb);
        } finally {
            fence(g, x, w, gx, gw, gb);
        }
    }

    @Override public boolean activationBackward(UnaryOp op, Tensor g, Tensor x, Tensor y, Tensor out) {
        try {
            return CpuActivationGrad.smoothBackward(op, g, x, y, out);
        } finally {
            fence(g, x, y, out);
        }
    }

    @Override public boolean dropout(Tensor in, long base, int bits, long threshold, double scale, Tensor out) {
        try {
            return CpuDropout.apply(in, base, bits, threshold, scale, out);
        } finally {
            fence(in, out);
        }
    }

    @Override public boolean attention(Tensor qkv, dev.kiln.backend.AttentionSpec spec, Tensor out) {
        try {
            return CpuAttention.selfForward(qkv, spec, out);
        } finally {
            fence(qkv, spec.mask(), out);
        }
    }

    @Override public boolean attentionBackward(Tensor qkv, dev.kiln.backend.AttentionSpec spec, Tensor gOut, Tensor gQkv) {
        try {
            return CpuAttention.selfBackward(qkv, spec, gOut, gQkv);
        } finally {
            fence(qkv, spec.mask(), gOut, gQkv);
        }
    }

    @Override public void reluBackward(Tensor g, Tensor x, Tensor out) {
        try {
            CpuActivationGrad.reluBackward(g, x, out);
        } finally {
            fence(g, x, out);
        }
    }

    @Override public void conv2dBackwardInput(Tensor gy, Tensor w, Conv2dParams p, Tensor gx) {
        try {
            CpuConvGrad.backwardInput(gy, w, p, gx);
        } finally {
            fence(gy, w, gx);
        }
    }

    @Override public void conv2dBackwardWeight(Tensor x, Tensor gy, Conv2dParams p, Tensor gw) {
        try {
            CpuConvGrad.backwardWeight(x, gy, p, gw);
        } finally {
            fence(x, gy, gw);
        }
    }

    @Override public void pool2dBackward(PoolOp op, Tensor gy, Tensor indices, Pool2dParams p, Tensor gx) {
        try {
            CpuConvGrad.poolBackward(op, gy, indices, p, gx);
        } finally {
            fence(gy, indices, gx);
        }
    }

    @Override public void gather(Tensor x, int axis, Tensor index, Tensor out) {
        try {
            CpuIndex.gather(x, axis, index, out);
        } finally {
            fence(x, index, out);
        }
    }

    @Override public void scatterAdd(Tensor dst, int axis, Tensor index, Tensor src) {
        try {
            CpuIndex.scatterAdd(dst, axis, index, src);
        } finally {
            fence(dst, index, src);
        }
    }

    @Override public void sgdStep(Tensor p, Tensor g, Tensor buf, double lr, double momentum, double dampening,
                                  double wd, boolean nesterov, boolean first) {
        try {
            CpuOptim.sgd(p, g, buf, lr, momentum, dampening, wd, nesterov, first);
        } finally {
            fence(p, g, buf);
        }
    }

    @Override public void adamStep(Tensor p, Tensor g, Tensor m, Tensor v, double lr, double b1, double b2, double eps,
                                   double wd, boolean decoupled, long step) {
        try {
            CpuOptim.adam(p, g, m, v, lr, b1, b2, eps, wd, decoupled, step);
        } finally {
            fence(p, g, m, v);
        }
    }

    @Override public void pool2d(PoolOp op, Tensor x, Pool2dParams p, Tensor out, Tensor indices) {
        try {
            CpuConv.pool2d(op, x, p, out, indices);
        } finally {
            fence(x, out, indices);
        }
    }

    /** Keeps the tensors (and so their memory) reachable until the kernel has returned. */
    private static void fence(Tensor... tensors) {
        Reference.reachabilityFence(tensors);
    }
}
