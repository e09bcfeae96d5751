package dev.kiln.onnx;

import java.util.List;
import java.util.Map;

/**
 * Finds LayerNorm over the last axis written out as ONNX ops (torch exports at opsets below 17,
 * which have no LayerNormalization op) and replaces it by one "LayerNormalization" node in domain
 * {@value FusedOps#DOMAIN} (the engine's fused layer norm, one pass instead of nine):
 * <pre>
 *   m = ReduceMean(x, axes=[-1]);  d = Sub(x, m);  v = ReduceMean(Pow(d, 2), axes=[-1]);
 *   n = Div(d, Sqrt(Add(v, eps)));  y = Add(Mul(n, gamma), beta)
 * </pre>
 * with eps a scalar constant, gamma and beta constant vectors of the last dim's size, axes given
 * as an attribute or a constant input, keepdims 1, Mul and Add operands in either order, and every
 * intermediate used only inside the pattern (d exactly twice). Also TensorFlow's form ({@link #keras}).
 * The fused op computes in higher precision than the written-out float ops, so outputs agree to
 * float rounding, not bit for bit.
 */
final class LayerNormFusion {
    private LayerNormFusion() {}

    static boolean apply(FusionGraph g) {
        boolean changed = false;
        List<OnnxNode> nodes = g.nodes();
        for (int i = 0; i < nodes.size(); i++) {
            OnnxNode add = nodes.get(i);
            if (add == null || !FusionGraph.isDefault(add, "Add") || add.inputs().size() != 2) continue;
            if (keras(g, i)) {
                changed = true;
                continue;
            }
            for (int side = 0; side < 2; side++) {
                int mul = g.producer(add.inputs().get(side), "Mul", 1);
                String beta = add.inputs().get(1 - side);
                if (mul < 0 || !vector(g, beta)) continue;
                Match m = scaled(g, nodes.get(mul));
                if (m == null || !vector(g, m.gamma) || size(g, m.gamma) != size(g, beta)) continue;
                for (int j : new int[]{mul, m.div, m.sqrt, m.addEps, m.var, m.pow, m.sub, m.mean}) nodes.set(j, null);
                nodes.set(i, new OnnxNode(add.name(), "LayerNormalization", FusedOps.DOMAIN, List.of(m.x, m.gamma, beta), add.outputs(),
                        Map.of("epsilon", OnnxAttribute.ofFloat("epsilon", m.eps))));
                g.produced(add.outputs().get(0), i);
                g.use(m.x, -1);                                   // x was read by ReduceMean and Sub, now by the one node
                changed = true;
                break;
            }
        }
        return changed;
    }

    /**
     * The form of TensorFlow's {@code tf.nn.batch_normalization} over moments (Keras layer norms,
     * TF graphs lowered by {@code dev.kiln.savedmodel}, tf2onnx exports):
     * <pre>
     *   m = ReduceMean(x);  d = Sub(x, m);  v = ReduceMean(Mul(d, d));
     *   inv = Mul(Reciprocal(Sqrt(Add(v, eps))), gamma);  y = Add(Mul(x, inv), Sub(beta, Mul(m, inv)))
     * </pre>
     * (Mul and Add operands in either order; inv and m read twice, d twice by its one Mul.) Rewrites
     * the Add at index i and returns true on a match.
     */
    private static boolean keras(FusionGraph g, int i) {
        List<OnnxNode> nodes = g.nodes();
        OnnxNode add = nodes.get(i);
        for (int side = 0; side < 2; side++) {
            int xm = g.producer(add.inputs().get(side), "Mul", 1), bs = g.producer(add.inputs().get(1 - side), "Sub", 1);
            if (xm < 0 || bs < 0) continue;
            String beta = nodes.get(bs).inputs().get(0);
            int mi = g.producer(nodes.get(bs).inputs().get(1), "Mul", 1);
            if (!vector(g, beta) || mi < 0) continue;
            for (int k = 0; k < 2; k++) {
                String inv = nodes.get(xm).inputs().get(1 - k), x = nodes.get(xm).inputs().get(k);
                List<String> mIn = nodes.get(mi).inputs();
                if (!mIn.contains(inv) || g.uses(inv) != 2) continue;
                String m = mIn.get(0).equals(inv) ? mIn.get(1) : mIn.get(0);
                int mean = producedBy(g, m, "ReduceMean", 2);
                if (mean < 0 || !nodes.get(mean).inputs().get(0).equals(x) || !lastAxis(g, nodes.get(mean))) continue;
                int scale = producedBy(g, inv, "Mul", 2);
                if (scale < 0) continue;
                for (int j = 0; j < 2; j++) {
                    String gamma = nodes.get(scale).inputs().get(j);
                    int rec = g.producer(nodes.get(scale).inputs().get(1 - j), "Reciprocal", 1);
                    if (!vector(g, gamma) || size(g, gamma) != size(g, beta) || rec < 0) continue;
                    int sqrt = g.producer(nodes.get(rec).inputs().get(0), "Sqrt", 1);
                    Variance v = sqrt < 0 ? null : variance(g, nodes.get(sqrt).inputs().get(0));
                    if (v == null) continue;
                    int addEps = v.addEps, var = v.var;
                    double eps = v.eps;
                    int sq = g.producer(nodes.get(var).inputs().get(0), "Mul", 1);
                    if (sq < 0 || !nodes.get(sq).inputs().get(0).equals(nodes.get(sq).inputs().get(1))) continue;
                    String d = nodes.get(sq).inputs().get(0);
                    int sub = producedBy(g, d, "Sub", 2);
                    if (sub < 0 || !nodes.get(sub).inputs().equals(List.of(x, m))) continue;
                    for (int dead : new int[]{xm, bs, mi, scale, rec, sqrt, addEps, var, sq, sub, mean}) nodes.set(dead, null);
                    nodes.set(i, new OnnxNode(add.name(), "LayerNormalization", FusedOps.DOMAIN, List.of(x, gamma, beta), add.outputs(),
                            Map.of("epsilon", OnnxAttribute.ofFloat("epsilon", (float) eps))));
                    g.produced(add.outputs().get(0), i);
                    g.use(x, -2);                                 // x was read by ReduceMean, Sub and Mul, now by the one node
                    return true;
                }
            }
        }
        return false;
    }

    /** Add(ReduceMean over the last axis, scalar eps) producing name: the two nodes and eps. */
    private record Variance(int addEps, int var, double eps) {}

    private static Variance variance(FusionGraph g, String name) {
        int addEps = g.producer(name, "Add", 1);
        if (addEps < 0) return null;
        List<String> ae = g.nodes().get(addEps).inputs();
        int which = !Double.isNaN(g.scalar(ae.get(1))) ? 0 : !Double.isNaN(g.scalar(ae.get(0))) ? 1 : -1;
        if (which < 0) return null;
        int var = g.producer(ae.get(which), "ReduceMean", 1);
        if (var < 0 || !lastAxis(g, g.nodes().get(var))) return null;
        return new Variance(addEps, var, g.scalar(ae.get(1 - which)));
    }

    /** The node of type op producing name as its only output, read exactly `uses` times; -1 if not. */
    private static int producedBy(FusionGraph g, String name, String op, int uses) {
        int j = g.producerOf(name);
        if (j < 0 || !FusionGraph.isDefault(g.nodes().get(j), op) || g.uses(name) != uses || g.nodes().get(j).outputs().size() != 1) return -1;
        return j;
    }

    private record Match(String x, String gamma, float eps, int div, int sqrt, int addEps, int var, int pow, int sub, int mean) {}

    /** Mul(Div(d, Sqrt(Add(ReduceMean(Pow(d, 2)), eps))), gamma) with d = Sub(x, ReduceMean(x)), or null. */
    private static Match scaled(FusionGraph g, OnnxNode mul) {
        List<OnnxNode> nodes = g.nodes();
        for (int side = 0; side < 2; side++) {
            int div = g.producer(mul.inputs().get(side), "Div", 1);
            if (div < 0) continue;
            String gamma = mul.inputs().get(1 - side), d = nodes.get(div).inputs().get(0);
            int sqrt = g.producer(nodes.get(div).inputs().get(1), "Sqrt", 1);
            if (sqrt < 0) continue;
            Variance v = variance(g, nodes.get(sqrt).inputs().get(0));
            if (v == null) continue;
            int addEps = v.addEps, var = v.var;
            double eps = v.eps;
            int pow = g.producer(nodes.get(var).inputs().get(0), "Pow", 1);
            if (pow < 0 || !nodes.get(pow).inputs().get(0).equals(d) || g.scalar(nodes.get(pow).inputs().get(1)) != 2.0) continue;
            int sub = producedBy(g, d, "Sub", 2);
            if (sub < 0) continue;
            String x = nodes.get(sub).inputs().get(0);
            int mean = g.producer(nodes.get(sub).inputs().get(1), "ReduceMean", 1);
            if (mean < 0 || !nodes.get(mean).inputs().get(0).equals(x) || !lastAxis(g, nodes.get(mean))) continue;
            return new Match(x, gamma, (float) eps, div, sqrt, addEps, var, pow, sub, mean);
        }
        return null;
    }

    /** ReduceMean over exactly the last axis with keepdims 1 (axes as an attribute, or a constant input from opset 18). */
    private static boolean lastAxis(FusionGraph g, OnnxNode r) {
        OnnxAttribute keep = r.attributes().get("keepdims");
        if (keep != null && keep.i() != 1) return false;
        long[] axes;
        if (r.attributes().containsKey("axes")) axes = r.attributes().get("axes").ints();
        else if (r.inputs().size() > 1 && g.constant(r.inputs().get(1)) != null) axes = g.constant(r.inputs().get(1)).tensor().toLongArray();
        else return false;
        return axes.length == 1 && axes[0] == -1;
    }

    /** A constant float vector (rank 1). */
    private static boolean vector(FusionGraph g, String name) {
        Value.TensorValue v = g.constant(name);
        return v != null && v.type() == ElemType.FLOAT && v.tensor().dim() == 1;
    }

    private static int size(FusionGraph g, String name) { return g.constant(name).tensor().size(0); }

}
