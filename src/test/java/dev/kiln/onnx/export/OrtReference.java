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

    static Result run(byte[] model, float[] input, long[] shape) throws OrtException {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtSession.SessionOptions opts = new OrtSession.SessionOptions()) {
            opts.setIntraOpNumThreads(1);
            opts.setInterOpNumThreads(1);
            try (OrtSession session = env.createSession(model, opts);
                 OnnxTensor x = OnnxTensor.createTensor(env, FloatBuffer.wrap(input), shape);
                 OrtSession.Result r = session.run(Map.of(OnnxExport.INPUT, x))) {
                OnnxTensor y = (OnnxTensor) r.get(OnnxExport.OUTPUT).orElseThrow();
                FloatBuffer fb = y.getFloatBuffer();
                float[] out = new float[fb.remaining()];
                fb.get(out);
                return new Result(out, y.getInfo().getShape());
            }
        }
    }
}
