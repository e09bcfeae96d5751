package dev.kiln.onnx;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Finds scaled dot-product attention written out as ONNX ops and replaces it by one "Attention"
 * node in domain {@value FusedOps#DOMAIN} (the engine's fused kernel, CpuAttention):
 * <pre>
 *   s = MatMul(Q, Kt);  [s = Div(s, c) | Mul(s, c)];  [s = Add(s, mask)];  [s = Where(keep, s, fill)];
 *   p = Softmax(s, axis=-1);  y = MatMul(p, V)
 * </pre>
 * with c a scalar constant (a Div's divisor may also be computed at run time: GPT-2 divides by the
 * square root of the head size it reads from a shape), fill a scalar constant (GPT-2's causal mask)
 * and every intermediate used only inside the pattern (Hugging Face BERT
 * and torch.nn.MultiheadAttention exports have this shape; the reshapes and transposes around it
 * stay, as views). The fused node reads Q, Kt, V and the mask as they are; attributes div and mul
 * carry the scale, fill the Where's constant.
 */
final class AttentionFusion {
    private AttentionFusion() {}

    /** Rewrites every match in the optimizer's view; returns whether anything changed. */
    static boolean apply(FusionGraph g) {
        boolean changed = false;
        List<OnnxNode> nodes = g.nodes();
        for (int i = 0; i < nodes.size(); i++) {
            OnnxNode y = nodes.get(i);
            if (y == null || !FusionGraph.isDefault(y, "MatMul") || y.inputs().size() != 2) continue;
            int sm = g.producer(y.inputs().get(0), "Softmax", 1);
            if (sm < 0 || !axisIsLast(nodes.get(sm))) continue;
            List<Integer> chain = new ArrayList<>(List.of(sm));
            String s = nodes.get(sm).inputs().get(0), mask = "", keep = "", divisor = "";
            float div = 1f, mul = 1f, fill = 0f;
            int where = g.producer(s, "Where", 1);
            if (where >= 0) {                                        // GPT-2: Where(causal, s, -1e4)
                List<String> w = nodes.get(where).inputs();
                double f = w.size() == 3 ? g.scalar(w.get(2)) : Double.NaN;
                if (Double.isNaN(f)) continue;
                keep = w.get(0);
                fill = (float) f;
                s = w.get(1);
                chain.add(where);
            }
            int add = g.producer(s, "Add", 1);
            if (add >= 0) {
                OnnxNode a = nodes.get(add);
                int left = producerOfScores(g, a.inputs().get(0)), right = producerOfScores(g, a.inputs().get(1));
                if (left >= 0 == right >= 0) continue;              // exactly one side must carry the scores
                s = a.inputs().get(left >= 0 ? 0 : 1);
                mask = a.inputs().get(left >= 0 ? 1 : 0);
                chain.add(add);
            }
            int scale = g.producer(s, "Div", 1);
            if (scale >= 0) {
                double c = g.scalar(nodes.get(scale).inputs().get(1));
                if (Double.isNaN(c)) divisor = nodes.get(scale).inputs().get(1);   // computed at run time (GPT-2: from the head size)
                else div = (float) c;
                s = nodes.get(scale).inputs().get(0);
                chain.add(scale);
            } else if ((scale = g.producer(s, "Mul", 1)) >= 0) {
                List<String> in = nodes.get(scale).inputs();
                double c0 = g.scalar(in.get(0)), c1 = g.scalar(in.get(1));
                if (Double.isNaN(c0) == Double.isNaN(c1)) continue;
                mul = (float) (Double.isNaN(c1) ? c0 : c1);
                s = Double.isNaN(c1) ? in.get(1) : in.get(0);
                chain.add(scale);
            }
            int qk = g.producer(s, "MatMul", 1);
            if (qk < 0) continue;
            chain.add(qk);
            OnnxNode qkNode = nodes.get(qk);
            Map<String, OnnxAttribute> attrs = new LinkedHashMap<>();
            attrs.put("div", floatAttr("div", div));
            attrs.put("mul", floatAttr("mul", mul));
            if (!keep.isEmpty()) attrs.put("fill", floatAttr("fill", fill));
            List<String> ins = keep.isEmpty() && divisor.isEmpty()
                    ? List.of(qkNode.inputs().get(0), qkNode.inputs().get(1), y.inputs().get(1), mask)
                    : List.of(qkNode.inputs().get(0), qkNode.inputs().get(1), y.inputs().get(1), mask, divisor, keep);
            for (int j : chain) nodes.set(j, null);
            nodes.set(i, new OnnxNode(y.name(), "Attention", FusedOps.DOMAIN, ins, y.outputs(), attrs));
            g.produced(y.outputs().get(0), i);
            changed = true;
        }
        return changed;
    }

    /** The node making name as scores (a Div, Mul or MatMul used once), or -1. */
    private static int producerOfScores(FusionGraph g, String name) {
        for (String op : new String[]{"Div", "Mul", "MatMul"}) {
            int j = g.producer(name, op, 1);
            if (j >= 0) return j;
        }
        return -1;
    }

    private static boolean axisIsLast(OnnxNode softmax) {
        OnnxAttribute a = softmax.attributes().get("axis");
        return a != null && a.i() == -1;
    }


    private static OnnxAttribute floatAttr(String name, float v) {
        return OnnxAttribute.ofFloat(name, v);
    }
}
