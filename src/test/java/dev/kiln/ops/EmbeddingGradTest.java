package dev.kiln.ops;

import dev.kiln.backend.cpu.CpuConfig;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The embedding gradient (index_select along axis 0; the CPU adds whole rows, columns split over
 * the threads) against a float64 sum per table row: repeated ids, widths that are not a multiple
 * of the vector length, 1 and 2 threads, the scalar twin; and against the element-wise
 * scatter-add of the float32 table, which it must equal bit for bit.
 */
class EmbeddingGradTest {
    @Test
    void rowsAddMatchesTheReferenceAndTheElementLoop() {
        Generator g = new Generator(4);
        for (int[] s : new int[][]{{10, 37, 50}, {3, 3, 7}, {100, 130, 400}, {5, 1, 9}}) {
            int vocab = s[0], width = s[1], n = s[2];
            long[] ids = new long[n];
            for (int i = 0; i < n; i++) ids[i] = (i * 7L + i / 3) % vocab;
            Tensor table = Tensor.uniform(g, -1, 1, DType.F32, vocab, width), gy = Tensor.uniform(g, -1, 1, DType.F32, n, width);
            double[] want = new double[vocab * width];
            float[] seq = new float[vocab * width];                        // the element loop's float sums, in index order
            double[] gv = gy.toDoubleArray();
            for (int i = 0; i < n; i++)
                for (int c = 0; c < width; c++) {
                    want[(int) ids[i] * width + c] += gv[i * width + c];
                    seq[(int) ids[i] * width + c] += (float) gv[i * width + c];
                }
            for (int threads : new int[]{1, 2})
                for (boolean scalar : new boolean[]{false, true}) {
                    CpuConfig.setThreads(threads);
                    CpuConfig.setScalar(scalar);
                    try {
                        Tensor w = table.detach().requiresGrad(true);
                        Indexing.indexSelect(w, 0, Tensor.fromArray(ids, n)).backward(gy);
                        double[] got = w.grad().toDoubleArray();
                        for (int i = 0; i < got.length; i++) {
                            assertEquals(want[i], got[i], 1e-5 * (1 + Math.abs(want[i])), "vocab=" + vocab + " width=" + width + " at " + i);
                            assertEquals(seq[i], (float) got[i], 0f, "bitwise, vocab=" + vocab + " width=" + width + " at " + i);
                        }
                    } finally {
                        CpuConfig.setScalar(false);
                        CpuConfig.setThreads(Runtime.getRuntime().availableProcessors());
                    }
                }
        }
    }
}
