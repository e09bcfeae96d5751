package dev.kiln.backend.cpu;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The fused attention kernel against a float64 reference: odd T, S, D (7, 9, 5, and 130 for the
 * GEMM's tiles), K given transposed as a permuted view, a mask broadcast over heads and queries,
 * div and mul scales, heads broadcast from q (stride 0), vector and scalar paths.
 */
class CpuAttentionTest {
    private final Generator g = new Generator(9);

    @AfterEach
    void restore() { CpuConfig.setScalar(false); }

    private static void check(Tensor q, Tensor kt, Tensor v, float div, float mul, Tensor mask, double tol) {
        check(q, kt, v, div, mul, mask, tol, false);
        check(q, kt, v, div, mul, mask, tol, true);
    }

    /** headsInner: out is the [b, h, t, dv] view of a [b, t, h, dv] buffer (as the ONNX op writes it), else contiguous. */
    private static void check(Tensor q, Tensor kt, Tensor v, float div, float mul, Tensor mask, double tol, boolean headsInner) {
        int b = v.size(0), h = v.size(1), t = q.size(2), d = q.size(3), s = kt.size(3), dv = v.size(3);
        Tensor out = headsInner ? Tensor.zeros(b, t, h, dv).permute(0, 2, 1, 3) : Tensor.zeros(b, h, t, dv);
        CpuAttention.attention(q, kt, v, div, mul, mask, out);
        float[] got = out.contiguous().toFloatArray();
        for (int bi = 0; bi < b; bi++)
            for (int hi = 0; hi < h; hi++)
                for (int i = 0; i < t; i++) {
                    double[] p = new double[s];
                    double mx = Double.NEGATIVE_INFINITY, sum = 0;
                    for (int j = 0; j < s; j++) {
                        double acc = 0;
                        for (int c = 0; c < d; c++)
                            acc += q.getDouble(bi, q.size(1) == 1 ? 0 : hi, i, c) * kt.getDouble(bi, hi, c, j);
                        acc = acc / div * mul + (mask == null ? 0 : mask.getDouble(bi, 0, 0, j));
                        p[j] = acc;
                        mx = Math.max(mx, acc);
                    }
                    for (int j = 0; j < s; j++) sum += p[j] = Math.exp(p[j] - mx);
                    for (int c = 0; c < dv; c++) {
                        double o = 0;
                        for (int j = 0; j < s; j++) o += p[j] / sum * v.getDouble(bi, hi, j, c);
                        double want = o, have = got[((bi * h + hi) * t + i) * dv + c];
                        assertEquals(want, have, tol * (1 + Math.abs(want)), "b" + bi + " h" + hi + " t" + i + " c" + c);
                    }
                }
    }

    @Test
    void matchesReferenceOnOddShapes() {
        for (boolean scalar : new boolean[]{false, true}) {
            CpuConfig.setScalar(scalar);
            Tensor q = Tensor.randn(g, 2, 3, 7, 5), k = Tensor.randn(g, 2, 3, 9, 5), v = Tensor.randn(g, 2, 3, 9, 4);
            check(q, k.transpose(2, 3), v, 2.5f, 1f, Tensor.randn(g, 2, 1, 1, 9), 1e-5);
            Tensor q1 = Tensor.randn(g, 1, 1, 130, 16).expand(1, 2, 130, 16);          // heads broadcast (stride 0)
            Tensor k1 = Tensor.randn(g, 1, 2, 33, 16), v1 = Tensor.randn(g, 1, 2, 33, 17);
            check(q1, k1.transpose(2, 3), v1, 1f, 0.25f, null, 1e-5);
        }
    }

    @Test
    void badShapesAreNamed() {
        Tensor q = Tensor.randn(g, 1, 1, 4, 5), kt = Tensor.randn(g, 1, 1, 6, 3), v = Tensor.randn(g, 1, 1, 3, 2);
        var e = assertThrows(IllegalArgumentException.class, () -> CpuAttention.attention(q, kt, v, 1, 1, null, Tensor.zeros(1, 1, 4, 2)));
        assertTrue(e.getMessage().contains("[1, 1, 4, 5]") && e.getMessage().contains("[1, 1, 6, 3]"), e.getMessage());
        Tensor q2 = Tensor.randn(g, 1, 1, 4, 3), kt2 = Tensor.randn(g, 1, 1, 3, 6), v2 = Tensor.randn(g, 1, 1, 6, 2);
        Tensor out = Tensor.zeros(1, 1, 2, 4).transpose(2, 3);    // [1, 1, 4, 2], last stride 4
        e = assertThrows(IllegalArgumentException.class, () -> CpuAttention.attention(q2, kt2, v2, 1, 1, null, out));
        assertEquals("attention: out's last dim must have unit stride", e.getMessage());
    }
}
