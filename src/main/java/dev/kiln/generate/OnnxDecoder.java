package dev.kiln.generate;

import dev.kiln.onnx.OnnxExecutor;
import dev.kiln.onnx.OnnxModel;
import dev.kiln.onnx.OnnxReader;
import dev.kiln.onnx.ValueInfo;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * An ONNX decoder with its key/value cache as inputs and outputs, named as Hugging Face optimum
 * exports them: inputs {@code input_ids}, optionally {@code attention_mask} and
 * {@code position_ids}, and {@code past_key_values.{i}.key|value} [batch, heads, past, head_dim];
 * outputs {@code logits} [batch, sequence, vocab] and {@code present.{i}.key|value} (other cache
 * names: {@link KvNames}, {@code kiln generate --kv-map}). The first step
 * runs with empty (length-0) caches; each step's presents become the next step's pasts.
 * <p>
 * The cache lives in buffers each session allocates once for the whole context (when the model's
 * config gives it; else they start at {@value #INITIAL_CAPACITY} entries and double when full):
 * the model's Concat of past and new entries becomes an in-place append ({@code KvAppend}), so a
 * step copies only its new entries, not the whole cache. One executor serves every session
 * (the executor keeps no state between runs).
 */
public final class OnnxDecoder implements Decoder {
    private final Path file;
    private final OnnxExecutor executor;
    private final List<ValueInfo> feeds;
    private final int[] pastIndex;            // feed position -> cache slot (2*layer + 0/1), -1 for other inputs
    private final int[] presentOutput;        // cache slot -> output position
    private final int logitsOutput;
    private final int layers;
    private final int[][] pastShape;          // per slot: heads, head_dim (batch and past length vary)
    private final int contextLength;

    private OnnxDecoder(Path file, OnnxExecutor executor, int contextLength, KvNames kv) {
        this.file = file;
        this.executor = executor;
        this.contextLength = contextLength;
        this.feeds = executor.feedInputs();
        Map<Integer, Integer> slots = new HashMap<>();
        int maxLayer = -1;
        pastIndex = new int[feeds.size()];
        boolean ids = false;
        for (int i = 0; i < feeds.size(); i++) {
            String n = feeds.get(i).name();
            int slot = kv.pastSlot(n);
            pastIndex[i] = slot;
            if (slot >= 0) {
                if (slots.put(slot, i) != null) throw new IllegalArgumentException(file + ": two inputs for cache slot " + kv.past(slot));
                maxLayer = Math.max(maxLayer, slot / 2);
            } else if (n.equals("input_ids")) ids = true;
            else if (!n.equals("attention_mask") && !n.equals("position_ids"))
                throw new IllegalArgumentException(file + ": decoder input '" + n + "' is not one Kiln feeds (input_ids, attention_mask, position_ids, "
                        + kv.pastKey() + ", " + kv.pastValue() + "; other cache names: --kv-map)");
        }
        if (!ids) throw new IllegalArgumentException(file + ": not a decoder: no input named input_ids");
        if (maxLayer < 0) throw new IllegalArgumentException(file + ": the model has no key/value cache inputs (" + kv.pastKey() + ", " + kv.pastValue()
                + "); kiln generate needs a decoder exported with past (other cache names: --kv-map)");
        layers = maxLayer + 1;
        pastShape = new int[2 * layers][];
        for (int s = 0; s < 2 * layers; s++) {
            Integer at = slots.get(s);
            if (at == null) throw new IllegalArgumentException(file + ": missing input " + kv.past(s));
            List<Object> d = feeds.get(at).dims();
            if (d == null || d.size() != 4 || !(d.get(1) instanceof Long h) || !(d.get(3) instanceof Long hd))
                throw new IllegalArgumentException(file + ": input " + feeds.get(at).name() + " must be [batch, heads, past, head_dim] with fixed heads and head_dim, got " + d);
            pastShape[s] = new int[] {Math.toIntExact(h), Math.toIntExact(hd)};
        }
        List<ValueInfo> outs = executor.model().graph().outputs();
        int logits = -1;
        presentOutput = new int[2 * layers];
        java.util.Arrays.fill(presentOutput, -1);
        for (int o = 0; o < outs.size(); o++) {
            String n = outs.get(o).name();
            if (n.equals("logits")) logits = o;
            int slot = kv.presentSlot(n);
            if (slot >= 0 && slot < 2 * layers) presentOutput[slot] = o;
        }
        if (logits < 0) throw new IllegalArgumentException(file + ": no output named logits");
        for (int s = 0; s < presentOutput.length; s++)
            if (presentOutput[s] < 0) throw new IllegalArgumentException(file + ": missing output " + kv.present(s));
        logitsOutput = logits;
    }

    /** Opens an ONNX decoder; contextLength (from the model's config, or 0 when unknown) bounds prompt + new tokens. */
    public static OnnxDecoder open(Path file, OnnxExecutor.Precision precision, int contextLength) throws IOException {
        return open(file, precision, contextLength, KvNames.OPTIMUM);
    }

    /** The same for a decoder whose cache inputs and outputs are named as kv says. */
    public static OnnxDecoder open(Path file, OnnxExecutor.Precision precision, int contextLength, KvNames kv) throws IOException {
        OnnxModel m = appendingCache(OnnxReader.read(file), kv);
        OnnxExecutor ex;
        try {
            ex = new OnnxExecutor(m, precision);
        } catch (RuntimeException e) {
            OnnxExecutor.release(m);
            throw e;
        }
        try {
            return new OnnxDecoder(file, ex, contextLength, kv);
        } catch (RuntimeException e) {
            ex.close();
            throw e;
        }
    }

    /** Per-op timing of every step from now on (a fresh table, returned), or off (null); see {@link OnnxExecutor#profile}. */
    public dev.kiln.onnx.OnnxProfile profile(boolean on, boolean byShape) { return executor.profile(on, byShape); }

    /**
     * The model with each Concat of a cache input (a past named as kv says) along its sequence axis
     * (axis 2) turned into dev.kiln KvAppend, which appends in place into the session's
     * preallocated cache instead of copying the whole cache every step.
     */
    static OnnxModel appendingCache(OnnxModel m, KvNames kv) {
        List<dev.kiln.onnx.OnnxNode> nodes = new ArrayList<>();
        boolean changed = false;
        for (dev.kiln.onnx.OnnxNode n : m.graph().nodes()) {
            var axis = n.attributes().get("axis");
            if (n.opType().equals("Concat") && (n.domain().isEmpty() || n.domain().equals("ai.onnx")) && n.inputs().size() == 2
                    && kv.pastSlot(n.inputs().get(0)) >= 0 && axis != null && (axis.i() == 2 || axis.i() == -2)) {
                nodes.add(new dev.kiln.onnx.OnnxNode(n.name(), "KvAppend", "dev.kiln", n.inputs(), n.outputs(),
                        Map.of("axis", dev.kiln.onnx.OnnxAttribute.ofInt("axis", 2))));
                changed = true;
            } else nodes.add(n);
        }
        if (!changed) return m;
        var g = m.graph();
        return new OnnxModel(m.irVersion(), m.producerName(), m.producerVersion(), m.opsets(),
                new dev.kiln.onnx.OnnxGraph(g.name(), nodes, g.inputs(), g.outputs(), g.valueInfo(), g.initializers()));
    }

    @Override public int contextLength() { return contextLength; }

    @Override public int layers() { return layers; }

    @Override public Session newSession() { return new OnnxSession(); }

    @Override public void close() { executor.close(); }

    /** Cache entries a session allocates up front when the model's context length is unknown (it doubles when full). */
    static final int INITIAL_CAPACITY = 256;

    private final class OnnxSession implements Session {
        private final Tensor[] past = new Tensor[2 * layers];     // views [1, heads, length, head_dim] of buffer
        private final Tensor[] buffer = new Tensor[2 * layers];   // [1, heads, capacity, head_dim], allocated once
        private int length;

        OnnxSession() {
            int cap = contextLength > 0 ? contextLength : INITIAL_CAPACITY;
            for (int s = 0; s < past.length; s++) {
                buffer[s] = cacheBuffer(s, cap);
                past[s] = buffer[s].narrow(2, 0, 0);
            }
        }

        private Tensor cacheBuffer(int slot, int capacity) {
            Tensor b = Tensor.uninitialized(dev.kiln.backend.Backends.cpu(), DType.F32, 1, pastShape[slot][0], capacity, pastShape[slot][1]);
            b.storage().allowAppend();
            return b;
        }

        /** Takes a present as the next past: in the buffer already (appended in place), or copied into a larger buffer. */
        private void adopt(int slot, Tensor present) {
            if (present.storage() == buffer[slot].storage()) {
                past[slot].close();
                past[slot] = present;
                return;
            }
            int need = present.size(2), cap = buffer[slot].size(2);
            if (need > cap) {      // the model's context was unknown (or wrong): grow, copying once per doubling
                Tensor b = cacheBuffer(slot, Math.max(need, 2 * cap));
                buffer[slot].close();
                buffer[slot] = b;
            }
            past[slot].close();
            past[slot] = buffer[slot].narrow(2, 0, need);
            past[slot].copyFrom(present);
            present.close();
        }

        @Override public int length() { return length; }

        @Override
        public float[] step(int[] ids) {
            int n = ids.length;
            if (n == 0) throw new IllegalArgumentException("a step needs at least one token");
            List<Tensor> in = new ArrayList<>(feeds.size());
            List<Tensor> made = new ArrayList<>();
            try {
                for (int i = 0; i < feeds.size(); i++) {
                    if (pastIndex[i] >= 0) {
                        in.add(past[pastIndex[i]]);
                        continue;
                    }
                    Tensor t = switch (feeds.get(i).name()) {
                        case "input_ids" -> longs(ids);
                        case "attention_mask" -> Tensor.ones(DType.I64, 1, length + n);
                        default -> {     // position_ids
                            long[] p = new long[n];
                            for (int k = 0; k < n; k++) p[k] = length + k;
                            yield Tensor.fromArray(p, 1, n);
                        }
                    };
                    made.add(t);
                    in.add(t);
                }
                List<Tensor> out = executor.run(in);
                try {
                    Tensor logits = out.get(logitsOutput);
                    int[] s = logits.shape();
                    if (s.length != 3 || s[1] != n) throw new IllegalStateException(file + ": logits of shape " + java.util.Arrays.toString(s) + " for " + n + " tokens");
                    float[] last;
                    try (Tensor row = logits.narrow(1, n - 1, 1)) {
                        last = row.toFloatArray();
                    }
                    for (int slot = 0; slot < past.length; slot++) {
                        adopt(slot, out.get(presentOutput[slot]));
                        out.set(presentOutput[slot], null);
                    }
                    length += n;
                    return last;
                } finally {
                    for (Tensor t : out) if (t != null) t.close();
                }
            } finally {
                made.forEach(Tensor::close);
            }
        }

        private static Tensor longs(int[] ids) {
            long[] v = new long[ids.length];
            for (int k = 0; k < v.length; k++) v[k] = ids[k];
            return Tensor.fromArray(v, 1, v.length);
        }

        @Override
        public void close() {
            for (Tensor t : past) if (t != null) t.close();
            for (Tensor t : buffer) if (t != null) t.close();
        }
    }
}
