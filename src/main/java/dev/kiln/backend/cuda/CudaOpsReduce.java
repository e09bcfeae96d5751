package dev.kiln.backend.cuda;

import dev.kiln.ops.ReduceOp;
import dev.kiln.tensor.DType;
import java.util.Arrays;
import java.util.Locale;

/**
 * Row-wise ops of the CUDA backend on {@code kernels/reduce.cu} (f32, f64): softmax / log-softmax and
 * layer norm over trailing dims, and SUM / MEAN / MAX reductions. Inputs that are not contiguous are
 * copied to scratch first. Softmax over an inner axis is done by permuting that axis last through a
 * scratch copy, running the row kernel and copying back through the inverse view. Reductions: after
 * dropping size-1 dims, reduced axes that form one trailing group use the row kernel (x as
 * (rows, cols)), one leading group the column kernel; any other pattern first copies x permuted
 * (kept axes, then reduced axes) into scratch and uses the row kernel.
 */
final class CudaOpsReduce {
    private final CudaOpsKernels k;
    private final CudaOpsCopy copy;

    CudaOpsReduce(CudaOpsKernels k, CudaOpsCopy copy) {
        this.k = k;
        this.copy = copy;
    }

    /** out = softmax(x) (or log-softmax) along axis; out contiguous, same shape. */
    void softmax(CudaOpsView x, int axis, boolean log, CudaOpsView out) {
        DType t = CudaOpsElementwise.floating(log ? "logSoftmax" : "softmax", x.dtype());
        int nd = x.shape().length;
        if (x.numel() == 0) return;
        if (nd == 0) {
            softmaxRows(t, log, copy.contiguous(x), out, 1, 1);
            return;
        }
        int[] perm = new int[nd];
        for (int i = 0, j = 0; i < nd; i++) if (i != axis) perm[j++] = i;
        perm[nd - 1] = axis;
        CudaOpsView xp = x.permute(perm);
        long cols = x.shape()[axis];
        long rows = x.numel() / cols;
        if (axis == nd - 1 && out.isContiguous()) {
            softmaxRows(t, log, copy.contiguous(xp), out, rows, cols);
            return;
        }
        long tmp = k.scratch(out.bytes());
        try {
            CudaOpsView res = CudaOpsView.contiguous(tmp, t, xp.shape());
            softmaxRows(t, log, copy.contiguous(xp), res, rows, cols);
            copy.copy(res, out.permute(perm));
        } finally {
            k.free(tmp);
        }
    }

    private void softmaxRows(DType t, boolean log, long[] xc, CudaOpsView y, long rows, long cols) {
        try {
            int[] block = CudaOpsKernels.rowBlock(cols);
            String name = (log ? "kiln_log_softmax_" : "kiln_softmax_") + CudaOpsCopy.suffix(t);
            k.launch("reduce", name, CudaOpsKernels.rowGrid(rows, block), block,
                    new KernelArgs().ptr(xc[0]).ptr(y.ptr()).i64(rows).i64(cols));
        } finally {
            if (xc[1] != 0) k.free(xc[1]);
        }
    }

    /** Layer norm over the trailing normalizedDims dims; w, b (those dims' shape) may be null; out contiguous. */
    void layerNorm(CudaOpsView x, CudaOpsView w, CudaOpsView b, int normalizedDims, double eps, CudaOpsView out) {
        DType t = CudaOpsElementwise.floating("layerNorm", x.dtype());
        int[] s = x.shape();
        long cols = 1;
        for (int i = s.length - normalizedDims; i < s.length; i++) cols *= s[i];
        long rows = cols == 0 ? 0 : x.numel() / cols;
        if (rows == 0 || cols == 0) return;
        long[] xc = copy.contiguous(x);
        long[] wc = w == null ? new long[] {0, 0} : copy.contiguous(w);
        long[] bc = b == null ? new long[] {0, 0} : copy.contiguous(b);
        try {
            int[] block = CudaOpsKernels.rowBlock(cols);
            k.launch("reduce", "kiln_layernorm_forward_" + CudaOpsCopy.suffix(t), CudaOpsKernels.rowGrid(rows, block), block,
                    new KernelArgs().ptr(xc[0]).ptr(wc[0]).ptr(bc[0]).ptr(out.ptr()).ptr(0).ptr(0)
                            .i64(rows).i64(cols).scalar(t, eps));
        } finally {
            for (long[] c : new long[][] {xc, wc, bc}) if (c[1] != 0) k.free(c[1]);
        }
    }

    /** SUM / MEAN / MAX of x over axes into out (keepdim shape, contiguous). */
    void reduce(ReduceOp op, CudaOpsView x, int[] axes, CudaOpsView out) {
        DType t = CudaOpsElementwise.floating("reduce " + op, x.dtype());
        if (op != ReduceOp.SUM && op != ReduceOp.MEAN && op != ReduceOp.MAX) {
            throw new UnsupportedOperationException("cuda: reduce " + op + " not implemented yet (SUM, MEAN, MAX are)");
        }
        if (x.numel() == 0) {
            throw new UnsupportedOperationException("cuda: reduce " + op + " of an empty tensor " + Arrays.toString(x.shape()));
        }
        long[] group = groups(x.shape(), axes);
        if (group == null) {
            copy.copy(new CudaOpsView(x.ptr(), t, out.shape(), x.strides()), out); // reduced dims are all size 1
            return;
        }
        long[] xc = group[2] == 2 ? copy.contiguous(x.permute(keptThenReduced(x.shape().length, axes))) : copy.contiguous(x);
        try {
            String name = "kiln_" + op.name().toLowerCase(Locale.ROOT) + (group[2] != 0 ? "_last_" : "_first_") + CudaOpsCopy.suffix(t);
            KernelArgs args = new KernelArgs().ptr(xc[0]).ptr(out.ptr()).i64(group[0]).i64(group[1]);
            if (group[2] != 0) {
                int[] block = CudaOpsKernels.rowBlock(group[1]);
                k.launch("reduce", name, CudaOpsKernels.rowGrid(group[0], block), block, args);
            } else {
                k.launch("reduce", name, CudaOpsKernels.colGrid(group[1]), new int[] {32, 16, 1}, args);
            }
        } finally {
            if (xc[1] != 0) k.free(xc[1]);
        }
    }

    /**
     * {rows, cols, 1} when the reduced dims (size > 1) are trailing (row kernel), {rows, cols, 0} when
     * leading (column kernel), {kept, reduced, 2} when mixed (permute kept-then-reduced, row kernel),
     * null when nothing of size > 1 is reduced.
     */
    static long[] groups(int[] shape, int[] axes) {
        boolean[] red = new boolean[shape.length];
        for (int a : axes) red[a] = true;
        long kept = 1, reduced = 1;
        int transitions = 0;
        Boolean first = null, prev = null;
        for (int d = 0; d < shape.length; d++) {
            if (shape[d] == 1) continue;
            if (red[d]) reduced *= shape[d]; else kept *= shape[d];
            if (first == null) first = red[d];
            if (prev != null && prev != red[d]) transitions++;
            prev = red[d];
        }
        if (reduced == 1) return null;
        if (kept == 1) return new long[] {1, reduced, 1};
        if (transitions > 1) return new long[] {kept, reduced, 2};
        return first ? new long[] {reduced, kept, 0} : new long[] {kept, reduced, 1};
    }

    /** The permutation listing the kept axes in order, then the reduced ones. */
    static int[] keptThenReduced(int nd, int[] axes) {
        boolean[] red = new boolean[nd];
        for (int a : axes) red[a] = true;
        int[] perm = new int[nd];
        int j = 0;
        for (int d = 0; d < nd; d++) if (!red[d]) perm[j++] = d;
        for (int d = 0; d < nd; d++) if (red[d]) perm[j++] = d;
        return perm;
    }
}
