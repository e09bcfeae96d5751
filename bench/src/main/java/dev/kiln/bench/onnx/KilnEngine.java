package dev.kiln.bench.onnx;

import dev.kiln.onnx.OnnxExecutor;
import dev.kiln.onnx.OnnxReader;
import dev.kiln.onnx.Value;
import dev.kiln.onnx.ValueInfo;
import dev.kiln.tensor.Tensor;

import java.nio.file.Path;
import java.util.Map;

/**
 * Kiln's ONNX executor on the CPU backend (threads: -Dkiln.cpu.threads, which the harness sets to
 * ORT's intra-op thread count before the engine starts).
 */
final class KilnEngine implements InferenceEngine {
    private final OnnxExecutor executor;
    private final String inputName;
    private final long[] inputShape;

    KilnEngine(Path model) throws Exception {
        this.executor = new OnnxExecutor(OnnxReader.read(model));
        ValueInfo in = executor.feedInputs().getFirst();
        this.inputName = in.name();
        this.inputShape = dims(in);
    }

    @Override public String name() { return "kiln OnnxExecutor"; }

    @Override public long[] inputShape() { return inputShape.clone(); }

    @Override
    public float[] run(float[] input, long[] shape) {
        int[] s = new int[shape.length];
        for (int k = 0; k < s.length; k++) s[k] = Math.toIntExact(shape[k]);
        try (Tensor x = Tensor.fromArray(input, s)) {
            Map<String, Value> out = executor.run(Map.of(inputName, Value.of(x)));
            try (Tensor y = out.values().iterator().next().tensor()) {
                return y.toFloatArray();
            }
        }
    }

    @Override public void close() { executor.close(); }

    /** Declared dims, with symbolic or unknown ones as -1. */
    private static long[] dims(ValueInfo in) {
        long[] d = new long[in.dims().size()];
        for (int k = 0; k < d.length; k++) d[k] = in.dims().get(k) instanceof Long n ? n : -1;
        return d;
    }
}
