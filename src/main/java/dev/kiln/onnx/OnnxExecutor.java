package dev.kiln.onnx;

import dev.kiln.onnx.ops.OpCall;
import dev.kiln.onnx.ops.OpRegistry;
import dev.kiln.tensor.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Runs an {@link OnnxModel}. At construction every node's op is resolved once (all unsupported
 * ops are reported together, naming op, node and opset) and the graph is checked to be in
 * topological order; {@link #run} then binds the inputs (an input named like an initializer
 * overrides it), checks their declared types and fixed dims (symbolic dims accept any size), runs
 * the nodes in order and returns the graph outputs.
 * <p>
 * Memory: tensors produced by nodes are closed right after their last use (uses inside nested
 * subgraphs count). Ownership is tracked per tensor object: an op may return one of its inputs or
 * a view of it; a tensor object this run did not create (a user input, an initializer, an
 * attribute tensor, an outer-scope value) is never closed. Returned outputs belong to the caller;
 * where an output is such a borrowed tensor, the caller gets an alias over the same storage.
 * The executor owns the model's tensors: {@link #close()} releases them.
 * <p>
 * At construction the top-level graph goes through {@link GraphOptimizer} (BatchNormalization
 * folded into Conv, constant Gemm weights pre-transposed, Relu fused into its producer); the
 * system property {@code kiln.onnx.optimize=false} turns that off, and an executor with a custom
 * {@link OpRegistry} runs the graph as given. {@link #model()} stays the model as given.
 * <p>
 * Between runs the executor keeps the results of the top-level graph's shape-only nodes (Shape,
 * and index arithmetic on shapes and constants: {@link GraphPlan#shapeOnly}); a run whose inputs
 * have the shapes of the last one skips that arithmetic ({@code kiln.onnx.shapeMemo=false} turns
 * this off). Runs may overlap on several threads; one at a time uses the kept results.
 * <p>
 * Subgraphs (If/Loop/Scan bodies) run through the {@link dev.kiln.onnx.ops.SubgraphRunner} given to
 * each op: their inputs are bound by position, other names resolve in the enclosing scopes.
 * Ops run on the backend of their inputs, so a model fed CUDA tensors runs on CUDA where its ops
 * allow (initializers stay on the CPU).
 */
public final class OnnxExecutor implements AutoCloseable {
    private final OnnxModel model;
    /** The graph that runs: the model's top-level graph after {@link GraphOptimizer} (when enabled). */
    private final OnnxGraph root;
    private final Map<OnnxGraph, GraphPlan> plans = new IdentityHashMap<>();
    private final Set<Tensor> modelTensors;
    private boolean closed;
    private volatile OnnxProfile profile;
    /** Run ids (OpCall.run), unique over all executors. */
    private static final java.util.concurrent.atomic.AtomicLong RUNS = new java.util.concurrent.atomic.AtomicLong();
    /** The root graph's shape-only results between runs (null: off, {@code kiln.onnx.shapeMemo=false}). */
    private final ShapeMemo shapeMemo;

    /** An executor with every op Kiln implements. */
    public OnnxExecutor(OnnxModel model) { this(model, OpRegistry.standard()); }

    public OnnxExecutor(OnnxModel model, OpRegistry registry) { this(model, registry, GraphOptimizer.enabled()); }

    /** Arithmetic precision of the model's matrix products with constant weights. */
    public enum Precision {
        /** float32 throughout (the default). */
        F32,
        /**
         * Opt-in: MatMul/Gemm with a constant float weight multiply in bf16 (8 significant bits per
         * input, f32 sums) where the CPU has a bf16 kernel (AVX512-BF16: about twice the f32
         * GEMM's speed); everything else stays f32. Outputs differ from f32 by about 1e-3 relative.
         */
        BF16
    }

    /** An executor with every op Kiln implements, its constant-weight matrix products in the given precision. */
    public OnnxExecutor(OnnxModel model, Precision precision) {
        this(model, OpRegistry.standard(), GraphOptimizer.enabled() || precision == Precision.BF16, precision == Precision.BF16);
    }

    /**
     * An executor that runs the graph as given ({@code optimize} false) or after {@link GraphOptimizer}
     * (only with the standard registry).
     */
    OnnxExecutor(OnnxModel model, OpRegistry registry, boolean optimize) { this(model, registry, optimize, false); }

    private OnnxExecutor(OnnxModel model, OpRegistry registry, boolean optimize, boolean bf16) {
        this.model = model;
        // the rewrites assume Kiln's own op semantics: a custom registry runs the graph as given
        this.root = optimize && registry == OpRegistry.standard() ? GraphOptimizer.optimize(model.graph(), bf16) : model.graph();
        OnnxModel planned = root == model.graph() ? model
                : new OnnxModel(model.irVersion(), model.producerName(), model.producerVersion(), model.opsets(), root);
        this.modelTensors = GraphPlan.modelTensors(model.graph());
        try {
            GraphPlan.planModel(planned, registry, plans);
        } catch (RuntimeException e) { // the caller still owns the model's tensors; the optimizer's are ours
            for (Tensor t : GraphPlan.modelTensors(root)) if (!modelTensors.contains(t)) t.close();
            throw e;
        }
        if (root != model.graph()) modelTensors.addAll(GraphPlan.modelTensors(root));
        this.shapeMemo = "false".equals(System.getProperty("kiln.onnx.shapeMemo")) ? null : new ShapeMemo(plans.get(root).ops.length);
    }

    public OnnxModel model() { return model; }

    /** Turns per-op timing on (a fresh {@link OnnxProfile}, returned) or off (null). */
    public OnnxProfile profile(boolean on) { return profile(on, false); }

    /** As {@link #profile(boolean)}; byShape splits each op's row by input shapes (see {@link OnnxProfile#OnnxProfile(boolean)}). */
    public OnnxProfile profile(boolean on, boolean byShape) {
        profile = on ? new OnnxProfile(byShape) : null;
        return profile;
    }

    /** The graph inputs the caller must (or may) feed: declared inputs that are not initializers. */
    public List<ValueInfo> feedInputs() {
        List<ValueInfo> out = new ArrayList<>();
        for (ValueInfo in : model.graph().inputs())
            if (!model.graph().initializers().containsKey(in.name())) out.add(in);
        return out;
    }

    /**
     * Runs the graph on tensors given in the order of {@link #feedInputs()} (the caller keeps them)
     * and returns its outputs in declaration order (the caller owns them). For models whose inputs
     * or outputs are sequences, maps or strings use {@link #run(Map)}.
     */
    public List<Tensor> run(List<Tensor> inputs) {
        List<ValueInfo> feeds = feedInputs();
        if (inputs.size() != feeds.size())
            throw new IllegalArgumentException("kiln: the model takes " + feeds.size() + " inputs "
                    + feeds.stream().map(ValueInfo::name).toList() + ", got " + inputs.size());
        Map<String, Value> feed = new LinkedHashMap<>();
        for (int i = 0; i < feeds.size(); i++) feed.put(feeds.get(i).name(), Value.of(inputs.get(i)));
        LinkedHashMap<String, Value> out = run(feed);
        List<Tensor> tensors = new ArrayList<>();
        for (Map.Entry<String, Value> e : out.entrySet()) {
            if (!(e.getValue() instanceof Value.TensorValue tv)) {
                for (Value v : out.values()) if (v instanceof Value.TensorValue t) t.tensor().close();
                throw new IllegalArgumentException("kiln: output " + e.getKey() + " is not a tensor; use run(Map)");
            }
            tensors.add(tv.tensor());
        }
        return tensors;
    }

    /**
     * Runs the graph. {@code inputs} maps input names to values (the caller keeps ownership); the
     * result maps each graph output name, in declaration order, to a value the caller owns.
     */
    public LinkedHashMap<String, Value> run(Map<String, Value> inputs) {
        if (closed) throw new IllegalStateException("kiln: OnnxExecutor used after close");
        OnnxGraph g = root;
        Frame frame = new Frame(null, g.initializers());
        bindInputs(g, inputs, frame);
        List<Value> outs;
        // the shape-only results of the last run are reused when this run is the only one using them
        ShapeMemo memo = shapeMemo != null && shapeMemo.lock.tryLock() ? shapeMemo : null;
        try (var burst = dev.kiln.backend.Backends.burst()) {   // hundreds of small parallel ops: keep the workers awake
            outs = execute(plans.get(g), frame, memo);
        } finally {
            if (memo != null) memo.lock.unlock();
        }
        LinkedHashMap<String, Value> result = new LinkedHashMap<>();
        for (int i = 0; i < outs.size(); i++) result.put(g.outputs().get(i).name(), outs.get(i));
        return result;
    }

    private void bindInputs(OnnxGraph g, Map<String, Value> inputs, Frame frame) {
        Map<String, ValueInfo> declared = new LinkedHashMap<>();
        for (ValueInfo in : g.inputs()) declared.put(in.name(), in);
        for (String name : inputs.keySet())
            if (!declared.containsKey(name))
                throw new OnnxException("model has no input '" + name + "' (inputs: " + String.join(", ", declared.keySet()) + ")");
        for (ValueInfo in : declared.values()) {
            Value v = inputs.get(in.name());
            if (v == null) {
                if (g.initializers().containsKey(in.name())) continue;
                throw new OnnxException("missing model input '" + in.name() + "' (" + InputCheck.describe(in) + ")");
            }
            InputCheck.check(in, v);
            frame.env.put(in.name(), v);
        }
    }

    // ------------------------------------------------------------------ graph execution

    /** One scope: the values by name, and the tensors this scope created (with reference counts). */
    private static final class Frame {
        final Frame parent;
        /** The graph's initializers, read through below env (not copied into it on every run). */
        final Map<String, Value> inits;
        final Map<String, Value> env = new HashMap<>();
        /** Tensor objects created in this scope -> number of live names holding them. */
        final Map<Tensor, Integer> owned = new IdentityHashMap<>();
        /** The run this scope belongs to (OpCall.run): a new id per {@link #run}, shared by its subgraphs. */
        final long run;
        /** Tensors this scope's ops hand to each other ({@link OpCall.RunTensors}); closed at the scope's end if still here. */
        final Map<String, Tensor> pending = new HashMap<>();
        final OpCall.RunTensors runTensors = new OpCall.RunTensors() {
            @Override public Tensor get(String key) { return pending.get(key); }
            @Override public void put(String key, Tensor t) {
                Tensor old = pending.put(key, t);
                if (old != null && old != t) old.close();
            }
            @Override public Tensor take(String key) { return pending.remove(key); }
        };

        Frame(Frame parent, Map<String, Value> inits) {
            this.parent = parent;
            this.inits = inits;
            this.run = parent == null ? RUNS.incrementAndGet() : parent.run;
        }

        /** A name's value: this scope's values (graph inputs shadow initializers), its initializers, then the enclosing scopes'. */
        Value lookup(String name) {
            for (Frame f = this; f != null; f = f.parent) {
                Value v = f.env.get(name);
                if (v != null || f.env.containsKey(name)) return v;
                v = f.inits.get(name);
                if (v != null) return v;
            }
            return null;
        }
    }

    /**
     * The values of the root graph's shape-only nodes ({@link GraphPlan#shapeOnly}) from earlier runs,
     * kept by the executor: a node whose shape-only inputs did not change this run is not run again
     * (its kept outputs are bound, borrowed), and a Shape whose result equals the kept one keeps it.
     * In a decode loop most of the ~1,300 index ops a Hugging Face GPT-2 export runs per step read
     * shapes that stay the same from step to step. The tensors are closed with the executor.
     */
    private static final class ShapeMemo {
        final java.util.concurrent.locks.ReentrantLock lock = new java.util.concurrent.locks.ReentrantLock();
        final List<Value>[] outs;
        final boolean[] changed;
        /** For a Shape or Size node: the shape of its input when its kept result was computed. */
        final int[][] sourceShapes;
        /** Kept tensor objects -> the number of kept outputs holding them. */
        final Map<Tensor, Integer> held = new IdentityHashMap<>();

        @SuppressWarnings("unchecked")
        ShapeMemo(int nodes) {
            outs = new List[nodes];
            changed = new boolean[nodes];
            sourceShapes = new int[nodes][];
        }

        void keep(List<Value> vs, Set<Tensor> model) {
            for (Value v : vs) Values.forEachTensor(v, t -> { if (!model.contains(t)) held.merge(t, 1, Integer::sum); });
        }

        void drop(List<Value> vs) {
            for (Value v : vs)
                Values.forEachTensor(v, t -> {
                    Integer c = held.get(t);
                    if (c == null) return;
                    if (c > 1) held.put(t, c - 1);
                    else {
                        held.remove(t);
                        t.close();
                    }
                });
        }

        void close() {
            for (Tensor t : held.keySet()) t.close();
            held.clear();
            java.util.Arrays.fill(outs, null);
            java.util.Arrays.fill(sourceShapes, null);
        }
    }

    /** Runs the plan's nodes in {@code frame} and returns its outputs (owned by the caller); memo: the root graph's, or null. */
    private List<Value> execute(GraphPlan plan, Frame frame, ShapeMemo memo) {
        boolean ok = false;
        try {
            for (int i = 0; i < plan.ops.length; i++) {
                if (memo != null && plan.shapeOnly[i]) runShapeOnly(plan, i, frame, memo);
                else runNode(plan, i, frame);
                for (String dead : plan.releaseAfter.get(i)) {
                    Value v = frame.env.remove(dead);
                    if (v != null) release(frame, v);
                }
            }
            List<Value> outs = collectOutputs(plan, frame);
            ok = true;
            return outs;
        } finally {
            if (!ok) closeOwned(frame, Collections.newSetFromMap(new IdentityHashMap<>()));
            for (Tensor t : frame.pending.values()) t.close();
            frame.pending.clear();
        }
    }

    /** "Conv 1x64x56x56 64x64x3x3 64 s2": op type, input shapes, and the strides attribute where present. */
    private static String shapeKey(OnnxNode node, List<Value> ins) {
        StringBuilder sb = new StringBuilder(node.opType());
        for (Value v : ins) {
            sb.append(' ');
            if (v instanceof Value.TensorValue tv) {
                int[] sh = tv.tensor().shape();
                if (sh.length == 0) sb.append("scalar");
                for (int d = 0; d < sh.length; d++) sb.append(d == 0 ? "" : "x").append(sh[d]);
            } else sb.append(v == null ? "-" : "?");
        }
        OnnxAttribute st = node.attributes().get("strides");
        if (st != null) {
            sb.append(" s");
            long[] s = st.ints();
            for (int d = 0; d < s.length; d++) sb.append(d == 0 ? "" : "x").append(s[d]);
        }
        return sb.toString();
    }

    /** Runs node i: its outputs bound in the frame (new tensors owned by it). */
    private void runNode(GraphPlan plan, int i, Frame frame) {
        OnnxNode node = plan.graph.nodes().get(i);
        List<Value> ins = inputs(plan, i, frame);
        List<Value> outs = call(plan, i, frame, ins);
        for (int k = 0; k < outs.size(); k++) {
            Value v = outs.get(k);
            String name = node.outputs().get(k);
            if (v == null) continue;
            adopt(frame, v, ins);
            if (name.isEmpty()) release(frame, v);   // produced but unnamed: dropped unless borrowed or held elsewhere
            else frame.env.put(name, v);
        }
    }

    /**
     * A shape-only node of the root graph (see {@link ShapeMemo}): the kept outputs when its inputs
     * did not change, else run; its outputs are bound borrowed (the memo owns them).
     */
    private void runShapeOnly(GraphPlan plan, int i, Frame frame, ShapeMemo memo) {
        OnnxNode node = plan.graph.nodes().get(i);
        List<Value> kept = memo.outs[i];
        boolean source = GraphPlan.SHAPE_SOURCES.contains(node.opType());
        if (kept != null && !source) {
            boolean same = true;
            for (int p : plan.shapeInputs[i]) if (memo.changed[p]) { same = false; break; }
            if (same) {
                bindKept(node, kept, frame);
                memo.changed[i] = false;
                return;
            }
        }
        List<Value> ins = inputs(plan, i, frame);
        int[] inShape = source && ins.size() == 1 && ins.get(0) instanceof Value.TensorValue tv ? tv.tensor().shape() : null;
        if (kept != null && inShape != null && Arrays.equals(inShape, memo.sourceShapes[i])) {   // same input shape: same result, no call
            bindKept(node, kept, frame);
            memo.changed[i] = false;
            return;
        }
        List<Value> outs = call(plan, i, frame, ins);
        memo.sourceShapes[i] = inShape;
        if (kept != null && source && sameValues(outs, kept)) {
            for (Value v : outs) Values.forEachTensor(v, Tensor::close);   // a Shape/Size result is a new tensor
            bindKept(node, kept, frame);
            memo.changed[i] = false;
            return;
        }
        memo.keep(outs, modelTensors);
        if (kept != null) memo.drop(kept);
        memo.outs[i] = outs;
        memo.changed[i] = true;
        bindKept(node, outs, frame);
    }

    private static void bindKept(OnnxNode node, List<Value> outs, Frame frame) {
        for (int k = 0; k < outs.size(); k++) {
            String name = node.outputs().get(k);
            if (outs.get(k) != null && !name.isEmpty()) frame.env.put(name, outs.get(k));
        }
    }

    /** Whether two results of a Shape/Size hold equal tensors (same type, shape and values). */
    private static boolean sameValues(List<Value> a, List<Value> b) {
        if (a.size() != b.size()) return false;
        for (int k = 0; k < a.size(); k++) {
            if (!(a.get(k) instanceof Value.TensorValue x) || !(b.get(k) instanceof Value.TensorValue y)) return false;
            Tensor s = x.tensor(), t = y.tensor();
            if (x.type() != y.type() || !Arrays.equals(s.shape(), t.shape()) || s.numel() > 64) return false;
            if (!Arrays.equals(s.toDoubleArray(), t.toDoubleArray())) return false;
        }
        return true;
    }

    /** Node i's input values (null for an omitted optional input). */
    private static List<Value> inputs(GraphPlan plan, int i, Frame frame) {
        OnnxNode node = plan.graph.nodes().get(i);
        List<Value> ins = new ArrayList<>(node.inputs().size());
        for (String name : node.inputs()) {
            if (name.isEmpty()) {
                ins.add(null);
                continue;
            }
            Value v = frame.lookup(name);
            if (v == null) throw new OnnxException(node.describe() + " (opset " + plan.opsets[i] + "): input '" + name
                    + "' has no value (an earlier op left out this optional output)");
            ins.add(v);
        }
        return ins;
    }

    /** Runs node i's op on ins (profiled when on) and checks its result count. */
    private List<Value> call(GraphPlan plan, int i, Frame frame, List<Value> ins) {
        OnnxNode node = plan.graph.nodes().get(i);
        int opset = plan.opsets[i];
        OpCall call = new OpCall(node, Collections.unmodifiableList(ins), opset, (g, gi) -> runSubgraph(g, gi, frame), frame.run, frame.runTensors);
        List<Value> outs;
        long t0 = profile == null ? 0 : System.nanoTime();
        try {
            outs = plan.ops[i].run(call);
            OnnxProfile pr = profile;
            if (pr != null) pr.record(pr.byShape() ? shapeKey(node, ins) : node.opType(), System.nanoTime() - t0);
        } catch (OnnxException e) {
            throw e;
        } catch (RuntimeException e) {
            throw new OnnxException(node.describe() + " (opset " + opset + "): " + e.getMessage(), e);
        }
        if (outs == null || outs.size() > node.outputs().size())
            throw new OnnxException(node.describe() + " (opset " + opset + "): op returned "
                    + (outs == null ? "null" : outs.size() + " outputs") + " for " + node.outputs().size() + " declared outputs");
        return outs;
    }

    /** Whether t is one of the tensors the op's inputs hold (an op may return an input as its output). */
    private static boolean heldBy(List<Value> ins, Tensor t) {
        for (Value v : ins) if (holds(v, t)) return true;
        return false;
    }

    private static boolean holds(Value v, Tensor t) {
        return switch (v) {
            case null -> false;
            case Value.TensorValue tv -> tv.tensor() == t;
            case Value.StringTensorValue ignored -> false;
            case Value.SequenceValue sv -> {
                for (Value item : sv.items()) if (holds(item, t)) yield true;
                yield false;
            }
            case Value.OptionalValue ov -> holds(ov.value(), t);
        };
    }

    /**
     * Counts a new name holding {@code v}: tensors already owned gain a reference, new ones become
     * owned unless they are borrowed (one of the op's inputs, or the model's own tensors).
     */
    private void adopt(Frame frame, Value v, List<Value> ins) {
        Values.forEachTensor(v, t -> {
            Integer c = frame.owned.get(t);
            if (c != null) frame.owned.put(t, c + 1);
            else if (!modelTensors.contains(t) && !heldBy(ins, t)) frame.owned.put(t, 1);
        });
    }

    /** A name holding {@code v} died: owned tensors lose a reference and close at zero. */
    private static void release(Frame frame, Value v) {
        Values.forEachTensor(v, t -> {
            Integer c = frame.owned.get(t);
            if (c == null) return;
            if (c > 1) frame.owned.put(t, c - 1);
            else {
                frame.owned.remove(t);
                t.close();
            }
        });
    }

    /** The graph outputs, handed over: owned tensors move to the caller, borrowed ones are aliased. */
    private List<Value> collectOutputs(GraphPlan plan, Frame frame) {
        Set<Tensor> handed = Collections.newSetFromMap(new IdentityHashMap<>());
        List<Value> outs = new ArrayList<>();
        for (ValueInfo o : plan.graph.outputs()) {
            Value v = frame.lookup(o.name());
            if (v == null)
                throw new OnnxException("graph " + GraphPlan.label(plan.graph) + ": output '" + o.name() + "' was not produced");
            outs.add(Values.map(v, t -> frame.owned.containsKey(t) && handed.add(t) ? t : Values.alias(t)));
        }
        closeOwned(frame, handed);
        return outs;
    }

    private static void closeOwned(Frame frame, Set<Tensor> keep) {
        for (Tensor t : frame.owned.keySet()) if (!keep.contains(t)) t.close();
        frame.owned.clear();
        frame.env.clear();
    }

    /** Runs a subgraph in a new scope under {@code parent}; inputs are bound to its declared inputs by position. */
    private List<Value> runSubgraph(OnnxGraph g, List<Value> inputs, Frame parent) {
        GraphPlan plan = plans.get(g);
        if (plan == null) throw new OnnxException("subgraph " + GraphPlan.label(g) + " is not part of this model");
        if (inputs.size() != g.inputs().size())
            throw new OnnxException("subgraph " + GraphPlan.label(g) + " declares " + g.inputs().size() + " inputs, got "
                    + inputs.size());
        Frame frame = new Frame(parent, g.initializers());
        for (int i = 0; i < inputs.size(); i++) frame.env.put(g.inputs().get(i).name(), inputs.get(i));
        return execute(plan, frame, null);
    }

    /** Releases a model's tensors when no executor was made for it (e.g. it has unsupported ops). */
    public static void release(OnnxModel model) {
        for (Tensor t : GraphPlan.modelTensors(model.graph())) t.close();
    }

    /** Releases the model's tensors (initializers and attribute tensors). */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        if (shapeMemo != null) {
            shapeMemo.lock.lock();
            try {
                shapeMemo.close();
            } finally {
                shapeMemo.lock.unlock();
            }
        }
        for (Tensor t : modelTensors) t.close();
    }

    @Override
    public String toString() {
        return "OnnxExecutor[" + model.graph().nodes().size() + " nodes, opset " + model.opset() + ", inputs "
                + Arrays.toString(feedInputs().stream().map(ValueInfo::name).toArray()) + "]";
    }
}
