package dev.kiln.compress.quant;

import dev.kiln.autograd.GradMode;
import dev.kiln.compress.fuse.Epilogue;
import dev.kiln.nn.Activation;
import dev.kiln.nn.BatchNorm;
import dev.kiln.nn.Conv2d;
import dev.kiln.nn.Linear;
import dev.kiln.nn.Module;
import dev.kiln.nn.Pool2d;
import dev.kiln.nn.Sequential;
import dev.kiln.ops.Conv2dParams;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** Quantized layers and the PTQ / dynamic / QAT flows against the float models. */
class QuantizedModelsTest {

    private static Tensor run(Module m, Tensor x) {
        try (GradMode.Guard g = GradMode.noGrad()) { return m.forward(x); }
    }

    private static List<Tensor> batches(Generator g, int n, int... shape) {
        List<Tensor> out = new ArrayList<>();
        for (int i = 0; i < n; i++) out.add(Tensor.randn(g, shape));
        return out;
    }

    @Test
    void quantizedLinearMatchesFloat() {
        Generator g = new Generator(7);
        Linear l = new Linear(32, 16, true, g);
        Tensor x = Tensor.randn(g, 8, 32);
        QuantizedLinear q = new QuantizedLinear(l.weight(), l.bias(), Epilogue.NONE, QParams.fromRange(-4, 4, false));
        double err = Quantize.relativeError(run(q, x), run(l, x));
        assertTrue(err < 0.03, "linear rel err " + err);
        QuantizedLinear d = new QuantizedLinear(l.weight(), l.bias(), Epilogue.RELU, null);
        Tensor yd = run(d, x.reshape(2, 4, 32));
        assertArrayEquals(new int[]{2, 4, 16}, yd.shape());
        assertTrue(Quantize.relativeError(yd.reshape(8, 16), run(l, x).relu()) < 0.03);
    }

    @Test
    void quantizedConvMatchesFloat() {
        Generator g = new Generator(8);
        Conv2d c = new Conv2d(3, 5, 3, 3, new Conv2dParams(2, 1, 1, 2, 1, 2, 1), true, g);
        Tensor x = Tensor.randn(g, 2, 3, 9, 10);
        Tensor ref = run(c, x);
        QuantizedConv2d q = new QuantizedConv2d(c.weight(), c.bias(), c.params, Epilogue.NONE, null);
        Tensor y = run(q, x);
        assertArrayEquals(ref.shape(), y.shape());
        double err = Quantize.relativeError(y, ref);
        assertTrue(err < 0.03, "conv rel err " + err);
    }

    private static Sequential mlp(Generator g) {
        return new Sequential(new Linear(20, 64, true, g), BatchNorm.batchNorm1d(64), Activation.relu(),
                new Linear(64, 32, true, g), Activation.relu(), new Linear(32, 10, true, g));
    }

    private static Sequential cnn(Generator g) {
        return new Sequential(new Conv2d(1, 8, 3, 3, Conv2dParams.of(1, 1), true, g), BatchNorm.batchNorm2d(8), Activation.relu(),
                Pool2d.max(2), Activation.flatten(), new Linear(8 * 4 * 4, 10, true, g));
    }

    private static void warmBatchNorm(Module m, List<Tensor> data) {
        m.train();
        for (Tensor b : data) run(m, b);
        m.eval();
    }

    @Test
    void staticAndDynamicMlp() {
        Generator g = new Generator(11);
        Sequential model = mlp(g);
        List<Tensor> calib = batches(g, 4, 32, 20);
        warmBatchNorm(model, calib);
        Tensor x = Tensor.randn(g, 64, 20);
        Tensor ref = run(model, x);
        for (Observer.Kind k : Observer.Kind.values()) {
            Sequential q = Quantize.staticPtq(model, calib, k);
            double err = Quantize.relativeError(run(q, x), ref);
            System.out.printf("MLP static %s: rel err %.4f%n", k, err);
            assertTrue(err < 0.12, k + " rel err " + err); // moving average: the first batch dominates
        }
        double errD = Quantize.relativeError(run(Quantize.dynamic(model), x), ref);
        System.out.printf("MLP dynamic: rel err %.4f%n", errD);
        assertTrue(errD < 0.05, "dynamic rel err " + errD);
        assertInstanceOf(QuantizedLinear.class, Quantize.dynamic(model).get(0));
    }

    @Test
    void staticCnnWithBatchNormFolded() {
        Generator g = new Generator(12);
        Sequential model = cnn(g);
        List<Tensor> calib = batches(g, 3, 8, 1, 8, 8);
        warmBatchNorm(model, calib);
        Tensor x = Tensor.randn(g, 16, 1, 8, 8);
        Sequential q = Quantize.staticPtq(model, calib, Observer.Kind.MINMAX);
        assertInstanceOf(QuantizedConv2d.class, q.get(0));
        double err = Quantize.relativeError(run(q, x), run(model, x));
        System.out.printf("CNN static minmax: rel err %.4f%n", err);
        assertTrue(err < 0.08, "cnn rel err " + err);
    }

    /**
     * Quantized convs hand int8 codes to the next quantized layer through max pools and Flatten
     * ({@link Quantize#chainCodes}), and a 2 x 2 pool right after a conv is applied by the conv
     * before it quantizes: the logits are bit for bit those of the same model passing floats, on the
     * VNNI kernels (where the CPU has them) and without them. Inputs of 13 x 11 (odd rows and
     * columns, rows of one vector: the kernel pools four rows at a time), 28 x 28 (Fashion-MNIST:
     * rows of two vectors, then one) and 29 x 19 (a second vector mostly past the row), a second
     * pool of 3 x 3 stride 2 with padding (pooled as codes), and one of 2 x 2 (taken in).
     */
    @Test
    void codesBetweenLayersChangeNoBit() {
        boolean vnni = Int8VnniKernel.enabled();
        int[][] inputs = {{13, 11, 3}, {28, 28, 2}, {29, 19, 2}, {13, 11, 2}};
        for (boolean useVnni : vnni ? new boolean[]{true, false} : new boolean[]{false})
            for (int[] in : inputs) {
                boolean old = vnni ? Int8VnniKernel.setEnabled(useVnni) : false;
                try {
                    checkCodes(useVnni, in[0], in[1], in[2]);
                } finally {
                    if (vnni) Int8VnniKernel.setEnabled(old);
                }
            }
    }

    /** The model of {@link #codesBetweenLayersChangeNoBit} on h x w images; pool: the second pool's kernel (3: 3 x 3 stride 2 pad 1; 2: 2 x 2). */
    private static void checkCodes(boolean useVnni, int h, int w, int pool) {
        String what = h + "x" + w + ", second pool " + pool + ", VNNI " + useVnni;
        Generator g = new Generator(21 + h);
        Pool2d second = pool == 3 ? Pool2d.max(3, 2, 1) : Pool2d.max(2);
        int h2 = pool == 3 ? (h / 2 - 1) / 2 + 1 : h / 4, w2 = pool == 3 ? (w / 2 - 1) / 2 + 1 : w / 4;
        Sequential model = new Sequential(new Conv2d(1, 8, 3, 3, Conv2dParams.of(1, 1), true, g), Activation.relu(), Pool2d.max(2),
                new Conv2d(8, 12, 3, 3, Conv2dParams.of(1, 1), true, g), Activation.relu(), second,
                Activation.flatten(), new Linear(12 * h2 * w2, 16, true, g), Activation.relu(), new Linear(16, 10, true, g));
        Sequential q = Quantize.staticPtq(model, batches(g, 3, 8, 1, h, w), Observer.Kind.MINMAX);
        QuantizedConv2d c1 = (QuantizedConv2d) q.get(0), c2 = (QuantizedConv2d) q.get(2);
        // conv 2 takes codes as they are only on the VNNI conv; the Linear always does
        assertEquals(useVnni, c1.codesOut() != null, what + ": conv 1 hands codes on");
        assertEquals(useVnni, q.get(1) instanceof AbsorbedPool, what + ": conv 1 takes in its pool");
        assertNotNull(c2.codesOut(), what + ": conv 2 hands codes to the Linear");
        assertEquals(pool == 2, c2.poolsItself(), what);
        Tensor x = Tensor.randn(g, 5, 1, h, w);
        try (Tensor out1 = run(c1, x); Tensor out2 = run(c2, run(q.get(1), out1))) {
            assertEquals(useVnni ? dev.kiln.tensor.DType.I8 : dev.kiln.tensor.DType.F32, out1.dtype(), what);
            assertArrayEquals(useVnni ? new int[]{5, 8, h / 2, w / 2} : new int[]{5, 8, h, w}, out1.shape(), what);
            assertEquals(dev.kiln.tensor.DType.I8, out2.dtype(), what);
        }
        float[] chained = run(q, x).toFloatArray();
        c1.emitCodes(null);
        c2.emitCodes(null);
        float[] floats = run(q, x).toFloatArray();
        assertArrayEquals(floats, chained, what);
        assertEquals(useVnni ? 2 : 1, Quantize.chainCodes(q), what);
        assertArrayEquals(floats, run(q, x).toFloatArray(), what + ", planned again");
        assertTrue(dev.kiln.compress.Architecture.describe(q).contains("pool max k=2x2"), what);
    }

    @Test
    void qatTrainsAndConvertMatchesFakeQuantEval() {
        Generator g = new Generator(13);
        Sequential model = cnn(g);
        List<Tensor> data = batches(g, 3, 8, 1, 8, 8);
        warmBatchNorm(model, data);
        Sequential qat = Quantize.prepareQat(model);
        Tensor target = Tensor.randn(g, 8, 10);
        double first = 0, last = 0;
        for (int step = 0; step < 6; step++) {
            for (Module m : qat.layers()) m.zeroGrad();
            Tensor loss = qat.forward(data.get(step % 3)).sub(target).square().mean();
            loss.backward();
            if (step == 0) first = loss.item();
            last = loss.item();
            try (GradMode.Guard ng = GradMode.noGrad()) {
                for (Tensor p : qat.parameters()) p.copyFrom(p.sub(p.grad().mul(0.05)));
            }
        }
        assertTrue(Double.isFinite(last) && last < first * 1.5, "qat loss " + first + " -> " + last);
        qat.eval();
        Tensor x = Tensor.randn(g, 8, 1, 8, 8);
        Tensor fake = run(qat, x);
        Tensor conv = run(Quantize.convertQat(qat), x);
        double err = Quantize.relativeError(conv, fake);
        System.out.printf("QAT convert vs fake-quant eval: rel err %.2e%n", err);
        assertTrue(err < 1e-4, "qat convert rel err " + err);
    }
}
