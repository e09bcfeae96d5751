package dev.kiln.onnx;

import dev.kiln.onnx.ops.OnnxOp;
import dev.kiln.onnx.ops.OpRegistry;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What the executor decides once per graph at load time: the op implementation and opset of every
 * node, which names die after which node (last use, counting uses inside nested subgraphs), and
 * the names the graph reads from enclosing scopes. Building it checks that nodes are in
 * topological order and reports every unsupported op at once.
 */
final class GraphPlan {
    final OnnxGraph graph;
    final OnnxOp[] ops;
    final int[] opsets;
    /** releaseAfter.get(i): node-produced names whose last use is node i (never graph outputs). */
    final List<List<String>> releaseAfter;
    /** Names read from enclosing scopes (by this graph's nodes or its nested subgraphs). */
    final Set<String> freeVars;
    final Set<String> outputNames;
    /**
     * shapeOnly[i]: node i computes from tensor shapes and constants only: a Shape or Size of
     * anything, or a small-arithmetic op (see {@link #SHAPE_ARITHMETIC}) whose every input is an
     * initializer or another such node's output, with no graph output among its own. Its results
     * are the same for inputs of the same shapes (the executor keeps them between runs).
     */
    final boolean[] shapeOnly;
    /** shapeInputs[i]: for a shapeOnly node, the shapeOnly nodes producing its inputs. */
    final int[][] shapeInputs;

    /** Ops that read their inputs' shapes only. */
    static final Set<String> SHAPE_SOURCES = Set.of("Shape", "Size");
    /** Deterministic ops that HF-style exports apply to shapes (index arithmetic, masks, position ids). */
    static final Set<String> SHAPE_ARITHMETIC = Set.of("Gather", "Unsqueeze", "Squeeze", "Concat", "Cast", "Slice", "Reshape",
            "Add", "Sub", "Mul", "Div", "Mod", "Neg", "Abs", "Min", "Max", "Floor", "Ceil", "Sqrt", "Equal", "Less", "Greater",
            "LessOrEqual", "GreaterOrEqual", "Not", "And", "Or", "Where", "Range", "ConstantOfShape", "Expand", "Identity",
            "ReduceProd", "ReduceSum", "ReduceMin", "ReduceMax", "Constant", "Transpose", "Tile", "Trilu");

    private GraphPlan(OnnxGraph graph, OnnxOp[] ops, int[] opsets, List<List<String>> releaseAfter, Set<String> freeVars,
                      Set<String> outputNames, boolean[] shapeOnly, int[][] shapeInputs) {
        this.shapeOnly = shapeOnly;
        this.shapeInputs = shapeInputs;
        this.graph = graph;
        this.ops = ops;
        this.opsets = opsets;
        this.releaseAfter = releaseAfter;
        this.freeVars = freeVars;
        this.outputNames = outputNames;
    }

    /** Plans the model's graph and every nested subgraph into {@code plans}. */
    static void planModel(OnnxModel model, OpRegistry registry, Map<OnnxGraph, GraphPlan> plans) {
        Map<String, String> unsupported = new java.util.LinkedHashMap<>(); // domain.op -> first message
        plan(model, model.graph(), Set.of(), registry, plans, unsupported);
        if (unsupported.size() == 1) throw new OnnxException(unsupported.values().iterator().next());
        if (!unsupported.isEmpty())
            throw new OnnxException(unsupported.size() + " unsupported ONNX ops: "
                    + String.join("; ", unsupported.values().stream().map(m -> m.replaceFirst("^unsupported ONNX op ", "")).toList()));
    }

    private static GraphPlan plan(OnnxModel model, OnnxGraph g, Set<String> outer, OpRegistry registry,
                                  Map<OnnxGraph, GraphPlan> plans, Map<String, String> unsupported) {
        List<OnnxNode> nodes = g.nodes();
        int n = nodes.size();
        OnnxOp[] ops = new OnnxOp[n];
        int[] opsets = new int[n];
        Set<String> known = new HashSet<>(outer);
        Set<String> local = new HashSet<>();
        for (ValueInfo in : g.inputs()) local.add(in.name());
        local.addAll(g.initializers().keySet());
        known.addAll(local);
        Set<String> free = new LinkedHashSet<>();
        Map<String, Integer> lastUse = new HashMap<>();
        Map<String, Integer> producer = new HashMap<>();
        for (int i = 0; i < n; i++) {
            OnnxNode node = nodes.get(i);
            boolean fused = FusedOps.isFused(node);
            opsets[i] = opsetOf(model, fused ? "" : node.domain());
            try {
                ops[i] = fused ? FusedOps.lookup(node, opsets[i], registry) : registry.lookup(node, opsets[i]);
            } catch (OnnxException e) {
                unsupported.putIfAbsent(node.domain() + "." + node.opType(), e.getMessage());
            }
            Set<String> uses = new LinkedHashSet<>();
            for (String in : node.inputs()) if (!in.isEmpty()) uses.add(in);
            for (OnnxGraph sub : subgraphs(node)) {
                GraphPlan sp = plan(model, sub, known, registry, plans, unsupported);
                uses.addAll(sp.freeVars);
            }
            for (String u : uses) {
                if (!known.contains(u))
                    throw new OnnxException("node " + i + " " + node.describe() + ": input '" + u
                            + "' is not a graph input, an initializer or the output of an earlier node");
                if (!local.contains(u)) free.add(u);
                lastUse.put(u, i);
            }
            for (String out : node.outputs()) {
                if (out.isEmpty()) continue;
                if (producer.putIfAbsent(out, i) != null || local.contains(out))
                    throw new OnnxException("node " + i + " " + node.describe() + ": output '" + out + "' is produced twice");
                known.add(out);
                local.add(out);
            }
        }
        Set<String> outputNames = new LinkedHashSet<>();
        for (ValueInfo o : g.outputs()) {
            if (!known.contains(o.name()))
                throw new OnnxException("graph " + label(g) + ": output '" + o.name() + "' is never produced");
            if (!local.contains(o.name())) free.add(o.name());
            outputNames.add(o.name());
        }
        List<List<String>> release = new ArrayList<>(n);
        for (int i = 0; i < n; i++) release.add(new ArrayList<>());
        for (Map.Entry<String, Integer> p : producer.entrySet()) {
            if (outputNames.contains(p.getKey())) continue;
            int when = Math.max(p.getValue(), lastUse.getOrDefault(p.getKey(), -1));
            release.get(when).add(p.getKey());
        }
        boolean[] shapeOnly = new boolean[n];
        int[][] shapeInputs = new int[n][];
        Set<String> graphInputs = new HashSet<>();
        for (ValueInfo in : g.inputs()) graphInputs.add(in.name());
        for (int i = 0; i < n; i++) {
            OnnxNode node = nodes.get(i);
            boolean std = node.domain().isEmpty() || node.domain().equals("ai.onnx");
            boolean ok = std && subgraphs(node).isEmpty() && (SHAPE_SOURCES.contains(node.opType()) || SHAPE_ARITHMETIC.contains(node.opType()));
            for (String out : node.outputs()) if (outputNames.contains(out)) ok = false;
            List<Integer> from = new ArrayList<>();
            if (ok && !SHAPE_SOURCES.contains(node.opType())) {
                for (String in : node.inputs()) {
                    if (in.isEmpty()) continue;
                    Integer prod = producer.get(in);
                    if (prod != null && shapeOnly[prod]) from.add(prod);
                    else if (prod != null || graphInputs.contains(in) || !g.initializers().containsKey(in)) { ok = false; break; }
                }
            }
            shapeOnly[i] = ok;
            shapeInputs[i] = ok ? from.stream().mapToInt(Integer::intValue).toArray() : null;
        }
        GraphPlan plan = new GraphPlan(g, ops, opsets, release, free, outputNames, shapeOnly, shapeInputs);
        plans.put(g, plan);
        return plan;
    }

    /** The graph attributes of a node (If branches, Loop/Scan bodies, ...). */
    static List<OnnxGraph> subgraphs(OnnxNode node) {
        List<OnnxGraph> out = new ArrayList<>();
        for (OnnxAttribute a : node.attributes().values()) {
            if (a.g() != null) out.add(a.g());
            out.addAll(a.graphs());
        }
        return out;
    }

    /** The opset version the model imports for a domain (the ai.onnx version for the default domain). */
    static int opsetOf(OnnxModel model, String domain) {
        if (domain.isEmpty() || domain.equals("ai.onnx")) return model.opset();
        Long v = model.opsets().get(domain);
        return v == null ? 1 : Math.toIntExact(v);
    }

    /** Every tensor the model holds (initializers and attribute tensors, nested graphs included). */
    static Set<dev.kiln.tensor.Tensor> modelTensors(OnnxGraph g) {
        Set<dev.kiln.tensor.Tensor> out = java.util.Collections.newSetFromMap(new IdentityHashMap<>());
        collect(g, out);
        return out;
    }

    private static void collect(OnnxGraph g, Set<dev.kiln.tensor.Tensor> out) {
        for (Value t : g.initializers().values()) Values.forEachTensor(t, out::add);
        for (OnnxNode node : g.nodes()) {
            for (OnnxAttribute a : node.attributes().values()) {
                Values.forEachTensor(a.t(), out::add);
                for (Value.TensorValue t : a.tensors()) out.add(t.tensor());
            }
            for (OnnxGraph sub : subgraphs(node)) collect(sub, out);
        }
    }

    static String label(OnnxGraph g) { return g.name() == null || g.name().isEmpty() ? "(unnamed)" : "'" + g.name() + "'"; }
}
