package dev.kiln.bench.onnx;

import java.nio.file.Path;

/**
 * Kiln's ONNX executor on the CPU backend (threads: -Dkiln.cpu.threads, which the harness sets to
 * ORT's intra-op thread count before the engine starts).
 * <p>
 * TODO(onnx-core): dev.kiln.onnx.OnnxExecutor and OnnxReader are on branch h-core, not yet on
 * main, so this engine is a stub and the harness prints ORT's numbers with "kiln: ..." in place
 * of Kiln's. Once they are on main, replace the body of this class with the code below (it was
 * compiled and run against h-core's API: {@code new OnnxExecutor(OnnxReader.read(path))},
 * {@code run(Map<String, Value>)} returning caller-owned outputs).
 * <pre>{@code
 * import dev.kiln.onnx.OnnxExecutor; import dev.kiln.onnx.OnnxReader; import dev.kiln.onnx.Value;
 * import dev.kiln.onnx.ValueInfo; import dev.kiln.tensor.Tensor; import java.util.Map;
 *
 *     private final OnnxExecutor executor;
 *     private final String inputName;
 *     private final long[] inputShape;
 *
 *     KilnEngine(Path model) throws Exception {
 *         this.executor = new OnnxExecutor(OnnxReader.read(model));
 *         ValueInfo in = executor.feedInputs().getFirst();
 *         this.inputName = in.name();
 *         this.inputShape = dims(in);
 *     }
 *
 *     public String name() { return "kiln OnnxExecutor"; }
 *
 *     public long[] inputShape() { return inputShape.clone(); }
 *
 *     public float[] run(float[] input, long[] shape) {
 *         int[] s = new int[shape.length];
 *         for (int k = 0; k < s.length; k++) s[k] = Math.toIntExact(shape[k]);
 *         try (Tensor x = Tensor.fromArray(input, s)) {
 *             Map<String, Value> out = executor.run(Map.of(inputName, Value.of(x)));
 *             try (Tensor y = out.values().iterator().next().tensor()) {
 *                 return y.toFloatArray();
 *             }
 *         }
 *     }
 *
 *     public void close() { executor.close(); }
 *
 *     // Declared dims with symbolic or unknown ones as -1.
 *     private static long[] dims(ValueInfo in) {
 *         long[] d = new long[in.dims().size()];
 *         for (int k = 0; k < d.length; k++) d[k] = in.dims().get(k) instanceof Long n ? n : -1;
 *         return d;
 *     }
 * }</pre>
 */
final class KilnEngine implements InferenceEngine {
    KilnEngine(Path model) {
        throw new UnsupportedOperationException("Kiln's ONNX executor is not on main yet (TODO(onnx-core) in KilnEngine)");
    }

    @Override public String name() { return "kiln OnnxExecutor (not available)"; }

    @Override public long[] inputShape() { throw new UnsupportedOperationException(); }

    @Override public float[] run(float[] input, long[] shape) { throw new UnsupportedOperationException(); }

    @Override public void close() {}
}
