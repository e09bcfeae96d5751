package dev.kiln.bench.onnx;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;

import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.Map;

/**
 * ONNX Runtime Java (CPU execution provider) as the peer: intra-op threads as given, one inter-op
 * thread, sequential execution, all graph optimizations (ORT's defaults for a served model).
 */
final class OrtEngine implements InferenceEngine {
    private final OrtEnvironment env = OrtEnvironment.getEnvironment();
    private final OrtSession session;
    private final String inputName;
    private final long[] inputShape;

    /**
     * @param spin whether ORT's intra-op threads spin-wait after a run (ORT's default). With the
     *             engines interleaved on few cores, spinning threads steal the CPU from the Kiln
     *             run that follows, so the harness turns it off unless asked ({@code --ort-spin}).
     */
    OrtEngine(Path model, int threads, boolean spin) throws OrtException {
        try (OrtSession.SessionOptions opts = new OrtSession.SessionOptions()) {
            opts.setIntraOpNumThreads(threads);
            opts.addConfigEntry("session.intra_op.allow_spinning", spin ? "1" : "0");
            opts.setInterOpNumThreads(1);
            opts.setExecutionMode(OrtSession.SessionOptions.ExecutionMode.SEQUENTIAL);
            opts.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
            this.session = env.createSession(model.toString(), opts);
        }
        Map.Entry<String, NodeInfo> in = session.getInputInfo().entrySet().iterator().next();
        this.inputName = in.getKey();
        this.inputShape = ((TensorInfo) in.getValue().getInfo()).getShape();
    }

    @Override public String name() { return "onnxruntime " + env.getVersion(); }

    @Override public long[] inputShape() { return inputShape.clone(); }

    @Override
    public float[] run(float[] input, long[] shape) throws OrtException {
        try (OnnxTensor x = OnnxTensor.createTensor(env, FloatBuffer.wrap(input), shape);
             OrtSession.Result r = session.run(Map.of(inputName, x))) {
            FloatBuffer fb = ((OnnxTensor) r.get(0)).getFloatBuffer();
            float[] out = new float[fb.remaining()];
            fb.get(out);
            return out;
        }
    }

    @Override public void close() throws OrtException { session.close(); }
}
