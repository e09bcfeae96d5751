package dev.kiln.backend.cpu;

import dev.kiln.tensor.Tensor;

/**
 * The geometry of a reduction: x's dims split into kept dims (with x and out strides) and reduced
 * dims (x strides), size-1 dims dropped and neighbours merged where contiguous, so that e.g.
 * reducing the last two dims of a contiguous tensor becomes one reduced dim of stride 1. Output
 * element j (row-major over the kept dims) reduces the nRed elements at xOffset(j) + the
 * reduced-dim offsets.
 */
final class ReducePlan {
    final int[] keep, red;
    final long[] keepX, keepOut, redX;
    final long nOut, nRed;
    final long xBase, outBase;

    private ReducePlan(int[] keep, long[] keepX, long[] keepOut, int[] red, long[] redX, long xBase, long outBase) {
        this.keep = keep;
        this.keepX = keepX;
        this.keepOut = keepOut;
        this.red = red;
        this.redX = redX;
        this.xBase = xBase;
        this.outBase = outBase;
        this.nOut = prod(keep);
        this.nRed = prod(red);
    }

    private static long prod(int[] s) {
        long n = 1;
        for (int d : s) n *= d;
        return n;
    }

    /** Plan for reducing x over the sorted axes into out (x's shape with those axes set to 1). */
    static ReducePlan of(Tensor x, int[] axes, Tensor out) {
        int[] s = x.shape();
        long[] xs = x.strides(), os = out.strides();
        boolean[] reduced = new boolean[s.length];
        for (int a : axes) reduced[a] = true;
        int nk = 0, nr = 0;
        int[] keep = new int[s.length], red = new int[s.length];
        long[] keepX = new long[s.length], keepOut = new long[s.length], redX = new long[s.length];
        boolean empty = false;
        for (int i = 0; i < s.length; i++) {
            if (s[i] == 0) empty = true;
            if (s[i] <= 1) continue;
            if (reduced[i]) {
                if (nr > 0 && redX[nr - 1] == xs[i] * s[i]) {
                    red[nr - 1] *= s[i];
                    redX[nr - 1] = xs[i];
                } else {
                    red[nr] = s[i];
                    redX[nr++] = xs[i];
                }
            } else {
                if (nk > 0 && keepX[nk - 1] == xs[i] * s[i] && keepOut[nk - 1] == os[i] * s[i]) {
                    keep[nk - 1] *= s[i];
                    keepX[nk - 1] = xs[i];
                    keepOut[nk - 1] = os[i];
                } else {
                    keep[nk] = s[i];
                    keepX[nk] = xs[i];
                    keepOut[nk++] = os[i];
                }
            }
        }
        if (empty) { // a zero dim: keep it visible in nOut / nRed
            for (int i = 0; i < s.length; i++) {
                if (s[i] != 0) continue;
                if (reduced[i]) { red[nr] = 0; redX[nr++] = 0; } else { keep[nk] = 0; keepX[nk] = 0; keepOut[nk++] = 0; }
            }
        }
        return new ReducePlan(java.util.Arrays.copyOf(keep, nk), java.util.Arrays.copyOf(keepX, nk),
                java.util.Arrays.copyOf(keepOut, nk), java.util.Arrays.copyOf(red, nr), java.util.Arrays.copyOf(redX, nr),
                x.offset(), out.offset());
    }

    /** True when each output reduces one contiguous run (a single reduced dim of stride 1, or none). */
    boolean innerContiguous() {
        return red.length == 0 || (red.length == 1 && redX[0] == 1);
    }

    /** True when the innermost reduced dim is contiguous and long enough to reduce run by run. */
    boolean contiguousRuns() {
        int r = red.length;
        return r > 1 && redX[r - 1] == 1 && red[r - 1] >= 32;
    }

    /** True when the innermost kept dim is contiguous in x and out (accumulate whole rows). */
    boolean outerLayout() {
        int k = keep.length;
        return k > 0 && red.length > 0 && keepX[k - 1] == 1 && keepOut[k - 1] == 1;
    }

    /** x element offset of output element j's first reduced element. */
    long xOffset(long j) {
        long off = xBase;
        for (int d = keep.length - 1; d >= 0; d--) {
            off += (j % keep[d]) * keepX[d];
            j /= keep[d];
        }
        return off;
    }

    /** out element offset of output element j. */
    long outOffset(long j) {
        long off = outBase;
        for (int d = keep.length - 1; d >= 0; d--) {
            off += (j % keep[d]) * keepOut[d];
            j /= keep[d];
        }
        return off;
    }

    /** Offset (relative to an output's first element) of reduced element r, row-major over red. */
    long redOffset(long r) {
        long off = 0;
        for (int d = red.length - 1; d >= 0; d--) {
            off += (r % red[d]) * redX[d];
            r /= red[d];
        }
        return off;
    }
}
