package dev.kiln.ops;

import dev.kiln.backend.Backends;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Linear under {@link Autocast#bf16()}: forward, dx and dW are the products of the bf16-rounded
 * operands (computed here in double) up to f32 summation error, and the f32 bias and master
 * weights are untouched; outside the scope the same layer is plain f32 again.
 */
class LinearBf16Test {
    private static double bf(double v) { return DType.bf16ToFloat(DType.floatToBf16((float) v)); }

    /** c[i][j] = sum_p bf(a[i][p]) bf(b[p][j]) for row-major a [m, k] (aT: stored [k, m]) and b [k, n] (bT: stored [n, k]). */
    private static double[] product(int m, int n, int k, double[] a, boolean aT, double[] b, boolean bT) {
        double[] c = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int p = 0; p < k; p++) s += bf(aT ? a[p * m + i] : a[i * k + p]) * bf(bT ? b[j * k + p] : b[p * n + j]);
                c[i * n + j] = s;
            }
        return c;
    }

    private static double[] values(Tensor t) { return t.contiguous().toDoubleArray(); }

    private static void assertClose(double[] want, double[] got, String what) {
        double scale = 0;
        for (double v : want) scale = Math.max(scale, Math.abs(v));
        for (int i = 0; i < want.length; i++)
            if (!(Math.abs(want[i] - got[i]) <= 2e-5 * scale)) fail(what + "[" + i + "] " + got[i] + " vs " + want[i]);
    }

    @Test void productsUseBf16OperandsWithF32Sums() {
        Tensor probe = Tensor.zeros(DType.F32, 2, 2);
        assumeTrue(Backends.cpu().gemmBf16(false, false, probe, probe, Tensor.zeros(DType.F32, 2, 2)), "no bf16 GEMM kernel on this CPU");
        int rows = 37, in = 70, out = 45;
        Generator g = new Generator(5);
        Tensor x = Tensor.randn(g, DType.F32, rows, in).requiresGrad(true), w = Tensor.randn(g, DType.F32, out, in).requiresGrad(true);
        Tensor b = Tensor.randn(g, DType.F32, out).requiresGrad(true), gy = Tensor.randn(g, DType.F32, rows, out);
        Tensor y;
        try (var a = Autocast.bf16()) { y = Linear.linear(x, w, b); }
        y.backward(gy);                                          // after the scope: the node keeps its mode
        double[] xv = values(x), wv = values(w), bv = values(b), gv = values(gy);
        double[] want = product(rows, out, in, xv, false, wv, true);
        for (int i = 0; i < rows; i++) for (int j = 0; j < out; j++) want[i * out + j] += bv[j];
        assertClose(want, values(y), "y");
        assertClose(product(rows, in, out, gv, false, wv, false), values(x.grad()), "dx");
        assertClose(product(out, in, rows, gv, true, xv, false), values(w.grad()), "dW");
        double[] db = new double[out];
        for (int i = 0; i < rows; i++) for (int j = 0; j < out; j++) db[j] += gv[i * out + j];
        assertClose(db, values(b.grad()), "db (f32)");
        // and it is not the f32 product: the rounding is visible
        Tensor y32 = Linear.linear(x.detach(), w.detach(), b.detach());
        assertFalse(java.util.Arrays.equals(values(y32), values(y)), "the bf16 scope changed nothing");
        assertFalse(Autocast.isBf16(), "the scope is closed");
    }
}
