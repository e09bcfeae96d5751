package dev.kiln.onnx.ops;

import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.OnnxAttribute;
import dev.kiln.onnx.OnnxException;
import dev.kiln.onnx.OnnxGraph;
import dev.kiln.onnx.OnnxNode;
import dev.kiln.onnx.Value;
import dev.kiln.onnx.Values;
import dev.kiln.tensor.Tensor;

import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * One invocation of an op: the node, its input values (null where the node omits an optional
 * input), the model's opset, and a way to run subgraphs. Attribute getters take the spec's default;
 * {@link #error} builds an exception that names the op, the node and the opset.
 */
public final class OpCall {
    private final OnnxNode node;
    private final List<Value> inputs;
    private final int opset;
    private final SubgraphRunner subgraphs;
    private final long run;
    private final RunTensors runTensors;

    public OpCall(OnnxNode node, List<Value> inputs, int opset, SubgraphRunner subgraphs) { this(node, inputs, opset, subgraphs, -1, null); }

    /**
     * run: the executor run this call belongs to (see {@link #run()}); runTensors: the tensors its
     * graph's ops hand to each other within the run (see {@link #runTensors()}), or null.
     */
    public OpCall(OnnxNode node, List<Value> inputs, int opset, SubgraphRunner subgraphs, long run, RunTensors runTensors) {
        this.node = node;
        this.inputs = inputs;
        this.opset = opset;
        this.subgraphs = subgraphs;
        this.run = run;
        this.runTensors = runTensors;
    }

    /**
     * Tensors one op of a graph leaves, by a key the graph optimizer gave both, for a later op of the
     * same run (dev.kiln ConcatSlot writes its result into a slot of the StackNested output that
     * reads it, which then takes the whole tensor). A tensor put here belongs to the run until an op
     * takes it; the executor closes any left when the run ends, however it ends.
     */
    public interface RunTensors {
        /** The tensor under key, or null. */
        Tensor get(String key);
        /** Puts t under key (the run owns it from now on). */
        void put(String key, Tensor t);
        /** Removes and returns the tensor under key (the caller owns it), or null. */
        Tensor take(String key);
    }

    /** This run's {@link RunTensors} for the node's graph, or null where the caller has none (ops then run as if no earlier op had left anything). */
    public RunTensors runTensors() { return runTensors; }

    /**
     * An id of the executor run this call is part of, unique per run (-1: not known). Within one run
     * no op writes a value another op reads, so an op may keep something it derived from an input
     * value for the rest of the run (keyed on the tensor object and this id), never across runs: a
     * caller may change an input tensor's contents between runs.
     */
    public long run() { return run; }

    public OnnxNode node() { return node; }

    public int opset() { return opset; }

    /** Number of inputs the node lists (including omitted optional ones). */
    public int inputCount() { return inputs.size(); }

    /** Number of outputs the node lists. */
    public int outputCount() { return node.outputs().size(); }

    /** Whether the node names output {@code i} (a non-empty name). */
    public boolean wantsOutput(int i) { return i < node.outputs().size() && !node.outputs().get(i).isEmpty(); }

    /** Whether input {@code i} is present (listed and not empty). */
    public boolean has(int i) { return i < inputs.size() && inputs.get(i) != null; }

    /** Input {@code i} as a value (required). */
    public Value value(int i) {
        if (!has(i)) throw error("missing required input " + i);
        return inputs.get(i);
    }

    /** Input {@code i} or null when omitted. */
    public Value valueOrNull(int i) { return has(i) ? inputs.get(i) : null; }

    /** Input {@code i} as a tensor (required). */
    public Tensor in(int i) {
        Value v = value(i);
        if (v instanceof Value.TensorValue tv) return tv.tensor();
        throw error("input " + i + " must be a numeric tensor, got " + Values.describe(v));
    }

    /** Input {@code i} as a string tensor (required). */
    public Value.StringTensorValue strings(int i) {
        Value v = value(i);
        if (v instanceof Value.StringTensorValue st) return st;
        throw error("input " + i + " must be a string tensor, got " + Values.describe(v));
    }

    /** Input {@code i} as a tensor, or null when omitted. */
    public Tensor inOrNull(int i) { return has(i) ? in(i) : null; }

    /** The ONNX element type of tensor input {@code i} ({@link ElemType#STRING} for a string tensor). */
    public ElemType type(int i) {
        if (value(i) instanceof Value.TensorValue tv) return tv.type();
        if (value(i) instanceof Value.StringTensorValue) return ElemType.STRING;
        throw error("input " + i + " must be a tensor");
    }

    /** Tensor input {@code i} read as longs (shape/axes/indices inputs). */
    public long[] longs(int i) { return in(i).toLongArray(); }   // (a contiguous() view left open held the storage until GC)

    /** Tensor input {@code i} as ints, checking each fits in an int. */
    public int[] ints(int i) { return toInts(longs(i), "input " + i); }

    public boolean hasAttr(String name) { return node.attributes().containsKey(name); }

    public OnnxAttribute attr(String name) { return node.attributes().get(name); }

    public long attrInt(String name, long def) {
        OnnxAttribute a = attr(name);
        return a == null ? def : a.i();
    }

    public float attrFloat(String name, float def) {
        OnnxAttribute a = attr(name);
        return a == null ? def : a.f();
    }

    public String attrString(String name, String def) {
        OnnxAttribute a = attr(name);
        return a == null || a.s() == null ? def : new String(a.s(), StandardCharsets.UTF_8);
    }

    /** An INTS attribute, or {@code def} (may be null) when absent. */
    public long[] attrInts(String name, long[] def) {
        OnnxAttribute a = attr(name);
        return a == null ? def : a.ints();
    }

    /** An INTS attribute as ints, or {@code def} when absent. */
    public int[] attrIntArray(String name, int[] def) {
        OnnxAttribute a = attr(name);
        return a == null ? def : toInts(a.ints(), "attribute " + name);
    }

    public float[] attrFloats(String name, float[] def) {
        OnnxAttribute a = attr(name);
        return a == null ? def : a.floats();
    }

    /** A numeric tensor attribute (null when absent); a STRING tensor attribute is an error here. */
    public Value.TensorValue attrTensor(String name) {
        Value v = attrValue(name);
        if (v == null || v instanceof Value.TensorValue) return (Value.TensorValue) v;
        throw error("attribute '" + name + "' must be a numeric tensor, got " + Values.describe(v));
    }

    /** A tensor attribute as a value: numeric or string tensor (null when absent). */
    public Value attrValue(String name) {
        OnnxAttribute a = attr(name);
        return a == null ? null : a.t();
    }

    public OnnxGraph attrGraph(String name) {
        OnnxAttribute a = attr(name);
        if (a == null || a.g() == null) throw error("missing graph attribute '" + name + "'");
        return a.g();
    }

    /** Runs a subgraph attribute (If/Loop/Scan bodies). */
    public List<Value> runGraph(OnnxGraph g, List<Value> graphInputs) { return subgraphs.run(g, graphInputs); }

    public SubgraphRunner subgraphs() { return subgraphs; }

    /** An exception naming the op, the node and the opset: "Conv 'c1' (opset 13): message". */
    public OnnxException error(String message) {
        return new OnnxException(node.describe() + " (opset " + opset + "): " + message);
    }

    private int[] toInts(long[] v, String what) {
        int[] r = new int[v.length];
        for (int k = 0; k < v.length; k++) {
            if (v[k] != (int) v[k]) throw error(what + " value " + v[k] + " does not fit in an int");
            r[k] = (int) v[k];
        }
        return r;
    }
}
