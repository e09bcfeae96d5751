package dev.kiln.ops;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * MatMul front end vs a float64 reference written with NumPy's rules spelled out: 1-d promotion
 * and removal, batch broadcasting (mergeable and non-mergeable batch strides), dtype rules,
 * the in-place gemm (transposes, broadcast batch, non-contiguous c) and error messages.
 */
class MatMulTest {
    private final Generator g = new Generator(7);

    private Tensor rand(DType dt, int... shape) {
        return Tensor.uniform(g, -2, 2, dt, shape);
    }

    /**
     * Reference for matmul of a (batch..., m, k) with b (batch..., k, n), both already rank >= 2:
     * out[batch..., i, j] = sum_p a[bcast(batch), i, p] * b[bcast(batch), p, j].
     */
    private static double[] reference(Tensor a, Tensor b, int[] outBatch) {
        int ra = a.dim(), rb = b.dim();
        int m = a.size(ra - 2), k = a.size(ra - 1), n = b.size(rb - 1);
        double[] fa = a.toDoubleArray(), fb = b.toDoubleArray();
        int[] as = a.shape(), bs = b.shape();
        int nb = 1;
        for (int d : outBatch) nb *= d;
        double[] out = new double[nb * m * n];
        int[] idx = new int[outBatch.length];
        for (int bt = 0; bt < nb; bt++) {
            for (int rem = bt, d = outBatch.length - 1; d >= 0; d--) {
                idx[d] = rem % outBatch[d];
                rem /= outBatch[d];
            }
            long offA = batchOffset(as, idx) * m * k, offB = batchOffset(bs, idx) * k * n;
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++) {
                    double s = 0;
                    for (int p = 0; p < k; p++) s += fa[(int) (offA + i * k + p)] * fb[(int) (offB + p * n + j)];
                    out[(bt * m + i) * n + j] = s;
                }
        }
        return out;
    }

    /** Flat batch index into an operand's own (right-aligned, size-1 broadcast) batch dims. */
    private static long batchOffset(int[] shape, int[] outIdx) {
        int own = shape.length - 2, lead = outIdx.length - own;
        long flat = 0;
        for (int d = 0; d < own; d++) flat = flat * shape[d] + (shape[d] == 1 ? 0 : outIdx[lead + d]);
        return flat;
    }

    private static void assertClose(double[] want, Tensor got, double tol) {
        double[] v = got.toDoubleArray();
        assertEquals(want.length, v.length, "element count");
        for (int i = 0; i < v.length; i++)
            if (!(Math.abs(v[i] - want[i]) <= tol * (1 + Math.abs(want[i]))))
                fail("element " + i + ": got " + v[i] + " want " + want[i]);
    }

    @Test
    void twoByTwoOddShapes() {
        Tensor a = rand(DType.F32, 45, 33), b = rand(DType.F32, 33, 65);
        Tensor c = a.matmul(b);
        assertArrayEquals(new int[]{45, 65}, c.shape());
        assertEquals(DType.F32, c.dtype());
        assertClose(reference(a, b, new int[0]), c, 1e-4);
        Tensor at = rand(DType.F32, 33, 45).t();                        // a transposed view
        assertClose(reference(at, b, new int[0]), at.matmul(b), 1e-4);
        Tensor big = rand(DType.F32, 1025, 7), col = rand(DType.F32, 7, 1);
        assertClose(reference(big, col, new int[0]), big.matmul(col), 1e-4);
    }

    @Test
    void oneDimensionalPromotion() {
        Tensor v = rand(DType.F32, 33), w = rand(DType.F32, 33);
        Tensor dot = v.matmul(w);
        assertEquals(0, dot.dim());
        double s = 0;
        float[] fv = v.toFloatArray(), fw = w.toFloatArray();
        for (int i = 0; i < 33; i++) s += (double) fv[i] * fw[i];
        assertEquals(s, dot.item(), 1e-4);

        Tensor m = rand(DType.F32, 33, 7);
        Tensor vm = v.matmul(m);                                          // [33] x [33,7] -> [7]
        assertArrayEquals(new int[]{7}, vm.shape());
        assertClose(reference(v.view(1, 33), m, new int[0]), vm, 1e-4);
        Tensor mt = rand(DType.F32, 7, 33);
        Tensor mv = mt.matmul(v);                                         // [7,33] x [33] -> [7]
        assertArrayEquals(new int[]{7}, mv.shape());
        assertClose(reference(mt, v.view(33, 1), new int[0]), mv, 1e-4);

        Tensor batch = rand(DType.F32, 3, 33, 5);
        Tensor vb = v.matmul(batch);                                      // [33] x [3,33,5] -> [3,5]
        assertArrayEquals(new int[]{3, 5}, vb.shape());
        assertClose(reference(v.view(1, 1, 33), batch, new int[]{3}), vb, 1e-4);
        Tensor bv = rand(DType.F32, 3, 5, 33).matmul(w);                 // [3,5,33] x [33] -> [3,5]
        assertArrayEquals(new int[]{3, 5}, bv.shape());
        Tensor sliced = rand(DType.F32, 66).slice(0, 0, 66, 2);          // strided 1-d operand
        assertEquals(reference(sliced.view(1, 33), w.view(33, 1), new int[0])[0], sliced.matmul(w).item(), 1e-4);
    }

    @Test
    void batchBroadcasting() {
        Tensor a = rand(DType.F32, 2, 1, 4, 5), b = rand(DType.F32, 3, 5, 6);
        Tensor c = a.matmul(b);
        assertArrayEquals(new int[]{2, 3, 4, 6}, c.shape());
        assertClose(reference(a, b, new int[]{2, 3}), c, 1e-4);
        Tensor m2 = rand(DType.F32, 5, 6);                               // rank 2 broadcast against a batch
        assertClose(reference(a, m2, new int[]{2, 1}), a.matmul(m2), 1e-4);
    }

    @Test
    void nonMergeableBatchStrides() {
        Tensor a = rand(DType.F32, 3, 2, 4, 5).permute(1, 0, 2, 3);    // [2,3,4,5], batch strides (20, 40)
        Tensor b = rand(DType.F32, 2, 3, 5, 6);
        Tensor c = a.matmul(b);
        assertArrayEquals(new int[]{2, 3, 4, 6}, c.shape());
        assertClose(reference(a.contiguous(), b, new int[]{2, 3}), c, 1e-4);
        // attention's heads: q [B, H, L, D] and k^T [B, H, D, L] permuted out of [B, L, H, D]
        Tensor q = rand(DType.F32, 2, 7, 3, 5).permute(0, 2, 1, 3), kt = rand(DType.F32, 2, 9, 3, 5).permute(0, 2, 3, 1);
        assertClose(reference(q.contiguous(), kt.contiguous(), new int[]{2, 3}), q.matmul(kt), 1e-4);
        // three batch dims, one broadcast, F64
        Tensor a3 = Tensor.uniform(g, -2, 2, DType.F64, 4, 2, 3, 6, 5).permute(1, 2, 0, 3, 4);   // [2,3,4,6,5]
        Tensor b3 = Tensor.uniform(g, -2, 2, DType.F64, 3, 1, 5, 2);                              // [3,1,5,2]
        Tensor c3 = a3.matmul(b3);
        assertArrayEquals(new int[]{2, 3, 4, 6, 2}, c3.shape());
        assertClose(reference(a3.contiguous(), b3, new int[]{2, 3, 4}), c3, 1e-12);
    }

    @Test
    void dtypeRules() {
        Tensor f = rand(DType.F32, 4, 5), d = rand(DType.F64, 5, 3);
        Tensor fd = f.matmul(d);
        assertEquals(DType.F64, fd.dtype());
        assertClose(reference(f, d, new int[0]), fd, 1e-6);
        Tensor ints = Tensor.fromArray(new int[]{1, 2, 3, 4, 5, 6}, 2, 3);
        Tensor ip = ints.matmul(Tensor.fromArray(new int[]{1, 0, 0, 1, 1, 1}, 3, 2));
        assertEquals(DType.F32, ip.dtype());
        assertArrayEquals(new float[]{4, 5, 10, 11}, ip.toFloatArray());
        Tensor h = f.to(DType.BF16), hb = rand(DType.F32, 5, 3).to(DType.BF16);
        Tensor hh = h.matmul(hb);
        assertEquals(DType.BF16, hh.dtype());
        assertClose(reference(h, hb, new int[0]), hh, 1e-2);
        Tensor dd = rand(DType.F64, 2, 45, 33).matmul(rand(DType.F64, 33, 65));
        assertEquals(DType.F64, dd.dtype());
    }

    @Test
    void errorsNameBothShapes() {
        var e = assertThrows(IllegalArgumentException.class, () -> Tensor.zeros(2, 3).matmul(Tensor.zeros(4, 5)));
        assertTrue(e.getMessage().startsWith("matmul: shapes [2, 3] and [4, 5]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Tensor.zeros(2, 3, 4).matmul(Tensor.zeros(3, 4, 5)));
        assertTrue(e.getMessage().startsWith("matmul: shapes [2, 3, 4] and [3, 4, 5]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Tensor.scalar(2).matmul(Tensor.zeros(3)));
        assertTrue(e.getMessage().startsWith("matmul: shapes [] and [3]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Tensor.zeros(3).matmul(Tensor.zeros(4)));
        assertTrue(e.getMessage().startsWith("matmul: shapes [3] and [4]"), e.getMessage());
    }

    // ------------------------------------------------------------------ in-place gemm

    @Test
    void inPlaceGemmWithTransposesAndBeta() {
        Tensor a = rand(DType.F32, 33, 45), b = rand(DType.F32, 65, 33), c = rand(DType.F32, 45, 65);
        double[] c0 = c.toDoubleArray();
        MatMul.gemm(true, true, 2.0, a, b, 0.5, c);
        double[] ref = reference(a.t().contiguous(), b.t().contiguous(), new int[0]);
        for (int i = 0; i < ref.length; i++) ref[i] = 2.0 * ref[i] + 0.5 * c0[i];
        assertClose(ref, c, 1e-4);
    }

    @Test
    void inPlaceGemmBroadcastBatchCastAndStridedC() {
        Tensor a = rand(DType.F64, 4, 5), b = rand(DType.F32, 3, 5, 6);   // a cast to c's dtype, batch broadcast
        Tensor c = Tensor.full(Double.NaN, DType.F32, 3, 4, 6);
        MatMul.gemm(false, false, 1.0, a, b, 0.0, c);
        assertClose(reference(a, b, new int[]{3}), c, 1e-4);

        Tensor storage = Tensor.zeros(6, 4);
        Tensor ct = storage.t();                                           // [4,6] with strides (1, 4)
        Tensor a2 = rand(DType.F32, 4, 5), b2 = rand(DType.F32, 5, 6);
        MatMul.gemm(false, false, 1.0, a2, b2, 1.0, ct);
        assertClose(reference(a2, b2, new int[0]), ct, 1e-4);
    }

    @Test
    void inPlaceGemmErrors() {
        var e = assertThrows(IllegalArgumentException.class,
                () -> MatMul.gemm(false, false, 1, Tensor.zeros(2, 3), Tensor.zeros(4, 5), 0, Tensor.zeros(2, 5)));
        assertTrue(e.getMessage().startsWith("gemm: shapes do not match") && e.getMessage().contains("a [2, 3]")
                && e.getMessage().contains("b [4, 5]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> MatMul.gemm(false, false, 1, Tensor.zeros(2, 3), Tensor.zeros(3, 5), 0, Tensor.zeros(DType.I32, 2, 5)));
        assertTrue(e.getMessage().contains("int32"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> MatMul.gemm(false, false, 1, Tensor.zeros(2, 2, 3), Tensor.zeros(3, 5), 0, Tensor.zeros(3, 2, 5)));
        assertTrue(e.getMessage().contains("batch 1 or 3"), e.getMessage());
    }
}
