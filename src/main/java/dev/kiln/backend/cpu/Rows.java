package dev.kiln.backend.cpu;

/**
 * Walks an n-d iteration space as a sequence of innermost rows, for any number of strided
 * operands. Dims that are contiguous for every operand are merged first, so contiguous tensors
 * become a single long row. Kernels then run a vector loop over each row (unit inner strides)
 * or a strided scalar loop.
 */
public final class Rows {
    private Rows() {}

    /** Called per row: offs[k] is operand k's element offset of the row's first element. */
    public interface Body { void row(long[] offs, int n, long[] innerStrides); }

    /**
     * @param shape   iteration shape
     * @param strides strides[k] of operand k, in elements (0 for broadcast dims)
     * @param offsets element offsets of each operand's first element
     */
    public static void forEach(int[] shape, long[][] strides, long[] offsets, Body body) {
        int ops = strides.length;
        for (int d : shape) if (d == 0) return;
        int[] s = new int[shape.length];
        long[][] st = new long[ops][shape.length];
        int r = merge(shape, strides, s, st);
        long[] offs = offsets.clone();
        long[] inner = new long[ops];
        if (r == 0) {
            for (int k = 0; k < ops; k++) inner[k] = 1;
            body.row(offs, 1, inner);
            return;
        }
        int n = s[r - 1];
        for (int k = 0; k < ops; k++) inner[k] = st[k][r - 1];
        int outer = r - 1;
        if (outer == 0) {
            body.row(offs, n, inner);
            return;
        }
        int[] idx = new int[outer];
        long[] cur = offs.clone();
        while (true) {
            body.row(cur, n, inner); // body must not keep or modify cur
            int d = outer - 1;
            while (d >= 0) {
                idx[d]++;
                for (int k = 0; k < ops; k++) cur[k] += st[k][d];
                if (idx[d] < s[d]) break;
                for (int k = 0; k < ops; k++) cur[k] -= st[k][d] * s[d];
                idx[d] = 0;
                d--;
            }
            if (d < 0) return;
        }
    }

    /**
     * Drops size-1 dims and merges neighbours that are contiguous for every operand, writing the
     * merged shape to s and strides to st; returns the new rank.
     */
    static int merge(int[] shape, long[][] strides, int[] s, long[][] st) {
        int ops = strides.length;
        int r = 0;
        for (int i = 0; i < shape.length; i++) {
            if (shape[i] == 1) continue;
            if (r > 0) {
                boolean merge = true;
                for (int k = 0; k < ops; k++)
                    if (st[k][r - 1] != strides[k][i] * shape[i]) { merge = false; break; }
                if (merge) {
                    s[r - 1] *= shape[i];
                    for (int k = 0; k < ops; k++) st[k][r - 1] = strides[k][i];
                    continue;
                }
            }
            s[r] = shape[i];
            for (int k = 0; k < ops; k++) st[k][r] = strides[k][i];
            r++;
        }
        return r;
    }
}
