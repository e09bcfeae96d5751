package dev.kiln.bench.onnx;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import dev.kiln.cli.ModelPeer;
import dev.kiln.tensor.Tensor;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.nio.LongBuffer;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * ONNX Runtime Java as the peer of {@code kiln bench MODEL --compare ort}: the CPU execution
 * provider with the session options of {@link OrtEngine} (intra-op threads as given, one inter-op
 * thread, sequential, all graph optimizations, no spin-waiting so that the interleaved Kiln calls
 * get the cores). Inputs are converted to OnnxTensors once; outputs are copied back only on request.
 */
public final class OrtModelPeer implements ModelPeer {
    @Override public String key() { return "ort"; }

    @Override
    public Session open(Path model, int threads) throws OrtException {
        return new OrtSessionPeer(model, threads);
    }

    private static final class OrtSessionPeer implements Session {
        private final OrtEnvironment env = OrtEnvironment.getEnvironment();
        private final OrtSession session;
        private final Map<String, OnnxTensor> inputs = new LinkedHashMap<>();
        private OrtSession.Result last;

        OrtSessionPeer(Path model, int threads) throws OrtException {
            try (OrtSession.SessionOptions opts = new OrtSession.SessionOptions()) {
                opts.setIntraOpNumThreads(threads);
                opts.addConfigEntry("session.intra_op.allow_spinning", "0");
                opts.setInterOpNumThreads(1);
                opts.setExecutionMode(OrtSession.SessionOptions.ExecutionMode.SEQUENTIAL);
                opts.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
                session = env.createSession(model.toString(), opts);
            }
        }

        @Override public String name() { return "onnxruntime " + env.getVersion(); }

        @Override
        public void prepare(Map<String, Tensor> values) throws OrtException {
            closeInputs();
            for (var e : values.entrySet()) inputs.put(e.getKey(), toOrt(e.getValue()));
        }

        private OnnxTensor toOrt(Tensor t) throws OrtException {
            long[] shape = new long[t.dim()];
            for (int i = 0; i < shape.length; i++) shape[i] = t.shape()[i];
            return switch (t.dtype()) {
                case F32 -> OnnxTensor.createTensor(env, FloatBuffer.wrap(t.toFloatArray()), shape);
                case F64 -> OnnxTensor.createTensor(env, DoubleBuffer.wrap(t.toDoubleArray()), shape);
                case I64 -> OnnxTensor.createTensor(env, LongBuffer.wrap(t.toLongArray()), shape);
                case I32 -> {
                    long[] v = t.toLongArray();
                    int[] w = new int[v.length];
                    for (int i = 0; i < v.length; i++) w[i] = (int) v[i];
                    yield OnnxTensor.createTensor(env, IntBuffer.wrap(w), shape);
                }
                case BOOL -> {
                    long[] v = t.toLongArray();
                    ByteBuffer b = ByteBuffer.allocateDirect(v.length).order(ByteOrder.nativeOrder());
                    for (long x : v) b.put((byte) (x != 0 ? 1 : 0));
                    b.flip();
                    yield OnnxTensor.createTensor(env, b, shape, OnnxJavaType.BOOL);
                }
                default -> throw new IllegalArgumentException("ort peer: inputs of dtype " + t.dtype() + " are not supported");
            };
        }

        @Override
        public void run() throws OrtException {
            if (last != null) last.close();
            last = session.run(inputs);
        }

        @Override
        public LinkedHashMap<String, Tensor> lastOutputs() throws OrtException {
            LinkedHashMap<String, Tensor> out = new LinkedHashMap<>();
            if (last == null) return out;
            for (Map.Entry<String, OnnxValue> e : last) {
                if (!(e.getValue() instanceof OnnxTensor t)) continue;
                TensorInfo info = t.getInfo();
                int[] shape = new int[info.getShape().length];
                for (int i = 0; i < shape.length; i++) shape[i] = Math.toIntExact(info.getShape()[i]);
                Tensor k = switch (info.type) {
                    case FLOAT -> {
                        FloatBuffer fb = t.getFloatBuffer();
                        float[] v = new float[fb.remaining()];
                        fb.get(v);
                        yield Tensor.fromArray(v, shape);
                    }
                    case DOUBLE -> {
                        DoubleBuffer db = t.getDoubleBuffer();
                        double[] v = new double[db.remaining()];
                        db.get(v);
                        yield Tensor.fromArray(v, shape);
                    }
                    case INT64 -> {
                        LongBuffer lb = t.getLongBuffer();
                        long[] v = new long[lb.remaining()];
                        lb.get(v);
                        yield Tensor.fromArray(v, shape);
                    }
                    case INT32 -> {
                        IntBuffer ib = t.getIntBuffer();
                        int[] v = new int[ib.remaining()];
                        ib.get(v);
                        yield Tensor.fromArray(v, shape);
                    }
                    default -> null; // other types are not compared
                };
                if (k != null) out.put(e.getKey(), k);
            }
            return out;
        }

        private void closeInputs() {
            inputs.values().forEach(OnnxTensor::close);
            inputs.clear();
        }

        @Override
        public void close() throws OrtException {
            if (last != null) last.close();
            closeInputs();
            session.close();
        }
    }
}
