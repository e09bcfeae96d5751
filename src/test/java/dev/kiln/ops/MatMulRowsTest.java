package dev.kiln.ops;

import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/**
 * matmul of a batched left operand with a plain matrix (all rows in one GEMM), and the
 * single-row GEMM with a transposed B (matrix-vector paths), against a double reference.
 */
class MatMulRowsTest {
    private static final Generator G = new Generator(3);

    @Test
    void batchedTimesMatrixMatchesReference() {
        int[][] shapes = {{2, 3, 5}, {1, 7, 5}, {2, 2, 4, 5}, {3, 1, 5}};
        for (int[] s : shapes) check(Tensor.randn(G, s), Tensor.randn(G, 5, 6));
    }

    @Test
    void stridedAndBroadcastLeftOperands() {
        Tensor base = Tensor.randn(G, 4, 3, 5);
        check(base.transpose(0, 1), Tensor.randn(G, 5, 6));          // [3,4,5], rows not mergeable: copied
        check(Tensor.randn(G, 1, 4, 5).transpose(0, 1), Tensor.randn(G, 5, 70)); // [4,1,5]: one strided row range
        check(Tensor.randn(G, 1, 5).expand(3, 5).unsqueeze(0).expand(2, 3, 5), Tensor.randn(G, 5, 6)); // stride-0 rows
        check(base, Tensor.randn(G, 6, 5).transpose(0, 1));           // transposed B
    }

    @Test
    void singleRowWithTransposedB() {
        for (int n : new int[]{1, 7, 40, 300}) {
            Tensor a = Tensor.randn(G, 1, 33), bt = Tensor.randn(G, n, 33);
            Tensor c = Tensor.zeros(1, n);
            MatMul.gemm(false, true, 1.0, a, bt, 0.0, c);
            double[] want = reference(a, bt.transpose(0, 1));
            double[] got = c.toDoubleArray();
            for (int j = 0; j < n; j++) assertEquals(want[j], got[j], 1e-4 * (1 + Math.abs(want[j])), "n=" + n + " j=" + j);
        }
    }

    private static void check(Tensor a, Tensor b) {
        Tensor c = MatMul.matmul(a, b);
        int[] want = a.shape().clone();
        want[want.length - 1] = b.size(1);
        assertArrayEquals(want, c.shape());
        double[] ref = reference(a.contiguous().view(-1, a.size(-1)), b), got = c.contiguous().toDoubleArray();
        for (int i = 0; i < ref.length; i++) assertEquals(ref[i], got[i], 1e-4 * (1 + Math.abs(ref[i])), "element " + i);
    }

    /** [r, k] x [k, n] in double, row-major result. */
    private static double[] reference(Tensor a, Tensor b) {
        int r = a.size(0), k = a.size(1), n = b.size(1);
        double[] out = new double[r * n];
        for (int i = 0; i < r; i++)
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int p = 0; p < k; p++) s += a.getDouble(i, p) * b.getDouble(p, j);
                out[i * n + j] = s;
            }
        return out;
    }
}
