package dev.kiln.onnx;

import dev.kiln.tensor.Tensor;

import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * Finds the exact (erf) GELU as exporters write it out of elementwise nodes and replaces the chain
 * by one node "Gelu" in domain {@value FusedOps#DOMAIN} (the engine's one-pass GELU kernel): five
 * passes over a [tokens, 3072] activation become one. Recognised, with the constants checked to
 * float precision and every intermediate used only inside the chain:
 * <pre>
 *   t0 = Div(x, sqrt 2) | Mul(x, 1/sqrt 2);  t1 = Erf(t0);  t2 = Add(t1, 1)
 *   y  = Mul(Mul(x, t2), 0.5)          (torch.nn.GELU, torch.nn.functional.gelu)
 *   y  = Mul(Mul(x, 0.5), t2)          (Hugging Face BERT's x * 0.5 * (1 + erf(x / sqrt 2)))
 * </pre>
 * (Mul and Add operands in either order.) Also the tanh form GPT-2 writes ({@link #matchTanh}),
 * as a "Gelu" with approximate = "tanh".
 */
final class GeluFusion {
    private GeluFusion() {}

    /** Rewrites every match; returns whether anything changed. */
    static boolean apply(FusionGraph g) {
        boolean changed = false;
        List<OnnxNode> nodes = g.nodes();
        for (int i = 0; i < nodes.size(); i++) {
            OnnxNode y = nodes.get(i);
            if (y == null || !y.opType().equals("Mul") || y.inputs().size() != 2 || !y.domain().isEmpty() && !y.domain().equals("ai.onnx"))
                continue;
            Match m = match(g, y);
            boolean tanh = false;
            if (m == null) {
                m = matchTanh(g, y);
                tanh = true;
            }
            if (m == null) continue;
            int reads = (int) y.inputs().stream().filter(m.x::equals).count();    // x's uses inside the chain become one
            for (int j : m.removed) {
                reads += (int) nodes.get(j).inputs().stream().filter(m.x::equals).count();
                nodes.set(j, null);
            }
            g.use(m.x, 1 - reads);
            Map<String, OnnxAttribute> attrs = tanh ? Map.of("approximate", OnnxAttribute.ofString("approximate", "tanh")) : Map.of();
            nodes.set(i, new OnnxNode(y.name(), "Gelu", FusedOps.DOMAIN, List.of(m.x), y.outputs(), attrs));
            g.produced(y.outputs().get(0), i);
            changed = true;
        }
        return changed;
    }

    private record Match(String x, int[] removed) {}

    private static Match match(FusionGraph g, OnnxNode y) {
        for (int side = 0; side < 2; side++) {
            String a = y.inputs().get(side), b = y.inputs().get(1 - side);
            int inner = g.producer(a, "Mul", 1);
            if (inner < 0) continue;
            OnnxNode mul = g.nodes().get(inner);
            if (near(g.scalar(b), 0.5)) {                          // y = Mul(Mul(x, t2), 0.5)
                for (int s = 0; s < 2; s++) {
                    Match m = erfChain(g, mul.inputs().get(1 - s), mul.inputs().get(s), inner);
                    if (m != null) return m;
                }
            } else {                                               // y = Mul(Mul(x, 0.5), t2)
                for (int s = 0; s < 2; s++) {
                    if (!near(g.scalar(mul.inputs().get(1 - s)), 0.5)) continue;
                    Match m = erfChain(g, mul.inputs().get(s), b, inner);
                    if (m != null) return m;
                }
            }
        }
        return null;
    }

    /** t2 = Add(Erf(x / sqrt 2), 1) for this x; `also` is one more node of the chain to remove. */
    private static Match erfChain(FusionGraph g, String x, String t2, int also) {
        int add = g.producer(t2, "Add", 1);
        if (add < 0) return null;
        OnnxNode addNode = g.nodes().get(add);
        for (int s = 0; s < 2; s++) {
            if (!near(g.scalar(addNode.inputs().get(1 - s)), 1.0)) continue;
            int erf = g.producer(addNode.inputs().get(s), "Erf", 1);
            if (erf < 0) continue;
            String t0 = g.nodes().get(erf).inputs().get(0);
            int scale = g.producer(t0, "Div", 1);
            boolean ok = scale >= 0 && g.nodes().get(scale).inputs().get(0).equals(x)
                    && near(g.scalar(g.nodes().get(scale).inputs().get(1)), Math.sqrt(2));
            if (!ok) {
                scale = g.producer(t0, "Mul", 1);
                if (scale < 0) continue;
                List<String> in = g.nodes().get(scale).inputs();
                ok = in.get(0).equals(x) && near(g.scalar(in.get(1)), Math.sqrt(0.5))
                        || in.get(1).equals(x) && near(g.scalar(in.get(0)), Math.sqrt(0.5));
            }
            if (ok) return new Match(x, new int[]{also, add, erf, scale});
        }
        return null;
    }

    /**
     * The tanh form as GPT-2 (Hugging Face gelu_new) exports it:
     * y = Mul(Mul(x, 0.5), Add(Tanh(Mul(Add(x, Mul(Pow(x, 3), 0.044715)), sqrt(2/pi))), 1)).
     */
    private static Match matchTanh(FusionGraph g, OnnxNode y) {
        for (int side = 0; side < 2; side++) {
            int half = g.producer(y.inputs().get(side), "Mul", 1), add1 = g.producer(y.inputs().get(1 - side), "Add", 1);
            if (half < 0 || add1 < 0) continue;
            String x = other(g, g.nodes().get(half), 0.5);
            String th = other(g, g.nodes().get(add1), 1.0);
            if (x == null || th == null) continue;
            int tanh = g.producer(th, "Tanh", 1);
            if (tanh < 0) continue;
            int scale = g.producer(g.nodes().get(tanh).inputs().get(0), "Mul", 1);
            String c = scale < 0 ? null : other(g, g.nodes().get(scale), Math.sqrt(2 / Math.PI));
            int inner = c == null ? -1 : g.producer(c, "Add", 1);
            if (inner < 0) continue;
            List<String> in = g.nodes().get(inner).inputs();
            String cube = in.get(0).equals(x) ? in.get(1) : in.get(1).equals(x) ? in.get(0) : null;
            int cubic = cube == null ? -1 : g.producer(cube, "Mul", 1);
            String p = cubic < 0 ? null : other(g, g.nodes().get(cubic), 0.044715);
            int pow = p == null ? -1 : g.producer(p, "Pow", 1);
            if (pow < 0 || !g.nodes().get(pow).inputs().get(0).equals(x) || !near(g.scalar(g.nodes().get(pow).inputs().get(1)), 3.0))
                continue;
            return new Match(x, new int[]{half, add1, tanh, scale, inner, cubic, pow});
        }
        return null;
    }

    /** For a binary node with one input a scalar constant equal to c: the other input; else null. */
    private static String other(FusionGraph g, OnnxNode n, double c) {
        if (n.inputs().size() != 2) return null;
        if (near(g.scalar(n.inputs().get(1)), c)) return n.inputs().get(0);
        if (near(g.scalar(n.inputs().get(0)), c)) return n.inputs().get(1);
        return null;
    }

    private static boolean near(double v, double want) { return Math.abs(v - want) <= 1e-6 * Math.abs(want); }

    /** A one-element float tensor's value, or NaN. */
    static double scalarOf(Function<String, Tensor> constant, String name) {
        Tensor t = constant.apply(name);
        return t == null || t.numel() != 1 ? Double.NaN : t.toDoubleArray()[0];
    }
}
