package dev.kiln.compress;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import dev.kiln.io.Npy;
import dev.kiln.onnx.OnnxExecutor;
import dev.kiln.onnx.OnnxReader;
import dev.kiln.onnx.Value;
import dev.kiln.tensor.Tensor;

import java.nio.LongBuffer;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Runs ONNX files of the compression tests in Kiln and in ONNX Runtime on int64 inputs; float outputs by name. */
public final class OnnxRuns {
    private OnnxRuns() {}

    /** The small BERT fixture's inputs (testdata/real-models). */
    public static Map<String, Tensor> bertInputs() throws Exception {
        Map<String, Tensor> in = new LinkedHashMap<>();
        in.put("input_ids", Npy.read(Path.of("testdata/real-models/bert_in0.npy")));
        in.put("attention_mask", Npy.read(Path.of("testdata/real-models/bert_in1.npy")));
        return in;
    }

    public static Map<String, float[]> kiln(Path model, Map<String, Tensor> in) throws Exception {
        try (OnnxExecutor ex = new OnnxExecutor(OnnxReader.read(model))) {
            Map<String, Value> feed = new HashMap<>();
            for (var e : in.entrySet()) feed.put(e.getKey(), Value.of(e.getValue()));
            Map<String, float[]> out = new LinkedHashMap<>();
            for (var e : ex.run(feed).entrySet()) {
                out.put(e.getKey(), e.getValue().tensor().toFloatArray());
                e.getValue().tensor().close();
            }
            return out;
        }
    }

    public static Map<String, float[]> ort(Path model, Map<String, Tensor> in) throws Exception {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtSession.SessionOptions opts = new OrtSession.SessionOptions()) {
            opts.setIntraOpNumThreads(1);
            try (OrtSession s = env.createSession(model.toString(), opts)) {
                Map<String, OnnxTensor> feed = new HashMap<>();
                try {
                    for (var e : in.entrySet()) {
                        int[] sh = e.getValue().shape();
                        long[] shape = new long[sh.length];
                        for (int i = 0; i < sh.length; i++) shape[i] = sh[i];
                        feed.put(e.getKey(), OnnxTensor.createTensor(env, LongBuffer.wrap(e.getValue().toLongArray()), shape));
                    }
                    Map<String, float[]> out = new LinkedHashMap<>();
                    try (OrtSession.Result res = s.run(feed)) {
                        for (var e : res) out.put(e.getKey(), ((OnnxTensor) e.getValue()).getFloatBuffer().array());
                    }
                    return out;
                } finally {
                    feed.values().forEach(OnnxTensor::close);
                }
            }
        }
    }

    public static double maxDiff(float[] a, float[] b) {
        assertEquals(a.length, b.length);
        double d = 0;
        for (int i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
        return d;
    }
}
