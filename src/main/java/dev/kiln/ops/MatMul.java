package dev.kiln.ops;

import dev.kiln.autograd.GradMode;
import dev.kiln.backend.GemmEpilogue;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Tensor;

import java.util.Arrays;

/**
 * Matrix-multiply front ends: {@link #matmul} with NumPy semantics, and the in-place
 * {@link #gemm}. Both check shapes, pick the compute dtype and hand the backend rank-2 or
 * rank-3 (batch-first) operands.
 *
 * <p>Dtypes: F64 if either operand is F64, else F32. BF16/F16 inputs are computed in F32 and
 * the result is cast back to that half type (as PyTorch returns); integer and bool inputs are
 * computed in F32 and give an F32 result (NumPy would keep an integer type).
 */
public final class MatMul {
    private MatMul() {}

    /**
     * NumPy matmul: 1-d x 1-d is a dot product (a 0-d result); a 1-d left operand gets a 1 prepended
     * and a 1-d right operand a 1 appended, then removed from the result; leading (batch) dims
     * broadcast. Batch dims are flattened into one without copying when the (expanded) strides
     * allow it; otherwise the operand is made contiguous first.
     */
    public static Tensor matmul(Tensor a, Tensor b) {
        if (!Tensor.needsGrad(a, b)) return matmulForward(a, b);
        Tensor out;
        try (GradMode.Guard g = GradMode.noGrad()) { out = matmulForward(a, b); }
        return out.setGradFn(MatMulGrad.matmul(a, b));
    }

    private static Tensor matmulForward(Tensor a, Tensor b) {
        int[] as = a.shape(), bs = b.shape();
        if (as.length == 0 || bs.length == 0)
            throw new IllegalArgumentException("matmul: shapes " + Shape.str(as) + " and " + Shape.str(bs)
                    + ": both operands need at least 1 dimension (use mul for scalars)");
        DType promoted = DType.promote(a.dtype(), b.dtype());
        DType compute = promoted == DType.F64 ? DType.F64 : DType.F32;
        int[] a2 = as.length == 1 ? new int[]{1, as[0]} : as;
        int[] b2 = bs.length == 1 ? new int[]{bs[0], 1} : bs;
        int m = a2[a2.length - 2], k = a2[a2.length - 1], n = b2[b2.length - 1];
        if (b2[b2.length - 2] != k)
            throw new IllegalArgumentException("matmul: shapes " + Shape.str(as) + " and " + Shape.str(bs)
                    + " do not match: inner dimensions " + k + " and " + b2[b2.length - 2] + " differ");
        int[] batch = batchShape(as, bs, a2, b2);
        int batchSize = (int) Shape.numel(batch);

        Tensor ac = cast(a, compute), bc = cast(b, compute);
        if (bs.length == 2 && as.length >= 3) {
            Tensor out = stackedRows(ac, bc, batch, m, k, n);
            if (ac != a) ac.close();
            if (bc != b) bc.close();
            return castBack(out, promoted);
        }
        Tensor out3 = Tensor.uninitialized(a.backend(), compute, batchSize, m, n); // gemm with beta 0 writes it all
        if (!gemmByOuterBatch(ac, a2, bc, b2, batch, m, k, n, out3)) {
            Tensor a3 = asBatch(ac, a2, batch, batchSize, m, k);
            Tensor b3 = asBatch(bc, b2, batch, batchSize, k, n);
            a.backend().gemm(false, false, 1.0, a3, b3, 0.0, out3);
            closeAll(a3, b3);
        }
        Tensor out = out3.view(resultShape(batch, as.length == 1 ? -1 : m, bs.length == 1 ? -1 : n));
        out3.close();
        if (ac != a) ac.close();
        if (bc != b) bc.close();
        return castBack(out, promoted);
    }

    /**
     * A Linear layer's forward, {@code act(a @ w + bias)}: a [..., k], w [k, n], bias [n] or null,
     * act a parameterless unary op (RELU, GELU, GELU_TANH, ...) or null. Float32 operands without
     * gradients run as one GEMM over all rows of a, with the bias and activation applied to each
     * block of the output as the GEMM finishes it ({@link GemmEpilogue}); anything else runs as
     * matmul, add and the activation, with the same result.
     */
    public static Tensor linear(Tensor a, Tensor w, Tensor bias, UnaryOp act) { return linear(a, w, bias, act, false); }

    /**
     * The same; with {@code bf16} true (opt-in reduced precision, {@code --precision bf16}) a
     * constant float32 weight is multiplied in bf16 with f32 sums where the backend has such a
     * kernel ({@link dev.kiln.backend.Backend#gemmBf16}: each input keeps 8 significant bits), then
     * bias and activation are applied in f32; otherwise, and for gradients, the f32 path.
     */
    public static Tensor linear(Tensor a, Tensor w, Tensor bias, UnaryOp act, boolean bf16) {
        if (bf16 && a.dim() >= 2 && w.dim() == 2 && a.size(-1) == w.size(0) && a.dtype() == DType.F32 && w.dtype() == DType.F32
                && a.backend() == w.backend() && !Tensor.needsGrad(a, w) && (bias == null || !Tensor.needsGrad(bias))
                && (bias == null || bias.dim() == 1 && bias.size(0) == w.size(1))) {
            int[] as = a.shape();
            int k = w.size(0), n = w.size(1), rows = (int) (a.numel() / Math.max(k, 1));
            Tensor src = a.isContiguous() ? a : a.contiguous(), a2 = src.view(rows, k);
            Tensor out = Tensor.uninitialized(a.backend(), DType.F32, rows, n);
            boolean done;
            try {
                done = rows == 0 || a.backend().gemmBf16(a2, w, out);
            } finally {
                a2.close();
                if (src != a) src.close();
            }
            if (done) {
                if (bias != null || act != null) new GemmEpilogue(bias, act).applySeparately(out);
                int[] shape = as.clone();
                shape[shape.length - 1] = n;
                Tensor y = out.view(shape);
                out.close();
                return y;
            }
            out.close();
        }
        return linearF32(a, w, bias, act);
    }

    /**
     * {@code act(a @ w + bias) + residual}, residual (null: none) of the output's shape: a Linear
     * layer and the skip connection after it, the residual added by the GEMM's epilogue where it can
     * (float32, no gradients), else as a separate add with the same result.
     */
    public static Tensor linear(Tensor a, Tensor w, Tensor bias, UnaryOp act, boolean bf16, Tensor residual) {
        if (residual == null) return linear(a, w, bias, act, bf16);
        int[] as = a.shape(), outShape = as.clone();
        if (as.length > 0 && w.dim() == 2) outShape[as.length - 1] = w.size(1);
        if (!bf16 && epilogueFits(a, w, bias) && residual.dtype() == DType.F32 && residual.backend() == a.backend()
                && !Tensor.needsGrad(residual) && Arrays.equals(residual.shape(), outShape)) {
            int rows = (int) (a.numel() / Math.max(1, a.size(-1)));
            try (Tensor rc = residual.isContiguous() ? null : residual.contiguous();
                 Tensor r2 = (rc == null ? residual : rc).view(rows, w.size(1))) {
                return stackedRows(a, w, Arrays.copyOf(as, as.length - 2), as[as.length - 2], w.size(0), w.size(1), new GemmEpilogue(bias, act, r2));
            }
        }
        try (Tensor y = linear(a, w, bias, act, bf16)) {
            return y.add(residual);
        }
    }

    /** Whether a @ w (+ bias) can run as one F32 GEMM with an epilogue: shapes agree, float32 on one backend, no gradients. */
    private static boolean epilogueFits(Tensor a, Tensor w, Tensor bias) {
        return a.dim() >= 2 && w.dim() == 2 && a.size(-1) == w.size(0) && a.dtype() == DType.F32 && w.dtype() == DType.F32
                && a.backend() == w.backend()
                && (bias == null || bias.dim() == 1 && bias.size(0) == w.size(1) && bias.dtype() == DType.F32 && !Tensor.needsGrad(bias))
                && !Tensor.needsGrad(a, w);
    }

    private static Tensor linearF32(Tensor a, Tensor w, Tensor bias, UnaryOp act) {
        if (!((bias != null || act != null) && epilogueFits(a, w, bias))) {
            Tensor y = matmul(a, w);
            if (bias != null) {
                Tensor t = y.add(bias);
                y.close();
                y = t;
            }
            if (act != null) {
                Tensor t = Elementwise.unary(act, y, 0, 0);
                y.close();
                y = t;
            }
            return y;
        }
        int[] as = a.shape();
        return stackedRows(a, w, Arrays.copyOf(as, as.length - 2), as[as.length - 2], w.size(0), w.size(1), new GemmEpilogue(bias, act));
    }

    private static Tensor castBack(Tensor out, DType promoted) {
        if ((promoted == DType.BF16 || promoted == DType.F16) && out.dtype() != promoted) {
            Tensor half = out.to(promoted);
            out.close();
            return half;
        }
        return out;
    }

    /**
     * a [..., m, k] times a matrix b [k, n]: every row of a meets the same b, so all rows go through
     * one GEMM of batch*m rows (b packed once, M large enough to share over threads) instead of a
     * batch of small ones. a's row dims are read as one strided row range when they merge, else a
     * is copied contiguous first (cheaper than the output it feeds).
     */
    private static Tensor stackedRows(Tensor a, Tensor b, int[] batch, int m, int k, int n) {
        return stackedRows(a, b, batch, m, k, n, null);
    }

    /** The same with an epilogue applied by the GEMM (null: none). */
    private static Tensor stackedRows(Tensor a, Tensor b, int[] batch, int m, int k, int n, GemmEpilogue epilogue) {
        int rows = (int) (Shape.numel(batch) * m);
        int r = a.dim();
        long rowStride = mergedBatchStride(Arrays.copyOf(a.shape(), r - 1), a.strides());
        Tensor src = rowStride >= 0 ? a : a.contiguous();
        if (rowStride < 0 || rows <= 1) rowStride = k * src.stride(r - 1);
        if (rowStride == 0 && rows > 1) { // rows broadcast from one: compute them from a contiguous copy
            Tensor c = src.contiguous();
            if (src != a) src.close();
            src = c;
            rowStride = k;
        }
        Tensor out = Tensor.uninitialized(a.backend(), a.dtype(), rows, n); // gemm with beta 0 writes it all
        try (Tensor a2 = Tensor.of(src.storage(), src.dtype(), new int[]{rows, k}, new long[]{rowStride, src.stride(r - 1)},
                src.offset())) {
            a.backend().gemm(false, false, 1.0, a2, b, 0.0, out, epilogue);
        } finally {
            if (src != a) src.close();
        }
        Tensor shaped = out.view(resultShape(batch, m, n));
        out.close();
        return shaped;
    }

    /**
     * c = alpha * op(a) * op(b) + beta * c, in place. a and b are [M,K] / [K,N] (or transposed when
     * transA / transB), c is [M,N]; with a rank-3 c [B,M,N], a and b may be rank 2 or have a batch of
     * 1 (broadcast) or B. a and b are cast to c's dtype (F32 or F64); beta == 0 never reads c.
     */
    public static void gemm(boolean transA, boolean transB, double alpha, Tensor a, Tensor b, double beta, Tensor c) {
        gemm(transA, transB, alpha, a, b, beta, c, null);
    }

    /** The same, then c = act(c + bias) per the epilogue (null: none), applied by the backend's GEMM where it can. */
    public static void gemm(boolean transA, boolean transB, double alpha, Tensor a, Tensor b, double beta, Tensor c,
                            GemmEpilogue epilogue) {
        if (c.dtype() != DType.F32 && c.dtype() != DType.F64)
            throw new IllegalArgumentException("gemm: c must be float32 or float64, got " + c.dtype().pyName()
                    + " (" + shapes(transA, transB, a, b, c) + ")");
        int rc = c.dim();
        if (rc < 2 || rc > 3 || a.dim() < 2 || a.dim() > rc || b.dim() < 2 || b.dim() > rc)
            throw new IllegalArgumentException("gemm: need rank-2 operands or a rank-3 c [B,M,N] ("
                    + shapes(transA, transB, a, b, c) + ")");
        int m = c.size(-2), n = c.size(-1);
        int am = a.size(transA ? -1 : -2), ak = a.size(transA ? -2 : -1);
        int bk = b.size(transB ? -1 : -2), bn = b.size(transB ? -2 : -1);
        int batch = rc == 3 ? c.size(0) : 1;
        boolean batchOk = (a.dim() == 2 || a.size(0) == 1 || a.size(0) == batch)
                && (b.dim() == 2 || b.size(0) == 1 || b.size(0) == batch);
        if (am != m || bn != n || ak != bk || !batchOk)
            throw new IllegalArgumentException("gemm: shapes do not match (" + shapes(transA, transB, a, b, c)
                    + "): need op(a) [M,K], op(b) [K,N], c [M,N]" + (rc == 3 ? " with batch 1 or " + batch : ""));
        Tensor ac = cast(a, c.dtype()), bc = cast(b, c.dtype());
        Tensor ae = rc == 3 ? expandBatch(ac, batch) : ac, be = rc == 3 ? expandBatch(bc, batch) : bc;
        Tensor target = c.isContiguous() ? c : c.contiguous();
        c.backend().gemm(transA, transB, alpha, ae, be, beta, target, epilogue);
        if (target != c) {
            c.copyFrom(target);
            target.close();
        }
        if (ae != ac) ae.close();
        if (be != bc) be.close();
        if (ac != a) ac.close();
        if (bc != b) bc.close();
    }

    // ------------------------------------------------------------------ helpers

    private static Tensor cast(Tensor t, DType dtype) {
        return t.dtype() == dtype ? t : t.to(dtype);
    }

    /** Broadcast of the batch (leading) dims; the error names the caller's original shapes. */
    private static int[] batchShape(int[] as, int[] bs, int[] a2, int[] b2) {
        int[] ba = Arrays.copyOf(a2, a2.length - 2), bb = Arrays.copyOf(b2, b2.length - 2);
        try {
            return Shape.broadcast("matmul", ba, bb);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("matmul: shapes " + Shape.str(as) + " and " + Shape.str(bs)
                    + " do not match: batch dimensions " + Shape.str(ba) + " and " + Shape.str(bb) + " cannot be broadcast");
        }
    }

    /**
     * t (shape t2 after 1-d promotion) as a rank-3 [batchSize, rows, cols] tensor: expanded to the
     * broadcast batch shape, then the batch dims merged into one; a view when the strides allow it.
     */
    private static Tensor asBatch(Tensor t, int[] t2, int[] batch, int batchSize, int rows, int cols) {
        Tensor expanded = expandTo(t, t2, batch, rows, cols);
        long[] st = expanded.strides();
        long batchStride = mergedBatchStride(batch, st);
        Tensor src = batchStride >= 0 ? expanded : expanded.contiguous();
        if (batchStride < 0) batchStride = (long) rows * cols;
        Tensor r = Tensor.of(src.storage(), src.dtype(), new int[]{batchSize, rows, cols},
                new long[]{batchStride, src.stride(-2), src.stride(-1)}, src.offset());
        if (src != expanded) src.close();
        expanded.close();
        return r;
    }

    /**
     * Strided batches without copies: when an operand's batch dims cannot be merged into one stride
     * (attention's heads permuted out of [batch, time, heads, dim]), one rank-3 GEMM per index of the
     * leading batch dims, each over the last batch dim by its own stride, writing out3's matching
     * rows. False (nothing done) when every operand merges, or with fewer than two batch dims.
     */
    private static boolean gemmByOuterBatch(Tensor a, int[] a2, Tensor b, int[] b2, int[] batch, int m, int k, int n, Tensor out3) {
        if (batch.length < 2) return false;
        Tensor ae = expandTo(a, a2, batch, m, k), be = expandTo(b, b2, batch, k, n);
        try {
            if (mergedBatchStride(batch, ae.strides()) >= 0 && mergedBatchStride(batch, be.strides()) >= 0) return false;
            int last = batch.length - 1, inner = batch[last], outer = (int) (Shape.numel(batch) / inner);
            int[] idx = new int[last];
            for (int o = 0; o < outer; o++) {
                long offA = ae.offset(), offB = be.offset();
                for (int j = 0; j < last; j++) {
                    offA += idx[j] * ae.stride(j);
                    offB += idx[j] * be.stride(j);
                }
                try (Tensor av = Tensor.of(ae.storage(), ae.dtype(), new int[]{inner, m, k}, new long[]{ae.stride(last), ae.stride(-2), ae.stride(-1)}, offA);
                     Tensor bv = Tensor.of(be.storage(), be.dtype(), new int[]{inner, k, n}, new long[]{be.stride(last), be.stride(-2), be.stride(-1)}, offB);
                     Tensor ov = Tensor.of(out3.storage(), out3.dtype(), new int[]{inner, m, n},
                             new long[]{(long) m * n, n, 1}, out3.offset() + (long) o * inner * m * n)) {
                    a.backend().gemm(false, false, 1.0, av, bv, 0.0, ov);
                }
                for (int j = last - 1; j >= 0 && ++idx[j] == batch[j]; j--) idx[j] = 0;
            }
            return true;
        } finally {
            closeAll(ae, be);
        }
    }

    /** t (shape t2 after 1-d promotion) expanded to batch + [rows, cols]: a view. */
    private static Tensor expandTo(Tensor t, int[] t2, int[] batch, int rows, int cols) {
        int[] full = Arrays.copyOf(batch, batch.length + 2);
        full[batch.length] = rows;
        full[batch.length + 1] = cols;
        Tensor promoted = t.dim() == t2.length ? t : t.view(t2);
        Tensor expanded = promoted.expand(full);
        if (promoted != t) promoted.close();
        return expanded;
    }

    /** The single stride that walks all batch dims in order, or -1 when they cannot be merged. */
    private static long mergedBatchStride(int[] batch, long[] strides) {
        long inner = -1; // stride of the innermost non-trivial batch dim seen so far, times extents
        long stride = 0;
        boolean any = false;
        for (int i = batch.length - 1; i >= 0; i--) {
            if (batch[i] == 1) continue;
            if (!any) {
                stride = strides[i];
                inner = strides[i] * batch[i];
                any = true;
            } else {
                if (strides[i] != inner) return -1;
                inner = strides[i] * batch[i];
            }
        }
        return stride;
    }

    private static int[] resultShape(int[] batch, int m, int n) {
        int[] out = Arrays.copyOf(batch, batch.length + (m >= 0 ? 1 : 0) + (n >= 0 ? 1 : 0));
        int i = batch.length;
        if (m >= 0) out[i++] = m;
        if (n >= 0) out[i] = n;
        return out;
    }

    private static Tensor expandBatch(Tensor t, int batch) {
        if (t.dim() == 3) return t.size(0) == batch ? t : t.expand(batch, -1, -1);
        Tensor u = t.unsqueeze(0);
        Tensor e = u.expand(batch, -1, -1);
        u.close();
        return e;
    }

    private static void closeAll(Tensor... ts) {
        for (Tensor t : ts) t.close();
    }

    /** "a [..]^T, b [..], c [..]" for error messages (built only when one is thrown). */
    private static String shapes(boolean transA, boolean transB, Tensor a, Tensor b, Tensor c) {
        return "a " + Shape.str(a.shape()) + (transA ? "^T" : "") + ", b " + Shape.str(b.shape())
                + (transB ? "^T" : "") + ", c " + Shape.str(c.shape());
    }
}
