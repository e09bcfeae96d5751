package dev.kiln.compress.sparse;

import dev.kiln.ops.Linear;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SparseLinearTest {
    /** A table where CSR wins above 60% at batch 64 and 30% at batch 1, BSR above 40%, 2:4 at 1.3x. */
    private static SparseCrossover table() {
        double[] s = {0.5, 0.9};
        return new SparseCrossover("test", List.of(
                new SparseCrossover.Curve("csr", 64, 1, s, new double[] {0.8, 3.0}),
                new SparseCrossover.Curve("csr", 1, 1, s, new double[] {1.4, 4.0}),
                new SparseCrossover.Curve("bsr4x4", 64, 1, s, new double[] {1.1, 5.0}),
                new SparseCrossover.Curve("2:4", 64, 1, new double[] {0.5}, new double[] {1.3})));
    }

    @Test
    void curvesInterpolateAndFindTheCrossover() {
        SparseCrossover.Curve c = table().curve("csr", 64, 1);
        assertEquals(0.5 + 0.4 * (0.2 / 2.2), c.crossover(), 1e-9);
        assertEquals(1.9, c.speedupAt(0.7), 1e-9);
        assertEquals(1.0, new SparseCrossover.Curve("x", 1, 1, new double[] {0.5}, new double[] {0.5}).crossover());
        SparseCrossover t = table();
        assertEquals(t.curve("csr", 1, 1), t.curve("csr", 3, 8), "batch <= 4 uses the batch-1 curve");
        assertEquals(t.curve("csr", 64, 1), t.curve("csr", 200, 1));
    }

    @Test
    void jsonRoundTripAndShippedCpuTable() {
        SparseCrossover t = table();
        SparseCrossover back = SparseCrossover.parse(t.toJson(), "test");
        assertEquals(t.curves().size(), back.curves().size());
        assertEquals(t.crossover("csr", 64, 1), back.crossover("csr", 64, 1), 1e-4);
        SparseCrossover cpu = SparseCrossover.cpu();
        assertEquals("cpu", cpu.device());
        for (String f : new String[] {"csr", "bsr4x4", "2:4"})
            for (int b : new int[] {1, 64}) assertTrue(cpu.curve(f, b, 1) != null, f + " batch " + b);
    }

    @Test
    void choosesByTableAndMatchesDenseLinear() {
        int out = 24, in = 40;
        float[] d = SparseTestData.random(5, out, in, 0.8);
        float[] bias = SparseTestData.random(6, 1, out, 0);
        try (Tensor w = Tensor.fromArray(d, out, in); Tensor b = Tensor.fromArray(bias, out);
             Tensor x64 = Tensor.fromArray(SparseTestData.random(7, 64, in, 0), 64, in);
             Tensor x1 = Tensor.fromArray(SparseTestData.random(8, 1, in, 0), 1, in);
             SparseLinear lin = SparseLinear.fromDense(w, b, table())) {
            assertEquals(SparseLinear.Kernel.CSR, lin.chosen(64));
            assertEquals(SparseLinear.Kernel.CSR, lin.chosen(1));
            for (Tensor x : new Tensor[] {x64, x1})
                try (Tensor ref = Linear.linear(x, w, b)) {
                    for (SparseLinear.Kernel k : SparseLinear.Kernel.values()) {
                        if (k == SparseLinear.Kernel.SPARSE_24) continue;
                        try (Tensor y = lin.forward(x, k)) { assertClose(ref, y, k + " batch " + x.shape()[0]); }
                    }
                    try (Tensor y = lin.forward(x)) { assertClose(ref, y, "chosen"); }
                }
        }
    }

    /** In inference (no grad) the first call of a batch size times the kernels that apply and keeps the fastest, with its reason. */
    @Test
    void firstInferenceCallMeasuresTheKernels() {
        int out = 32, in = 48;
        float[] d = SparseTestData.random(11, out, in, 0.9);
        try (Tensor w = Tensor.fromArray(d, out, in); Tensor x = Tensor.fromArray(SparseTestData.random(12, 5, in, 0), 5, in);
             SparseLinear lin = SparseLinear.fromDense(w, null, table());
             dev.kiln.autograd.GradMode.Guard g = dev.kiln.autograd.GradMode.noGrad()) {
            assertTrue(lin.reason(5).contains("crossover table estimate"), lin.reason(5));
            try (Tensor ref = Linear.linear(x, w, null); Tensor y = lin.forward(x)) { assertClose(ref, y, "measured"); }
            String why = lin.reason(5);
            assertTrue(why.startsWith(lin.chosen(5) + ": measured at batch 5") && why.contains("DENSE ") && why.contains("CSR "), why);
            assertTrue(lin.reason(6).contains("crossover table estimate"), "another batch size is measured on its own first call");
        }
    }

    @Test
    void denseWhenTooDenseAndTwoFourWhenStructured() {
        int out = 8, in = 16;
        float[] dense = SparseTestData.random(9, out, in, 0.0);
        float[] s24 = Sparse24Matrix.keepLargestTwoOfFour(dense.clone(), out, in);
        try (Tensor w = Tensor.fromArray(dense, out, in); Tensor w24 = Tensor.fromArray(s24, out, in);
             Tensor x = Tensor.fromArray(SparseTestData.random(10, 6, in, 0), 3, 2, in);
             SparseLinear lin = SparseLinear.fromDense(w, null, table()); SparseLinear lin24 = SparseLinear.fromDense(w24, null, table())) {
            assertEquals(SparseLinear.Kernel.DENSE, lin.chosen(64));
            assertTrue(lin24.isTwoFour());
            assertEquals(SparseLinear.Kernel.SPARSE_24, lin24.chosen(64));
            try (Tensor ref = Linear.linear(x, w24, null); Tensor y = lin24.forward(x, SparseLinear.Kernel.SPARSE_24)) {
                assertEquals(List.of(3, 2, out), List.of(y.shape()[0], y.shape()[1], y.shape()[2]));
                assertClose(ref, y, "2:4 rank 3");
            }
        }
    }

    @Test
    void fromMaskAppliesTheMask() {
        float[] d = SparseTestData.random(11, 4, 8, 0);
        float[] m = SparseTestData.random(12, 4, 8, 0.5);
        try (Tensor w = Tensor.fromArray(d, 4, 8); Tensor mask = Tensor.fromArray(m, 4, 8); SparseLinear lin = SparseLinear.fromMask(w, mask, null)) {
            float[] kept = lin.matrix(SparseLinear.Kernel.CSR).toDenseArray();
            for (int i = 0; i < d.length; i++) assertEquals(m[i] == 0 ? 0f : d[i], kept[i]);
        }
    }

    private static void assertClose(Tensor ref, Tensor got, String what) {
        float[] r = ref.toFloatArray(), g = got.toFloatArray();
        assertEquals(r.length, g.length, what);
        for (int i = 0; i < r.length; i++) assertEquals(r[i], g[i], 1e-5 * (1 + Math.abs(r[i])), what + " element " + i);
    }
}
