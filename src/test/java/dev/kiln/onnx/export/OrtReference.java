package dev.kiln.onnx.export;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;

import java.nio.FloatBuffer;
import java.util.Map;

/** Runs a serialized ONNX model on ONNX Runtime (CPU, one thread): the exporter tests' reference. */
final class OrtReference {
    record Result(float[] data, long[] shape) {}

    private OrtReference() {}

    /** Runs a model given as bytes (graph input "input", output "output"). */
    static Result run(byte[] model, float[] input, long[] shape) throws OrtException {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtSession.SessionOptions opts = options(); OrtSession session = env.createSession(model, opts)) {
            return run(env, session, input, shape);
        }
    }

    /**
     * Runs a model given as bytes with extra session config entries (e.g. "session.disable_quant_qdq"
     * = "1", which keeps QDQ graphs in float instead of fusing them into integer kernels).
     */
    static Result run(byte[] model, float[] input, long[] shape, Map<String, String> config) throws OrtException {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtSession.SessionOptions opts = options()) {
            for (Map.Entry<String, String> e : config.entrySet()) opts.addConfigEntry(e.getKey(), e.getValue());
            try (OrtSession session = env.createSession(model, opts)) {
                return run(env, session, input, shape);
            }
        }
    }

    /** Runs a model file (graph input "input", output "output"). */
    static Result run(java.nio.file.Path model, float[] input, long[] shape) throws OrtException {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtSession.SessionOptions opts = options(); OrtSession session = env.createSession(model.toString(), opts)) {
            return run(env, session, input, shape);
        }
    }

    private static OrtSession.SessionOptions options() throws OrtException {
        OrtSession.SessionOptions opts = new OrtSession.SessionOptions();
        opts.setIntraOpNumThreads(1);
        opts.setInterOpNumThreads(1);
        return opts;
    }

    private static Result run(OrtEnvironment env, OrtSession session, float[] input, long[] shape) throws OrtException {
        try (OnnxTensor x = OnnxTensor.createTensor(env, FloatBuffer.wrap(input), shape);
             OrtSession.Result r = session.run(Map.of(OnnxExport.INPUT, x))) {
            OnnxTensor y = (OnnxTensor) r.get(OnnxExport.OUTPUT).orElseThrow();
            FloatBuffer fb = y.getFloatBuffer();
            float[] out = new float[fb.remaining()];
            fb.get(out);
            return new Result(out, y.getInfo().getShape());
        }
    }
}
