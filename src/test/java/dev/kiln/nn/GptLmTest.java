package dev.kiln.nn;

import dev.kiln.autograd.GradMode;
import dev.kiln.generate.BpeTokenizer;
import dev.kiln.generate.Decoder;
import dev.kiln.generate.WeightFormat;
import dev.kiln.optim.Adam;
import dev.kiln.optim.LrSchedule;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;
import dev.kiln.train.GptTrainer;
import dev.kiln.train.TextCorpus;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** GptLm (a GPT-2 LM from Kiln's layers), its Hugging Face export, and the pieces it is built from. */
class GptLmTest {
    @TempDir Path dir;

    private static GptLm tiny(long seed) {
        return new GptLm(new GptLm.Config(257, 16, 32, 2, 4, 0.0), new Generator(seed));
    }

    private static Tensor ids(int... v) {
        long[] l = new long[v.length];
        for (int i = 0; i < v.length; i++) l[i] = v[i];
        return Tensor.fromArray(l, 1, v.length);
    }

    @Test
    void logitsAreCausal() {
        try (GptLm m = tiny(1); Scope s = Scope.open(); GradMode.Guard g = GradMode.noGrad()) {
            m.eval();
            float[] a = m.forward(ids(72, 101, 108, 108, 111, 32)).toFloatArray();
            float[] b = m.forward(ids(72, 101, 108, 200, 3, 250)).toFloatArray();
            int v = 257;
            for (int i = 0; i < 3 * v; i++) assertEquals(a[i], b[i], "position " + i / v + " sees a later token");
            boolean differs = false;
            for (int i = 3 * v; i < 6 * v; i++) differs |= a[i] != b[i];
            assertTrue(differs, "later positions must see their own tokens");
        }
    }

    /**
     * The Hugging Face export read back by the native GPT-2 decoder (itself checked against PyTorch
     * in GeneratorTest) gives the module's eval-mode logits at every position.
     */
    @Test
    void huggingFaceExportRunsInTheNativeDecoder() throws Exception {
        int[] seq = {84, 104, 101, 32, 99, 97, 116, 32, 115, 97, 116, 46};
        float[] want;
        try (GptLm m = tiny(2)) {
            // a few training steps first, so the exported weights are not just the initial ones
            Files.writeString(dir.resolve("t.txt"), "the cat sat on the mat. ".repeat(40), StandardCharsets.UTF_8);
            TextCorpus c = TextCorpus.load(dir.resolve("t.txt"), 0.25, 17);
            try (GptTrainer tr = new GptTrainer(m, c, new GptTrainer.Options(3, 4, 1e-3, 0.01, 1, 1.0, 2, 5))) {
                for (int i = 0; i < 3; i++) tr.trainStep();
                m.eval();
                try (Scope s = Scope.open(); GradMode.Guard g = GradMode.noGrad()) {
                    want = m.forward(ids(seq)).toFloatArray();
                }
                tr.saveHuggingFace(dir.resolve("hf"));
            }
        }
        try (Decoder d = Decoder.huggingFace(dir.resolve("hf"), WeightFormat.F32); Decoder.Session s = d.newSession()) {
            assertEquals(16, d.contextLength());
            for (int t = 0; t < seq.length; t++) {
                float[] got = s.step(new int[]{seq[t]});
                float[] exp = java.util.Arrays.copyOfRange(want, t * 257, (t + 1) * 257);
                for (int j = 0; j < 257; j++) assertEquals(exp[j], got[j], 2e-4, "position " + t + " token " + j);
            }
        }
        BpeTokenizer tok = BpeTokenizer.fromPath(dir.resolve("hf"));
        assertArrayEquals(new int[]{104, 105, 0xc3, 0xa9}, tok.encode("hi\u00e9"));
        assertEquals("hi\u00e9", tok.decode(new int[]{104, 105, 0xc3, 0xa9}));
    }

    @Test
    void trainingLowersTheHeldOutLoss() throws Exception {
        Files.writeString(dir.resolve("t.txt"), "abcabcabd abcabcabd ".repeat(60), StandardCharsets.UTF_8);
        TextCorpus c = TextCorpus.load(dir.resolve("t.txt"), 0.2, 17);
        try (GptLm m = new GptLm(new GptLm.Config(257, 16, 32, 1, 2, 0.0), new Generator(3));
             GptTrainer tr = new GptTrainer(m, c, new GptTrainer.Options(60, 8, 3e-3, 0.0, 5, 1.0, 8, 7))) {
            double before = tr.evalLoss();
            double first = tr.trainStep(), last = first;
            for (int i = 1; i < 60; i++) last = tr.trainStep();
            double after = tr.evalLoss();
            assertTrue(before > 5.0 && before < 6.0, "untrained loss near ln 257 = 5.55, got " + before);
            assertTrue(last < first / 3, "training loss " + first + " -> " + last);
            assertTrue(after < before / 3, "held-out loss " + before + " -> " + after);
        }
    }

    @Test
    void sameSeedSameRun() throws Exception {
        Files.writeString(dir.resolve("t.txt"), "to be or not to be, that is the question. ".repeat(20), StandardCharsets.UTF_8);
        TextCorpus c = TextCorpus.load(dir.resolve("t.txt"), 0.2, 17);
        double[][] runs = new double[2][];
        for (int r = 0; r < 2; r++)
            try (GptLm m = new GptLm(new GptLm.Config(257, 16, 32, 1, 2, 0.1), new Generator(4));
                 GptTrainer tr = new GptTrainer(m, c, new GptTrainer.Options(4, 4, 1e-3, 0.01, 1, 1.0, 2, 9))) {
                runs[r] = new double[]{tr.trainStep(), tr.trainStep(), tr.trainStep(), tr.evalLoss()};
            }
        assertArrayEquals(runs[0], runs[1]);
    }

    /**
     * Activation checkpointing changes memory, not results: with dropout on, the loss, every
     * parameter gradient and the generator's next draw equal the plain run's bit for bit, and the
     * storage high-water mark of the step is lower.
     */
    @Test
    void activationCheckpointingGivesTheSameGradientsInLessMemory() {
        long[] peak = new long[2];
        float[][][] grads = new float[2][][];
        double[] losses = new double[2], next = new double[2];
        for (int run = 0; run < 2; run++) {
            Generator g = new Generator(10);
            try (GptLm m = new GptLm(new GptLm.Config(257, 64, 64, 4, 4, 0.1), g)) {
                m.checkpointActivations(run == 1);
                long[] x = new long[4 * 64], y = new long[x.length];
                for (int i = 0; i < x.length; i++) {
                    x[i] = (i * 31 + 7) % 257;
                    y[i] = (i * 17 + 3) % 257;
                }
                dev.kiln.tensor.Storage.resetPeakBytes();
                long base = dev.kiln.tensor.Storage.peakBytes();
                try (Scope s = Scope.open()) {
                    Tensor loss = Loss.crossEntropy(m.forward(Tensor.fromArray(x, 4, 64)), Tensor.fromArray(y, 4, 64), -100, 0, Loss.Reduction.MEAN);
                    losses[run] = loss.item();
                    loss.backward();
                }
                peak[run] = dev.kiln.tensor.Storage.peakBytes() - base;
                List<Tensor> ps = m.parameters();
                grads[run] = new float[ps.size()][];
                for (int i = 0; i < ps.size(); i++) grads[run][i] = ps.get(i).grad().toFloatArray();
                next[run] = g.nextUniform();
            }
        }
        assertEquals(losses[0], losses[1]);
        for (int i = 0; i < grads[0].length; i++) assertArrayEquals(grads[0][i], grads[1][i], "gradient of parameter " + i);
        assertEquals(next[0], next[1], "the generator continues where the plain run leaves it");
        assertTrue(peak[1] < 0.7 * peak[0], "checkpointed step peak " + peak[1] + " bytes vs plain " + peak[0]);
    }

    /** Stopped after 3 of 6 steps and resumed from the checkpoint: the last 3 losses and the parameters are the uninterrupted run's, bit for bit. */
    @Test
    void resumedTrainingContinuesExactly() throws Exception {
        Files.writeString(dir.resolve("t.txt"), "a stitch in time saves nine; ".repeat(40), StandardCharsets.UTF_8);
        TextCorpus c = TextCorpus.load(dir.resolve("t.txt"), 0.2, 17);
        GptTrainer.Options o = new GptTrainer.Options(6, 4, 2e-3, 0.01, 2, 1.0, 4, 12);
        double[] whole = new double[6];
        float[] wholeParams;
        try (GptLm m = new GptLm(new GptLm.Config(257, 16, 32, 1, 2, 0.1), new Generator(20)); GptTrainer tr = new GptTrainer(m, c, o)) {
            for (int i = 0; i < 6; i++) whole[i] = tr.trainStep();
            wholeParams = m.parameters().get(3).toFloatArray();
        }
        Path ck = dir.resolve("gpt.ckpt");
        try (GptLm m = new GptLm(new GptLm.Config(257, 16, 32, 1, 2, 0.1), new Generator(20)); GptTrainer tr = new GptTrainer(m, c, o)) {
            for (int i = 0; i < 3; i++) assertEquals(whole[i], tr.trainStep());
            tr.saveCheckpoint(ck, java.util.Map.of("model", "gpt"));
        }
        try (GptLm m = new GptLm(new GptLm.Config(257, 16, 32, 1, 2, 0.1), new Generator(99)); GptTrainer tr = new GptTrainer(m, c, o)) {
            assertEquals("gpt", tr.resume(ck).get("model"));
            assertEquals(3, tr.stepCount());
            for (int i = 3; i < 6; i++) assertEquals(whole[i], tr.trainStep(), "step " + (i + 1));
            assertArrayEquals(wholeParams, m.parameters().get(3).toFloatArray());
        }
    }

    @Test
    void badConfigurationsAndInputsAreOneLineErrors() throws Exception {
        assertThrows(IllegalArgumentException.class, () -> new GptLm.Config(257, 16, 30, 2, 4, 0.0));   // 30 % 4
        try (GptLm m = tiny(5)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> m.forward(ids(new int[17])));
            assertTrue(e.getMessage().contains("context 16"), e.getMessage());
        }
        Files.writeString(dir.resolve("short.txt"), "tiny");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> TextCorpus.load(dir.resolve("short.txt"), 0.1, 17));
        assertTrue(e.getMessage().contains("short.txt") && e.getMessage().contains("too few"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> TextCorpus.load(dir.resolve("missing"), 0.1, 17));
    }

    @Test
    void corpusFromADirectorySkipsBinaryFiles() throws Exception {
        Files.createDirectories(dir.resolve("d/sub"));
        Files.writeString(dir.resolve("d/a"), "first file".repeat(10));
        Files.writeString(dir.resolve("d/sub/b"), "second file".repeat(10));
        Files.write(dir.resolve("d/a.dat"), new byte[]{1, 0, 2, 3});
        Files.createSymbolicLink(dir.resolve("d/a.u8"), Path.of("a"));         // fortune's .u8 links: not read twice
        TextCorpus c = TextCorpus.load(dir.resolve("d"), 0.1, 10);
        assertEquals(2, c.files());
        assertEquals(1, c.skipped());
        assertEquals(100 + 1 + 110 + 1, c.train().length + c.heldOut().length);
        assertTrue(new String(c.train(), StandardCharsets.UTF_8).startsWith("first file"));
    }

    @Test
    void crossEntropyOverSequencesWithIgnoreIndex() {
        Generator g = new Generator(6);
        try (Scope s = Scope.open()) {
            Tensor logits = Tensor.randn(g, DType.F32, 2, 3, 5).requiresGrad(true);
            Tensor target = Tensor.fromArray(new long[]{1, -100, 4, 0, 2, -100}, 2, 3);
            double[] lp = logits.logSoftmax(-1).toDoubleArray();
            long[] tv = target.toLongArray();
            double sum = 0;
            int n = 0;
            for (int i = 0; i < 6; i++)
                if (tv[i] != -100) {
                    sum -= lp[i * 5 + (int) tv[i]];
                    n++;
                }
            assertEquals(sum / n, Loss.crossEntropy(logits, target, -100, 0, Loss.Reduction.MEAN).item(), 1e-6);
            assertEquals(sum, Loss.crossEntropy(logits, target, -100, 0, Loss.Reduction.SUM).item(), 1e-5);
            Tensor none = Loss.crossEntropy(logits, target, -100, 0, Loss.Reduction.NONE);
            assertArrayEquals(new int[]{2, 3}, none.shape());
            assertEquals(0.0, none.toDoubleArray()[1]);
            // gradient: softmax - onehot on kept rows, zero on ignored rows, over n
            Loss.crossEntropy(logits, target, -100, 0, Loss.Reduction.MEAN).backward();
            double[] gr = logits.grad().toDoubleArray();
            for (int j = 0; j < 5; j++) assertEquals(0.0, gr[5 + j], "ignored row has no gradient");
            assertEquals((Math.exp(lp[1]) - 1) / n, gr[1], 1e-6);
            // no ignored targets: the same as the [N, C] form
            Tensor t2 = Tensor.fromArray(new long[]{1, 2, 4, 0, 2, 3}, 2, 3);
            assertEquals(Loss.crossEntropy(logits.reshape(6, 5), t2.reshape(6)).item(),
                    Loss.crossEntropy(logits, t2, -100, 0, Loss.Reduction.MEAN).item(), 1e-7);
            assertThrows(IllegalArgumentException.class, () -> Loss.crossEntropy(logits, Tensor.fromArray(new long[]{1, 2, 9, 0, 2, 3}, 2, 3), -100, 0, Loss.Reduction.MEAN));
            assertThrows(IllegalArgumentException.class, () -> Loss.crossEntropy(logits, Tensor.fromArray(new long[]{1, 2, 3}, 3), -100, 0, Loss.Reduction.MEAN));
        }
    }

    @Test
    void moduleListTransformerEncoderAndCausalMask() {
        Generator g = new Generator(8);
        try (TransformerEncoder enc = new TransformerEncoder(2, i -> new TransformerEncoderLayer(8, 2, 16, 0.0, "gelu_tanh", 1e-5, true, true, g),
                new LayerNorm(new int[]{8}, 1e-5, true)); Scope s = Scope.open()) {
            List<String> names = List.copyOf(enc.namedParameters().keySet());
            assertTrue(names.contains("layers.0.self_attn.in_proj_weight") && names.contains("layers.1.linear2.bias") && names.contains("norm.weight"), names.toString());
            assertEquals(2, enc.layers().size());
            assertThrows(UnsupportedOperationException.class, () -> enc.layers().forward(Tensor.zeros(DType.F32, 1, 2, 8)));
            Tensor x = Tensor.randn(g, DType.F32, 1, 4, 8);
            Tensor y = enc.forward(x, MultiheadAttention.causalMask(4));
            Tensor want = x;
            for (TransformerEncoderLayer l : enc.layers()) want = l.forward(want, MultiheadAttention.causalMask(4));
            assertArrayEquals(((LayerNorm) enc.children().get("norm")).forward(want).toFloatArray(), y.toFloatArray());
        }
        float[] m = MultiheadAttention.causalMask(3).toFloatArray();
        float inf = Float.NEGATIVE_INFINITY;
        assertArrayEquals(new float[]{0, inf, inf, 0, 0, inf, 0, 0, 0}, m);
    }

    @Test
    void warmupCosineSchedule() {
        try (Tensor p = Tensor.zeros(DType.F32, 2).requiresGrad(true); Adam opt = Adam.adamW(List.of(p), 1.0)) {
            LrSchedule s = LrSchedule.warmupCosine(opt, 4, 12, 0.1);
            assertEquals(0.0, opt.lr());
            double[] want = {0.25, 0.5, 0.75, 1.0, 0.1 + 0.9 * (1 + Math.cos(Math.PI / 8)) / 2};
            for (double w : want) {
                s.step();
                assertEquals(w, opt.lr(), 1e-12);
            }
            for (int i = 0; i < 20; i++) s.step();
            assertEquals(0.1, opt.lr(), 1e-12);
            assertThrows(IllegalArgumentException.class, () -> LrSchedule.warmupCosine(opt, 5, 5, 0));
        }
    }
}
