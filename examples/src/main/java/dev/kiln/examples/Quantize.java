package dev.kiln.examples;

import dev.kiln.compress.quant.OnnxDynamicQuantizer;
import dev.kiln.onnx.OnnxExecutor;
import dev.kiln.onnx.OnnxReader;
import dev.kiln.onnx.Value;
import dev.kiln.onnx.ValueInfo;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Dynamic int8 quantization of an ONNX file with {@link OnnxDynamicQuantizer} (the graph ONNX
 * Runtime's {@code quantize_dynamic} writes: int8 weights, activations quantized at run time),
 * then both files run on the same inputs and each output of the int8 model is compared with the
 * float one: max |diff| and cosine similarity. Exits 1 if a cosine is under 0.99.
 *
 * <p>Arguments: {@code [model.onnx]}, default {@code testdata/real-models/bert_op17.onnx}
 * (relative to the repository root); its inputs are {@code NAME_in0.npy, ...} beside it.
 */
public final class Quantize {
    public static void main(String[] args) throws IOException {
        Path model = Path.of(args.length > 0 ? args[0] : "testdata/real-models/bert_op17.onnx");
        Path int8 = Files.createTempFile("kiln-example-", "-int8.onnx");
        boolean ok = true;
        try (Scope scope = Scope.open()) {
            OnnxDynamicQuantizer.Result r = OnnxDynamicQuantizer.quantize(model, int8, OnnxDynamicQuantizer.Options.defaults());
            System.out.printf("%s: %d MatMul/Gemm nodes quantized, %,d -> %,d bytes%n",
                    model.getFileName(), r.nodes().size(), r.bytesIn(), r.bytesOut());

            List<Tensor> inputs = Goldens.beside(model, "in");
            List<Tensor> ref = run(model, inputs), q = run(int8, inputs);
            for (int k = 0; k < ref.size(); k++) {
                float[] a = ref.get(k).toFloatArray(), b = q.get(k).toFloatArray();
                double maxDiff = 0, dot = 0, na = 0, nb = 0;
                for (int i = 0; i < a.length; i++) {
                    maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
                    dot += a[i] * b[i];
                    na += a[i] * a[i];
                    nb += b[i] * b[i];
                }
                double cosine = dot / Math.sqrt(na * nb);  // NaN (a failure) if either is all zeros or NaN
                System.out.printf("  output %d: max |float - int8| %.4f, cosine %.5f%n", k, maxDiff, cosine);
                if (!(cosine >= 0.99)) ok = false;
            }
        } finally {
            Files.deleteIfExists(int8);
        }
        if (!ok) {
            System.err.println("Quantize: the int8 model's outputs are too far from the float model's");
            System.exit(1);
        }
    }

    /** Runs an ONNX file on the inputs (in graph-input order); its outputs in order. */
    private static List<Tensor> run(Path file, List<Tensor> inputs) throws IOException {
        try (OnnxExecutor executor = new OnnxExecutor(OnnxReader.read(file))) {
            List<ValueInfo> feeds = executor.feedInputs();
            Map<String, Value> feed = new LinkedHashMap<>();
            for (int i = 0; i < feeds.size(); i++) feed.put(feeds.get(i).name(), Value.of(inputs.get(i)));
            List<Tensor> out = new ArrayList<>();
            for (Value v : executor.run(feed).values()) out.add(v.tensor());
            return out;
        }
    }
}
