package dev.kiln.bench.tf;

import dev.kiln.cli.ModelPeer;
import org.tensorflow.Result;
import org.tensorflow.SavedModelBundle;
import org.tensorflow.SessionFunction;
import org.tensorflow.TensorFlow;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.proto.ConfigProto;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * TensorFlow Java 1.1.0 as the peer of {@code kiln bench DIR --compare tf}: the SavedModel loaded
 * with intra-op threads as given and one inter-op thread, one signature called through
 * {@link SessionFunction} on inputs converted once. Outputs are copied back only on request.
 */
public final class TfModelPeer implements ModelPeer {
    @Override public String key() { return "tf"; }

    @Override
    public Session open(Path model, int threads) { return open(model, threads, null); }

    @Override
    public Session open(Path model, int threads, String signature) {
        return new TfSession(model, threads, signature);
    }

    private static final class TfSession implements Session {
        private final SavedModelBundle bundle;
        private final SessionFunction function;
        private final Map<String, org.tensorflow.Tensor> inputs = new LinkedHashMap<>();
        private Result last;

        TfSession(Path dir, int threads, String signature) {
            ConfigProto config = ConfigProto.newBuilder().setIntraOpParallelismThreads(threads).setInterOpParallelismThreads(1).build();
            bundle = SavedModelBundle.loader(dir.toString()).withTags(SavedModelBundle.DEFAULT_TAG).withConfigProto(config).load();
            String sig = signature;
            if (sig == null) sig = bundle.signatures().stream().anyMatch(s -> s.key().equals("serving_default"))
                    ? "serving_default" : bundle.signatures().get(0).key();
            function = bundle.function(sig);
        }

        @Override public String name() { return "tensorflow " + TensorFlow.version(); }

        @Override
        public void prepare(Map<String, dev.kiln.tensor.Tensor> values) {
            closeInputs();
            for (var e : values.entrySet()) inputs.put(e.getKey(), toTf(e.getValue()));
        }

        private static org.tensorflow.Tensor toTf(dev.kiln.tensor.Tensor t) {
            long[] shape = new long[t.dim()];
            for (int i = 0; i < shape.length; i++) shape[i] = t.shape()[i];
            return switch (t.dtype()) {
                case F32 -> TFloat32.tensorOf(Shape.of(shape), DataBuffers.of(t.toFloatArray(), true, false));
                case I64 -> TInt64.tensorOf(Shape.of(shape), DataBuffers.of(t.toLongArray(), true, false));
                case I32 -> TInt32.tensorOf(Shape.of(shape), DataBuffers.of(t.toIntArray(), true, false));
                default -> throw new IllegalArgumentException("tf peer: inputs of dtype " + t.dtype() + " are not supported");
            };
        }

        @Override
        public void run() {
            if (last != null) last.close();
            last = function.call(inputs);
        }

        @Override
        public LinkedHashMap<String, dev.kiln.tensor.Tensor> lastOutputs() {
            LinkedHashMap<String, dev.kiln.tensor.Tensor> out = new LinkedHashMap<>();
            if (last == null) return out;
            for (String key : function.signature().outputNames()) {
                var opt = last.get(key);
                if (opt.isEmpty()) continue;
                org.tensorflow.Tensor t = opt.get();
                long[] s = t.shape().asArray();
                int[] shape = new int[s.length];
                int n = 1;
                for (int i = 0; i < s.length; i++) {
                    shape[i] = Math.toIntExact(s[i]);
                    n *= shape[i];
                }
                if (t instanceof TFloat32 f) {
                    float[] v = new float[n];
                    f.copyTo(DataBuffers.of(v, false, false));
                    out.put(key, dev.kiln.tensor.Tensor.fromArray(v, shape));
                } else if (t instanceof TInt64 f) {
                    long[] v = new long[n];
                    f.copyTo(DataBuffers.of(v, false, false));
                    out.put(key, dev.kiln.tensor.Tensor.fromArray(v, shape));
                } else if (t instanceof TInt32 f) {
                    int[] v = new int[n];
                    f.copyTo(DataBuffers.of(v, false, false));
                    out.put(key, dev.kiln.tensor.Tensor.fromArray(v, shape));
                }
            }
            return out;
        }

        private void closeInputs() {
            inputs.values().forEach(org.tensorflow.Tensor::close);
            inputs.clear();
        }

        @Override
        public void close() {
            if (last != null) last.close();
            closeInputs();
            bundle.close();
        }
    }
}
