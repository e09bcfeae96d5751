package dev.kiln.onnx.export;

import dev.kiln.autograd.GradMode;
import dev.kiln.nn.Activation;
import dev.kiln.nn.BatchNorm;
import dev.kiln.nn.Conv2d;
import dev.kiln.nn.Dropout;
import dev.kiln.nn.Embedding;
import dev.kiln.nn.LayerNorm;
import dev.kiln.nn.Linear;
import dev.kiln.nn.Module;
import dev.kiln.nn.Pool2d;
import dev.kiln.nn.Sequential;
import dev.kiln.nn.TransformerEncoderLayer;
import dev.kiln.ops.Conv2dParams;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;
import dev.kiln.train.Models;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Exports Kiln models and runs them on ONNX Runtime: outputs must equal Kiln's eval forward
 * (|ort - kiln| <= 1e-5 (|kiln| + max|kiln|)) at batch 1 and 3, opsets 13 and 17.
 */
class OnnxExportTest {
    private static final double RTOL = 1e-5;

    @ParameterizedTest
    @ValueSource(ints = {13, 17})
    void mlpMatchesOrt(int opset) throws Exception {
        try (Module m = Models.mlp(new Generator(1))) {
            assertMatchesOrt(m, new int[]{1, 1, 28, 28}, opset);
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {13, 17})
    void cnnMatchesOrt(int opset) throws Exception {
        try (Module m = Models.cnn(new Generator(2))) {
            assertMatchesOrt(m, new int[]{1, 1, 28, 28}, opset);
        }
    }

    /** A fused model (BatchNorm folded into conv/linear, ReLU epilogues, a lone BatchNorm as ChannelAffine) exports too. */
    @ParameterizedTest
    @ValueSource(ints = {13, 17})
    void fusedModelsMatchOrt(int opset) throws Exception {
        Generator g = new Generator(4);
        try (Sequential cnnBn = Models.cnnBn(g)) {
            for (Module m : cnnBn.layers()) if (m instanceof BatchNorm bn) setStats(bn, g);
            try (Module fused = dev.kiln.compress.fuse.Fusion.fuse(cnnBn)) {
                assertMatchesOrt(fused, new int[]{1, 1, 28, 28}, opset);
            }
        }
        BatchNorm lone = BatchNorm.batchNorm2d(3);
        setStats(lone, g);
        try (Sequential s = new Sequential(Activation.relu(), lone, Activation.tanh());
             Module fused = dev.kiln.compress.fuse.Fusion.fuse(s)) {
            assertTrue(fused.toString().contains("ChannelAffine"), fused.toString());
            assertMatchesOrt(fused, new int[]{1, 3, 5, 4}, opset);
        }
    }

    /** Conv-BatchNorm(running stats)-pools-activations: every Sequential layer kind at once. */
    @ParameterizedTest
    @ValueSource(ints = {13, 15, 17})
    void convBatchNormPoolsAndActivationsMatchOrt(int opset) throws Exception {
        Generator g = new Generator(3);
        BatchNorm bn = BatchNorm.batchNorm2d(8);
        setStats(bn, g);
        BatchNorm bn1 = BatchNorm.batchNorm1d(32);
        setStats(bn1, g);
        try (Module m = new Sequential(new Conv2d(3, 8, 3, 3, new Conv2dParams(2, 1, 1, 0, 1, 1, 1), true, g), bn,
                Activation.gelu(), Pool2d.max(2, 1, 1), new Conv2d(8, 8, 3, 3, new Conv2dParams(1, 1, 1, 1, 2, 2, 2), false, g),
                Activation.silu(), Pool2d.avg(2, 2, 1), Activation.tanh(), Pool2d.adaptiveAvg(1, 1), Activation.flatten(),
                new Dropout(0.5, g), new Linear(8, 32, true, g), bn1, Activation.gelu("tanh"), new Linear(32, 5, false, g),
                Activation.sigmoid(), Activation.softmax(-1))) {
            assertMatchesOrt(m, new int[]{1, 3, 13, 11}, opset);
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {13, 17})
    void transformerPostNormMatchesOrt(int opset) throws Exception {
        try (Module m = new TransformerEncoderLayer(32, 4, 64, 0.1, "relu", 1e-5, true, false, new Generator(4))) {
            randomizeNorms(m, new Generator(5));
            assertMatchesOrt(m, new int[]{1, 7, 32}, opset);
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {13, 17})
    void transformerPreNormGeluSequenceFirstMatchesOrt(int opset) throws Exception {
        try (Module m = new TransformerEncoderLayer(16, 2, 24, 0.1, "gelu", 1e-6, false, true, new Generator(6))) {
            randomizeNorms(m, new Generator(7));
            assertMatchesOrt(m, new int[]{5, 1, 16}, opset); // [L, B, E]: batch on axis 1
        }
    }

    /** The tanh-GELU layer GptLm stacks (GPT-2's gelu_new), batch first. */
    @ParameterizedTest
    @ValueSource(ints = {13, 17})
    void transformerPreNormGeluTanhMatchesOrt(int opset) throws Exception {
        try (Module m = new TransformerEncoderLayer(16, 4, 64, 0.1, "gelu_tanh", 1e-5, true, true, new Generator(8))) {
            randomizeNorms(m, new Generator(9));
            assertMatchesOrt(m, new int[]{1, 6, 16}, opset);
        }
    }

    /** A bare attention layer inside nested Sequentials: initializer prefixes "1.0.", "1.1." ... */
    @ParameterizedTest
    @ValueSource(ints = {13, 17})
    void nestedSequentialWithAttentionMatchesOrt(int opset) throws Exception {
        Generator g = new Generator(10);
        try (Module m = new Sequential(new Linear(12, 24, true, g), new Sequential(
                new dev.kiln.nn.MultiheadAttention(24, 3, 0.0, true, g), new LayerNorm(24), Activation.gelu()))) {
            randomizeNorms(m, new Generator(11));
            assertMatchesOrt(m, new int[]{1, 5, 12}, opset);
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {13, 17})
    void layerNormWithoutAffineMatchesOrt(int opset) throws Exception {
        try (Module m = new Sequential(new LayerNorm(new int[]{4, 6}, 1e-5, false), Activation.logSoftmax(1))) {
            assertMatchesOrt(m, new int[]{1, 3, 4, 6}, opset);
        }
    }

    @Test
    void writesFileWithDynamicBatchAndRestoresTrainingMode(@TempDir Path dir) throws Exception {
        try (Module m = Models.mlp(new Generator(8))) {
            m.train();
            Path out = dir.resolve("mlp.onnx");
            OnnxExport.export(m, new int[]{4, 1, 28, 28}, out);
            assertTrue(m.isTraining());
            byte[] bytes = Files.readAllBytes(out);
            assertEquals(8, bytes[1], "ir_version is field 1 = 8");
            assertTrue(new String(bytes, java.nio.charset.StandardCharsets.ISO_8859_1).contains(OnnxExport.BATCH));
            float[] x = new float[5 * 784];
            assertArrayEquals(new long[]{5, 10}, OrtReference.run(bytes, x, new long[]{5, 1, 28, 28}).shape());
        }
    }

    @Test
    void rejectsBadOpsetAndUnsupportedModules() {
        try (Module m = Models.mlp(new Generator(9)); Module e = new Sequential(new Linear(4, 4), new Embedding(10, 4))) {
            var bad = assertThrows(IllegalArgumentException.class, () -> OnnxExport.toBytes(m, new int[]{1, 784}, 12));
            assertTrue(bad.getMessage().contains("opset 12"), bad.getMessage());
            var un = assertThrows(IllegalArgumentException.class, () -> OnnxExport.toBytes(e, new int[]{1, 4}, 17));
            assertTrue(un.getMessage().contains("Embedding") && un.getMessage().contains("'1'"), un.getMessage());
        }
    }

    // ---- helpers ----

    private static void assertMatchesOrt(Module m, int[] shape, int opset) throws Exception {
        int batchAxis = shape[0] == 1 ? 0 : 1;
        byte[] model = OnnxExport.toBytes(m, shape, opset);
        m.eval();
        for (int batch : new int[]{1, 3}) {
            int[] s = shape.clone();
            s[batchAxis] = batch;
            try (Scope scope = Scope.open(); GradMode.Guard ng = GradMode.noGrad()) {
                Tensor x = Tensor.randn(new Generator(100 + batch), s);
                Tensor y = m.forward(x);
                OrtReference.Result r = OrtReference.run(model, x.toFloatArray(), Arrays.stream(s).asLongStream().toArray());
                assertArrayEquals(Arrays.stream(y.shape()).asLongStream().toArray(), r.shape(), "output shape, batch " + batch);
                assertClose(y.contiguous().toFloatArray(), r.data(), "opset " + opset + ", batch " + batch);
            }
        }
    }

    private static void assertClose(float[] kiln, float[] ort, String what) {
        double scale = 0;
        for (float v : kiln) scale = Math.max(scale, Math.abs(v));
        double worst = 0;
        int at = -1;
        for (int k = 0; k < kiln.length; k++) {
            double err = Math.abs(kiln[k] - ort[k]) / (Math.abs(kiln[k]) + scale + 1e-30);
            if (err > worst) { worst = err; at = k; }
        }
        assertTrue(worst <= RTOL, what + ": relative error " + worst + " at " + at
                + (at >= 0 ? " (kiln " + kiln[at] + ", ort " + ort[at] + ")" : ""));
    }

    private static void setStats(BatchNorm bn, Generator g) {
        int c = bn.runningMean().shape()[0];
        try (GradMode.Guard ng = GradMode.noGrad(); Scope s = Scope.open()) {
            bn.runningMean().copyFrom(Tensor.randn(g, c).mul(0.5));
            bn.runningVar().copyFrom(Tensor.rand(g, c).add(0.5));
            bn.weight().copyFrom(Tensor.randn(g, c).mul(0.3).add(1));
            bn.bias().copyFrom(Tensor.randn(g, c).mul(0.2));
        }
    }

    /** LayerNorm weights start at 1 / 0: make them non-trivial so a swapped scale or bias shows. */
    private static void randomizeNorms(Module m, Generator g) {
        try (GradMode.Guard ng = GradMode.noGrad(); Scope s = Scope.open()) {
            for (var e : m.namedParameters().entrySet())
                if (e.getKey().startsWith("norm") || e.getKey().contains("1.1.") || e.getKey().endsWith("in_proj_bias") || e.getKey().endsWith("out_proj.bias"))
                    e.getValue().copyFrom(Tensor.randn(g, e.getValue().shape()).mul(0.2).add(e.getKey().endsWith("weight") ? 1 : 0));
        }
    }
}
