package dev.kiln.savedmodel;

import dev.kiln.io.KilnFormatException;
import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.OnnxAttribute;
import dev.kiln.onnx.OnnxGraph;
import dev.kiln.onnx.OnnxModel;
import dev.kiln.onnx.OnnxNode;
import dev.kiln.onnx.Value;
import dev.kiln.onnx.ValueInfo;
import dev.kiln.onnx.proto.ProtoReader;
import dev.kiln.savedmodel.TfGraph.Attr;
import dev.kiln.savedmodel.TfGraph.Function;
import dev.kiln.savedmodel.TfGraph.MetaGraph;
import dev.kiln.savedmodel.TfGraph.Node;
import dev.kiln.savedmodel.TfGraph.Signature;
import dev.kiln.savedmodel.TfGraph.TensorInfo;
import dev.kiln.tensor.Tensor;

import java.io.IOException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Lowers one signature of a TensorFlow graph to an ONNX graph of Kiln's ops, so that a SavedModel
 * runs through the same executor, graph fusions and kernels as an ONNX file (and exports to ONNX
 * for free).
 * <p>
 * Only what the signature's outputs depend on is lowered (the saver, initializers and other
 * signatures are not); control dependencies are not followed (after loading, a serving graph's
 * variables are constants, so they only order initialization). Variables ({@code VarHandleOp},
 * {@code VariableV2}) become initializers read from the checkpoint; {@code ReadVariableOp} and
 * {@code Identity} are aliases; function calls ({@code StatefulPartitionedCall},
 * {@code PartitionedCall}) are inlined, with recursion refused. NHWC convolutions and pools run
 * in NCHW: a tensor keeps its NCHW form through elementwise ops, bias adds and batch norms, and is
 * transposed back only where an op needs TensorFlow's layout. Every op the signature needs that
 * Kiln cannot lower is reported together, before anything runs.
 */
public final class TfImporter {
    /** Every TensorFlow op name the importer lowers, for the op table. */
    public static java.util.Set<String> supportedOps() { return TfOps.names(); }

    /** Depth of nested function calls accepted (a cycle of calls is reported as such before this). */
    static final int MAX_CALL_DEPTH = 64;
    /** Ops the importer handles itself (constants, inputs, variables, aliases, calls), outside the op table. */
    static final Set<String> STRUCTURAL = Set.of("Const", "Placeholder", "PlaceholderWithDefault", "Identity", "ReadVariableOp",
            "StopGradient", "Snapshot", "PreventGradient", "EnsureShape", "CheckNumerics", "IdentityN", "NoOp", "VarHandleOp",
            "VariableV2", "Variable", "StatefulPartitionedCall", "PartitionedCall");

    /**
     * A lowered TF tensor: its ONNX value name, whether it is held in NCHW while TensorFlow sees
     * it as NHWC ({@code nchw}), its element type and its rank when known (null, -1: unknown).
     */
    record T(String name, boolean nchw, ElemType type, int rank) {}

    /** One graph or inlined function body: its nodes by name and lowered outputs. */
    private static final class Scope {
        final String prefix;
        final Map<String, Node> nodes = new LinkedHashMap<>();
        final Map<String, T> args;
        final Map<String, T> feeds;
        final Map<String, List<T>> done = new HashMap<>();
        final boolean function;

        Scope(String prefix, List<Node> nodes, Map<String, T> args, Map<String, T> feeds, boolean function, String what)
                throws KilnFormatException {
            this.prefix = prefix;
            this.args = args;
            this.feeds = feeds;
            this.function = function;
            for (Node n : nodes)
                if (this.nodes.put(n.name(), n) != null)
                    throw new KilnFormatException(what + ": two nodes named '" + ProtoReader.printable(n.name(), 80) + "'");
        }
    }

    private final String file;
    private final MetaGraph meta;
    private final TensorBundle bundle;
    private final List<OnnxNode> nodes = new ArrayList<>();
    private final Map<String, Value> initializers = new LinkedHashMap<>();
    private final Map<String, String> otherLayout = new HashMap<>();
    private final Map<String, T> variables = new HashMap<>();
    private final Map<String, String> restoreKeys;
    private final Set<String> unsupported = new TreeSet<>();
    private final Deque<String> callStack = new ArrayDeque<>();
    private final Set<String> usedNames = new HashSet<>();
    private int counter;
    private int calls;

    private TfImporter(String file, MetaGraph meta, TensorBundle bundle) throws KilnFormatException {
        this.file = file;
        this.meta = meta;
        this.bundle = bundle;
        this.restoreKeys = TfVariables.restoreKeys(meta.nodes(), meta.functions(), file);
    }

    /** The ONNX model of one signature; its graph inputs and outputs are named by the signature's keys. */
    static OnnxModel lower(String file, MetaGraph meta, Signature sig, TensorBundle bundle) throws IOException {
        TfImporter imp = new TfImporter(file, meta, bundle);
        try {
            return imp.lowerSignature(sig);
        } catch (IOException | RuntimeException e) {
            for (Value v : imp.initializers.values()) if (v instanceof Value.TensorValue tv) tv.tensor().close();
            throw e;
        }
    }

    private OnnxModel lowerSignature(Signature sig) throws IOException {
        Map<String, T> feeds = new HashMap<>();
        List<ValueInfo> inputs = new ArrayList<>();
        for (Map.Entry<String, TensorInfo> e : sig.inputs().entrySet()) {
            TensorInfo ti = e.getValue();
            ElemType type = TfTensors.elemType(ti.dtype());
            if (type == null) throw new KilnFormatException(file + ": signature '" + ProtoReader.printable(sig.key(), 80) + "' input '" + ProtoReader.printable(e.getKey(), 80) + "' is "
                    + TfTensors.name(ti.dtype()) + " (not supported)");
            String name = claim(e.getKey());
            List<Object> dims = null;
            if (ti.shape() != null) {
                dims = new ArrayList<>();
                for (int i = 0; i < ti.shape().length; i++)
                    dims.add(ti.shape()[i] >= 0 ? (Object) ti.shape()[i] : i == 0 ? (Object) "batch" : (Object) (e.getKey() + "_d" + i));
            }
            inputs.add(new ValueInfo(name, ValueInfo.Kind.TENSOR, type, dims, null));
            feeds.put(canonical(ti.name()), new T(name, false, type, ti.shape() == null ? -1 : ti.shape().length));
        }
        Scope top = new Scope("", meta.nodes(), Map.of(), feeds, false, file);
        Map<String, T> outs = new LinkedHashMap<>();
        List<String> roots = new ArrayList<>();
        for (TensorInfo ti : sig.outputs().values()) roots.add(ti.name());
        lowerAll(top, roots);
        if (!unsupported.isEmpty())
            throw new KilnFormatException(file + ": signature '" + ProtoReader.printable(sig.key(), 80) + "' needs TensorFlow ops Kiln does not support: "
                    + String.join(", ", unsupported));
        List<ValueInfo> outputs = new ArrayList<>();
        for (Map.Entry<String, TensorInfo> e : sig.outputs().entrySet()) {
            T t = nhwc(ref(top, e.getValue().name()));
            String name = claim(sig.inputs().containsKey(e.getKey()) ? e.getKey() + "_out" : e.getKey());
            nodes.add(node("Identity", List.of(t.name()), List.of(name), Map.of()));
            ElemType type = TfTensors.elemType(e.getValue().dtype());
            outputs.add(new ValueInfo(name, ValueInfo.Kind.TENSOR, type != null ? type : t.type(), null, null));
            outs.put(e.getKey(), t);
        }
        dropUnused();
        OnnxGraph g = new OnnxGraph(sig.key(), List.copyOf(nodes), inputs, outputs, List.of(), Collections.unmodifiableMap(initializers));
        return new OnnxModel(8, "kiln-savedmodel", "", Map.of("", 17L), g);
    }

    /** Closes and forgets constants no node reads (filters re-laid out at import leave their originals behind). */
    private void dropUnused() {
        Set<String> read = new HashSet<>();
        for (OnnxNode n : nodes) read.addAll(n.inputs());
        initializers.entrySet().removeIf(e -> {
            if (read.contains(e.getKey())) return false;
            if (e.getValue() instanceof Value.TensorValue tv) tv.tensor().close();
            return true;
        });
    }

    // ------------------------------------------------------------------ walking a scope

    /** "x" -> "x:0" (graph scope tensor names). */
    private static String canonical(String ref) {
        int c = ref.lastIndexOf(':');
        return c < 0 ? ref + ":0" : ref;
    }

    private record Ref(String node, int index, String arg) {}

    private Ref parse(Scope s, String input) throws KilnFormatException {
        if (!s.function) {
            int c = input.lastIndexOf(':');
            if (c < 0) return new Ref(input, 0, null);
            try {
                return new Ref(input.substring(0, c), Integer.parseInt(input.substring(c + 1)), null);
            } catch (NumberFormatException e) {
                throw new KilnFormatException(file + ": bad tensor reference '" + ProtoReader.printable(input, 80) + "'");
            }
        }
        String[] p = input.split(":", -1);
        if (p.length == 1) {
            if (s.args.containsKey(input)) return new Ref(null, 0, input);
            return new Ref(input, 0, null);
        }
        if (p.length != 3) throw new KilnFormatException(file + ": bad tensor reference '" + ProtoReader.printable(input, 80) + "' in a function body");
        Node n = s.nodes.get(p[0]);
        if (n == null) throw new KilnFormatException(file + ": function body refers to missing node '" + ProtoReader.printable(p[0], 80) + "'");
        try {
            return new Ref(p[0], TfOps.outputIndex(n.op(), p[1], Integer.parseInt(p[2])), null);
        } catch (NumberFormatException e) {
            throw new KilnFormatException(file + ": bad tensor reference '" + ProtoReader.printable(input, 80) + "'");
        }
    }

    /** The lowered tensor an input string refers to (its node must be lowered already). */
    T ref(Scope s, String input) throws KilnFormatException {
        if (!s.function) {
            T fed = s.feeds.get(canonical(input));
            if (fed != null) return fed;
        }
        Ref r = parse(s, input);
        if (r.arg != null) return s.args.get(r.arg);
        List<T> outs = s.done.get(r.node);
        if (outs == null) throw new KilnFormatException(file + ": tensor '" + ProtoReader.printable(input, 80) + "' refers to a node that was not lowered");
        if (!unsupported.isEmpty() && r.index >= 0 && r.index < outs.size() && outs.get(r.index) == null) return null;
        if (r.index < 0 || r.index >= outs.size() || outs.get(r.index) == null)
            throw new KilnFormatException(file + ": '" + ProtoReader.printable(input, 80) + "': node " + s.nodes.get(r.node).describe()
                    + " has no usable output " + r.index);
        return outs.get(r.index);
    }

    /** Data (non-control) inputs of a node whose producers must be lowered first. */
    private List<String> deps(Scope s, Node n) throws KilnFormatException {
        List<String> d = new ArrayList<>();
        for (String in : n.inputs()) {
            if (in.startsWith("^")) continue;
            if (!s.function && s.feeds.containsKey(canonical(in))) continue;
            Ref r = parse(s, in);
            if (r.arg != null) continue;
            if (!s.nodes.containsKey(r.node))
                throw new KilnFormatException(file + ": node " + n.describe() + " reads missing node '" + ProtoReader.printable(r.node, 80) + "'");
            d.add(r.node);
        }
        return d;
    }

    /** Lowers every node the given tensors depend on, in dependency order (an explicit stack: graphs may be deep). */
    private void lowerAll(Scope s, List<String> roots) throws IOException {
        Map<String, Integer> state = new HashMap<>();   // 1 on the stack, 2 lowered
        Deque<Object[]> stack = new ArrayDeque<>();
        for (String root : roots) {
            if (!s.function && s.feeds.containsKey(canonical(root))) continue;
            Ref r = parse(s, root);
            if (r.arg != null) continue;
            if (!s.nodes.containsKey(r.node))
                throw new KilnFormatException(file + ": output '" + ProtoReader.printable(root, 80) + "' names no node of the graph");
            push(s, r.node, state, stack);
            while (!stack.isEmpty()) {
                Object[] top = stack.peek();
                @SuppressWarnings("unchecked") List<String> ds = (List<String>) top[1];
                int i = (Integer) top[2];
                if (i < ds.size()) {
                    top[2] = i + 1;
                    String d = ds.get(i);
                    Integer st = state.get(d);
                    if (st == null) push(s, d, state, stack);
                    else if (st == 1) throw new KilnFormatException(file + ": the graph has a cycle through node " + s.nodes.get(d).describe());
                } else {
                    stack.pop();
                    Node n = (Node) top[0];
                    state.put(n.name(), 2);
                    s.done.put(n.name(), lowerNode(s, n));
                }
            }
        }
    }

    private void push(Scope s, String name, Map<String, Integer> state, Deque<Object[]> stack) throws KilnFormatException {
        Node n = s.nodes.get(name);
        state.put(name, 1);
        stack.push(new Object[] {n, deps(s, n), 0});
    }

    private List<T> lowerNode(Scope s, Node n) throws IOException {
        List<T> in = new ArrayList<>();
        for (String i : n.inputs()) if (!i.startsWith("^")) in.add(ref(s, i));
        if (!STRUCTURAL.contains(n.op()) && !TfOps.supports(n.op())) {
            unsupported.add(ProtoReader.printable(n.op(), 80));
            return unknownOutputs();
        }
        if (in.contains(null)) return unknownOutputs();    // behind an unsupported op: only listing the missing ops now
        try {
            return lowerKnown(s, n, in);
        } catch (IndexOutOfBoundsException e) {
            throw new KilnFormatException(file + ": " + n.describe() + " has " + in.size() + " inputs, too few");
        }
    }

    private List<T> lowerKnown(Scope s, Node n, List<T> in) throws IOException {
        switch (n.op()) {
            case "Const" -> {
                Attr v = n.attrs().get("value");
                if (v == null || v.kind() != Attr.Kind.TENSOR) throw new KilnFormatException(file + ": " + n.describe() + " has no value");
                return List.of(constant(s.prefix + n.name(), TfTensors.decode(v.tensor(), file + ": " + n.describe())));
            }
            case "Placeholder" -> throw new KilnFormatException(file + ": the signature does not feed placeholder " + n.describe());
            case "PlaceholderWithDefault", "Identity", "ReadVariableOp", "StopGradient", "Snapshot", "PreventGradient",
                 "EnsureShape", "CheckNumerics" -> { return List.of(in.get(0)); }
            case "IdentityN" -> { return in; }
            case "NoOp" -> { return List.of(); }
            case "VarHandleOp", "VariableV2", "Variable" -> { return List.of(variable(s, n)); }
            case "StatefulPartitionedCall", "PartitionedCall" -> { return call(s, n, in); }
            default -> {
                if (!unsupported.isEmpty()) return unknownOutputs();   // keep walking to list every missing op
                return TfOps.lower(this, n, in);
            }
        }
    }

    /** Outputs of a node that could not be lowered: placeholders so that the walk goes on. */
    private static List<T> unknownOutputs() {
        List<T> out = new ArrayList<>();
        for (int i = 0; i < 8; i++) out.add(null);
        return out;
    }

    private T variable(Scope s, Node n) throws IOException {
        if (s.function) throw new KilnFormatException(file + ": variable " + n.describe() + " created inside a function body (not supported)");
        T known = variables.get(n.name());
        if (known != null) return known;
        if (bundle == null) throw new KilnFormatException(file + ": the graph reads variable " + n.describe() + " but the SavedModel has no variables/ checkpoint");
        String key = TfVariables.key(n, restoreKeys, bundle);
        if (key == null) throw new KilnFormatException(file + ": no checkpoint entry for variable " + n.describe());
        T t = constant("var/" + key, bundle.read(key));
        variables.put(n.name(), t);
        return t;
    }

    private List<T> call(Scope s, Node n, List<T> in) throws IOException {
        Attr f = n.attrs().get("f");
        if (f == null || f.kind() != Attr.Kind.FUNC) throw new KilnFormatException(file + ": " + n.describe() + " names no function");
        String fname = f.func().name();
        Function fn = meta.functions().get(fname);
        if (fn == null) throw new KilnFormatException(file + ": " + n.describe() + " calls unknown function '" + ProtoReader.printable(fname, 80) + "'");
        if (callStack.contains(fname)) throw new KilnFormatException(file + ": function '" + ProtoReader.printable(fname, 80) + "' calls itself (recursion is not supported)");
        if (callStack.size() >= MAX_CALL_DEPTH) throw new KilnFormatException(file + ": function calls nested deeper than " + MAX_CALL_DEPTH);
        if (in.size() != fn.inputs().size())
            throw new KilnFormatException(file + ": " + n.describe() + " passes " + in.size() + " inputs to '" + ProtoReader.printable(fname, 80) + "', which takes " + fn.inputs().size());
        Map<String, T> args = new HashMap<>();
        for (int i = 0; i < in.size(); i++) args.put(fn.inputs().get(i).name(), in.get(i));
        Scope body = new Scope(s.prefix + n.name() + "/", fn.body(), args, Map.of(), true, file + ": function '" + ProtoReader.printable(fname, 80) + "'");
        callStack.push(fname);
        calls++;
        try {
            List<String> rets = new ArrayList<>();
            for (TfGraph.Arg out : fn.outputs()) {
                String r = fn.ret().get(out.name());
                if (r == null) throw new KilnFormatException(file + ": function '" + ProtoReader.printable(fname, 80) + "' does not define result '" + ProtoReader.printable(out.name(), 80) + "'");
                rets.add(r);
            }
            lowerAll(body, rets);
            List<T> outs = new ArrayList<>();
            for (String r : rets) outs.add(unsupported.isEmpty() ? ref(body, r) : null);
            return outs;
        } finally {
            callStack.pop();
        }
    }

    // ------------------------------------------------------------------ emitting ONNX

    /** A fresh value name derived from base. */
    String fresh(String base) {
        return claim(base + "#" + (counter++));
    }

    private String claim(String name) {
        String n = name;
        while (!usedNames.add(n)) n = name + "#" + (counter++);
        return n;
    }

    /** A constant (an initializer); the importer owns its tensor. */
    T constant(String base, Value.TensorValue v) {
        String name = fresh(base);
        initializers.put(name, v);
        return new T(name, false, v.type(), v.tensor().shape().length);
    }

    /** The constant behind t, or null when t is computed. */
    Value.TensorValue constantOf(T t) {
        if (t == null || t.nchw()) return null;
        return initializers.get(t.name()) instanceof Value.TensorValue tv ? tv : null;
    }

    /** Emits one ONNX node with one output and returns that output's name. */
    String emit(String op, List<String> inputs, Map<String, OnnxAttribute> attrs) {
        String out = fresh(op);
        nodes.add(node(op, inputs, List.of(out), attrs));
        return out;
    }

    /** Emits one ONNX node with n outputs. */
    List<String> emitN(String op, List<String> inputs, Map<String, OnnxAttribute> attrs, int n) {
        List<String> outs = new ArrayList<>();
        for (int i = 0; i < n; i++) outs.add(fresh(op));
        nodes.add(node(op, inputs, outs, attrs));
        return outs;
    }

    private static OnnxNode node(String op, List<String> inputs, List<String> outputs, Map<String, OnnxAttribute> attrs) {
        return new OnnxNode("", op, "", List.copyOf(inputs), List.copyOf(outputs), attrs);
    }

    /** t in TensorFlow's own layout. */
    T nhwc(T t) {
        if (t == null || !t.nchw()) return t;
        return new T(transpose(t.name(), 0, 2, 3, 1), false, t.type(), 4);
    }

    /** t (a 4-d NHWC tensor) held as NCHW. */
    T nchw(T t) {
        if (t.nchw()) return t;
        return new T(transpose(t.name(), 0, 3, 1, 2), true, t.type(), 4);
    }

    private String transpose(String name, long... perm) {
        String cached = otherLayout.get(name);
        if (cached != null) return cached;
        String out = emit("Transpose", List.of(name), Map.of("perm", OnnxAttribute.ofInts("perm", perm)));
        otherLayout.put(name, out);
        otherLayout.put(out, name);
        return out;
    }

    /** An int64 constant (1-d). */
    T int64s(String base, long... values) {
        return constant(base, Value.of(Tensor.fromArray(values, values.length)));
    }

    String file() { return file; }

    /** Function calls inlined so far (for {@code kiln info}). */
    int inlinedCalls() { return calls; }
}
