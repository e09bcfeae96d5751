package dev.kiln;

import dev.kiln.io.Npy;
import dev.kiln.onnx.OnnxExecutor;
import dev.kiln.onnx.OnnxReader;
import dev.kiln.onnx.Value;
import dev.kiln.onnx.ValueInfo;
import dev.kiln.pickle.PyTuple;
import dev.kiln.tensor.Tensor;
import dev.kiln.torchscript.TorchScriptModel;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The real architectures at test size (tools/make_real_models.py --small, PyTorch 1.13): BERT in
 * the Hugging Face layout, GPT-2 prefill and a KV-cache decode step, ResNet-50's torchvision graph,
 * each as ONNX opset 13 and 17 and as traced and scripted TorchScript, against the eager model's
 * outputs (|got - want| <= 1e-4 + 1e-4 |want|). Each also runs on a second input shape (one batch
 * row; for GPT-2 prefill a shorter sequence, whose logits are the golden's prefix: the mask is
 * causal), which checks that the batch and sequence dims stay dynamic.
 */
class RealModelsTest {
    static final Path DIR = Path.of("testdata/real-models");

    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({"bert,op13.onnx", "bert,op17.onnx", "bert,trace.pt", "bert,script.pt",
            "gpt2,op13.onnx", "gpt2,op17.onnx", "gpt2,trace.pt", "gpt2,script.pt",
            "gpt2_decode,op13.onnx", "gpt2_decode,op17.onnx", "gpt2_decode,trace.pt", "gpt2_decode,script.pt",
            "resnet50,op13.onnx", "resnet50,op17.onnx", "resnet50,trace.pt", "resnet50,script.pt"})
    void matchesPyTorch(String model, String format) throws Exception {
        List<Tensor> in = numbered(model + "_in"), want = numbered(model + "_out");
        Path file = DIR.resolve(model + "_" + format);
        try (Runner r = format.endsWith(".onnx") ? new OnnxRunner(file) : new ScriptRunner(file)) {
            check(r.run(in), want, model + " " + format);
            // the second row of the batch alone (the past's batch dim is 2: (layers, 2, batch, ...))
            List<Tensor> in1 = new ArrayList<>(), want1 = new ArrayList<>();
            for (int i = 0; i < in.size(); i++) in1.add(row(in.get(i), model.equals("gpt2_decode") && i == 1 ? 2 : 0));
            for (int i = 0; i < want.size(); i++) want1.add(row(want.get(i), model.startsWith("gpt2") && i == 1 ? 2 : 0));
            check(r.run(in1), want1, model + " " + format + " batch row 1");
            if (model.equals("gpt2")) { // 5 of the 8 tokens: logits and present are the golden's prefix
                Tensor ids = in.get(0).narrow(1, 0, 5).contiguous();
                check(r.run(List.of(ids)), List.of(want.get(0).narrow(1, 0, 5).contiguous(),
                        want.get(1).narrow(4, 0, 5).contiguous()), model + " " + format + " 5 tokens");
            }
        }
    }

    /** A token id beyond the embedding table (or negative) is an error naming the op and the id, in both formats. */
    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({"bert,op17.onnx,1000", "bert,op13.onnx,-40", "bert,trace.pt,32", "bert,script.pt,-1",
            "gpt2,op17.onnx,32", "gpt2,trace.pt,1000", "gpt2_decode,script.pt,99"})
    void outOfRangeTokenIdsAreErrors(String model, String format, long id) throws Exception {
        List<Tensor> in = numbered(model + "_in");
        long[] ids = in.get(0).toLongArray();
        ids[ids.length - 1] = id;
        in.set(0, Tensor.fromArray(ids, in.get(0).shape()));
        Path file = DIR.resolve(model + "_" + format);
        try (Runner r = format.endsWith(".onnx") ? new OnnxRunner(file) : new ScriptRunner(file)) {
            RuntimeException e = org.junit.jupiter.api.Assertions.assertThrows(RuntimeException.class, () -> r.run(in));
            String msg = e.getMessage();
            assertTrue(msg.contains(format.endsWith(".onnx") ? "Gather" : "embedding") && msg.contains("index " + id)
                    && msg.contains("out of range"), msg);
        }
    }

    private static Tensor row(Tensor t, int axis) { return t.narrow(axis, 1, 1).contiguous(); }

    private static List<Tensor> numbered(String prefix) throws Exception {
        List<Tensor> out = new ArrayList<>();
        for (int i = 0; Files.exists(DIR.resolve(prefix + i + ".npy")); i++) out.add(Npy.read(DIR.resolve(prefix + i + ".npy")));
        assertTrue(!out.isEmpty(), "no " + prefix + "0.npy in " + DIR);
        return out;
    }

    static void check(List<Tensor> got, List<Tensor> want, String what) {
        assertEquals(want.size(), got.size(), what + ": number of outputs");
        for (int o = 0; o < want.size(); o++) {
            Tensor g = got.get(o), w = want.get(o);
            assertArrayEquals(w.shape(), g.shape(), what + " output " + o + " shape");
            float[] gv = g.toFloatArray(), wv = w.toFloatArray();
            double worst = 0;
            int at = 0;
            for (int i = 0; i < gv.length; i++) {
                double excess = Math.abs(gv[i] - wv[i]) - (1e-4 + 1e-4 * Math.abs(wv[i]));
                if (!(excess <= worst)) { worst = Double.isNaN(excess) ? Double.NaN : excess; at = i; }
                if (Double.isNaN(excess)) break;
            }
            assertTrue(worst <= 0, what + " output " + o + ": element " + at + " is " + gv[at] + ", want " + wv[at]
                    + " (first values " + Arrays.toString(Arrays.copyOf(gv, 4)) + " vs " + Arrays.toString(Arrays.copyOf(wv, 4)) + ")");
        }
    }

    interface Runner extends AutoCloseable {
        List<Tensor> run(List<Tensor> inputs);

        @Override void close();
    }

    /** The ONNX file through Kiln's executor; inputs in the graph's order, outputs in its order. */
    static final class OnnxRunner implements Runner {
        private final OnnxExecutor ex;

        OnnxRunner(Path file) throws Exception { ex = new OnnxExecutor(OnnxReader.read(file)); }

        @Override
        public List<Tensor> run(List<Tensor> inputs) {
            List<ValueInfo> feeds = ex.feedInputs();
            assertEquals(feeds.size(), inputs.size(), "inputs");
            Map<String, Value> in = new LinkedHashMap<>();
            for (int i = 0; i < inputs.size(); i++) in.put(feeds.get(i).name(), Value.of(inputs.get(i)));
            List<Tensor> out = new ArrayList<>();
            for (Value v : ex.run(in).values()) out.add(v.tensor());
            return out;
        }

        @Override public void close() { ex.close(); }
    }

    /** The TorchScript file through Kiln's interpreter; the result tuple flattened. */
    static final class ScriptRunner implements Runner {
        private final TorchScriptModel m;

        ScriptRunner(Path file) throws Exception { m = TorchScriptModel.load(file); }

        @Override
        public List<Tensor> run(List<Tensor> inputs) {
            List<Tensor> out = new ArrayList<>();
            for (Object o : m.forward(inputs.toArray())) {
                if (o instanceof PyTuple t) t.items().forEach(x -> out.add((Tensor) x));
                else out.add((Tensor) o);
            }
            return out;
        }

        @Override public void close() { m.close(); }
    }
}
