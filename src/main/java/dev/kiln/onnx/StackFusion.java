package dev.kiln.onnx;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The stack of stacks a decoder export writes for its present key/values (Hugging Face GPT-2 with
 * past: per layer k and v stacked, then the layers stacked), with every intermediate read once:
 * <pre>
 *   s_i = Concat(axis 0; Unsqueeze(w_i0, [0]), ..., Unsqueeze(w_i(m-1), [0]))    i &lt; n
 *   y   = Concat(axis 0; Unsqueeze(s_0, [0]), ..., Unsqueeze(s_(n-1), [0]))
 * </pre>
 * becomes one node y = "StackNested"(w_00, w_01, ..., w_(n-1)(m-1); inner = m) in domain
 * {@value FusedOps#DOMAIN}: each w is copied once, into its [i, j] slot of y, where the written-out
 * form copied every element twice (into s_i, then into y) and ran 3 n + n m + 1 nodes. A w made by
 * a Concat (a layer's past and new keys) becomes a dev.kiln "ConcatSlot" that writes into its slot
 * of y directly, so the stack copies nothing for it ({@code onnx.ops.ShapeSlots}).
 */
final class StackFusion {
    private StackFusion() {}

    /** Rewrites every match; returns whether anything changed. */
    static boolean apply(FusionGraph g) {
        boolean changed = false;
        List<OnnxNode> nodes = g.nodes();
        for (int i = 0; i < nodes.size(); i++) {
            OnnxNode y = nodes.get(i);
            if (y == null || !concatAxis0(y) || y.outputs().size() != 1 || y.inputs().size() < 2) continue;
            List<String> ws = new ArrayList<>();
            List<Integer> removed = new ArrayList<>();
            int inner = -1;
            boolean ok = true;
            for (String x : y.inputs()) {
                int u = unsqueeze0(g, x);
                int c = u < 0 ? -1 : g.producer(nodes.get(u).inputs().get(0), "Concat", 1);
                if (c < 0 || !concatAxis0(nodes.get(c)) || (inner >= 0 && nodes.get(c).inputs().size() != inner)) {
                    ok = false;
                    break;
                }
                inner = nodes.get(c).inputs().size();
                removed.add(u);
                removed.add(c);
                for (String z : nodes.get(c).inputs()) {
                    int v = unsqueeze0(g, z);
                    if (v < 0) {
                        ok = false;
                        break;
                    }
                    removed.add(v);
                    ws.add(nodes.get(v).inputs().get(0));
                }
                if (!ok) break;
            }
            if (!ok) continue;
            for (int j : removed) {
                OnnxNode r = nodes.get(j);
                if (r.opType().equals("Unsqueeze") && r.inputs().size() > 1) g.use(r.inputs().get(1), -1);   // its axes constant
                nodes.set(j, null);
            }
            String dest = y.outputs().get(0);
            nodes.set(i, new OnnxNode(y.name(), "StackNested", FusedOps.DOMAIN, ws, y.outputs(),
                    Map.of("inner", OnnxAttribute.ofInt("inner", inner), "dest", OnnxAttribute.ofString("dest", dest))));
            g.produced(dest, i);
            writeInPlace(g, ws, dest, inner);
            changed = true;
        }
        return changed;
    }

    /**
     * Each stacked w that a Concat with one output produces becomes a dev.kiln ConcatSlot writing
     * straight into its slot of the stack dest (see {@code onnx.ops.ShapeSlots}); a w stacked twice
     * is written into its first slot (the stack copies the other); a w that is also a graph output
     * stays a Concat (a caller gets outputs that share no memory).
     */
    private static void writeInPlace(FusionGraph g, List<String> ws, String dest, int inner) {
        List<OnnxNode> nodes = g.nodes();
        java.util.Set<String> done = new java.util.HashSet<>();
        for (int slot = 0; slot < ws.size(); slot++) {
            String w = ws.get(slot);
            int c = g.producerOf(w);
            if (c < 0 || !done.add(w) || g.isOutput(w)) continue;     // a graph output keeps memory of its own
            OnnxNode n = nodes.get(c);
            OnnxAttribute axis = n.attributes().get("axis");
            if (!FusionGraph.isDefault(n, "Concat") || n.outputs().size() != 1 || axis == null) continue;
            nodes.set(c, new OnnxNode(n.name(), "ConcatSlot", FusedOps.DOMAIN, n.inputs(), n.outputs(), Map.of(
                    "axis", axis, "dest", OnnxAttribute.ofString("dest", dest), "slot", OnnxAttribute.ofInt("slot", slot),
                    "count", OnnxAttribute.ofInt("count", ws.size()), "inner", OnnxAttribute.ofInt("inner", inner))));
        }
    }

    private static boolean concatAxis0(OnnxNode n) {
        OnnxAttribute a = n.attributes().get("axis");
        return FusionGraph.isDefault(n, "Concat") && a != null && a.i() == 0;
    }

    /** Index of the Unsqueeze with axes [0] (attribute or constant input) producing name, read once; -1 if not. */
    private static int unsqueeze0(FusionGraph g, String name) {
        int u = g.producer(name, "Unsqueeze", 1);
        if (u < 0) return -1;
        OnnxNode n = g.nodes().get(u);
        OnnxAttribute attr = n.attributes().get("axes");
        long[] axes = attr != null ? attr.ints() : null;
        if (axes == null && n.inputs().size() > 1) {
            Value.TensorValue c = g.constant(n.inputs().get(1));
            axes = c == null ? null : c.tensor().toLongArray();
        }
        return axes != null && axes.length == 1 && axes[0] == 0 ? u : -1;
    }
}
