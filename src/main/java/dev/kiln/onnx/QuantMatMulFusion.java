package dev.kiln.onnx;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Tensor;

import java.util.List;
import java.util.Map;

/**
 * Finds the dynamic int8 MatMul that ONNX Runtime's {@code quantize_dynamic} (and
 * {@code kiln quantize --dynamic}) write, and replaces it by one node "QuantMatMul" in domain
 * {@value FusedOps#DOMAIN} (quantize X, int8 GEMM and dequantize in one op, see
 * {@code QuantFast.quantMatMul}):
 * <pre>
 *   Xq, Xs, Xz = DynamicQuantizeLinear(X)
 *   I = MatMulInteger(Xq, Wq, Xz[, Wz]);  F = Cast(I, to = FLOAT);  S = Mul(Xs, Ws)
 *   Y = Mul(F, S)                                  (Mul operands in either order)
 *   ->  Y = QuantMatMul(X, Wq, Wz | "", Ws)
 *   Z = Add(Y, B) | Add(B, Y), B a constant float [N], Y read only there   ->  Z = QuantMatMul(X, Wq, Wz | "", Ws, B)
 * </pre>
 * Wq must be a constant int8 [K, N], Wz a constant int8 and Ws a constant float (each a scalar or
 * one per column); I, F and S used only there. A DynamicQuantizeLinear shared by several MatMuls
 * (ORT writes one per activation) goes once the last of them is fused.
 */
final class QuantMatMulFusion {
    private QuantMatMulFusion() {}

    static boolean apply(FusionGraph g) {
        boolean changed = false;
        List<OnnxNode> nodes = g.nodes();
        for (int i = 0; i < nodes.size(); i++) {
            OnnxNode y = nodes.get(i);
            if (y == null || !FusionGraph.isDefault(y, "Mul") || y.inputs().size() != 2) continue;
            for (int side = 0; side < 2; side++) {
                if (fuse(g, i, y, y.inputs().get(side), y.inputs().get(1 - side))) {
                    changed = true;
                    break;
                }
            }
        }
        return changed | takeActivations(g);
    }

    /**
     * A Gelu (the fused node of {@link GeluFusion}, erf or tanh form) or Relu that is the only reader
     * of a QuantMatMul's output becomes that node's attribute "activation" (Gelu, GeluTanh, Relu),
     * applied to each block of rows as it is dequantized.
     */
    private static boolean takeActivations(FusionGraph g) {
        boolean changed = false;
        List<OnnxNode> nodes = g.nodes();
        for (int i = 0; i < nodes.size(); i++) {
            OnnxNode a = nodes.get(i);
            if (a == null || a.inputs().size() != 1 || a.outputs().size() != 1) continue;
            String act = null;
            if (FusionGraph.isDefault(a, "Relu")) act = "Relu";
            else if (a.opType().equals("Gelu") && a.domain().equals(FusedOps.DOMAIN)) act = MatMulBiasFusion.geluForm(a);
            if (act == null) continue;
            String in = a.inputs().get(0);
            int q = g.producerOf(in);
            if (q < 0 || g.uses(in) != 1) continue;
            OnnxNode qm = nodes.get(q);
            if (!qm.opType().equals("QuantMatMul") || !qm.domain().equals(FusedOps.DOMAIN) || qm.attributes().containsKey("activation")) continue;
            nodes.set(q, null);
            nodes.set(i, new OnnxNode(qm.name(), "QuantMatMul", FusedOps.DOMAIN, qm.inputs(), a.outputs(),
                    Map.of("activation", MatMulBiasFusion.string("activation", act))));
            g.produced(a.outputs().get(0), i);
            changed = true;
        }
        return changed;
    }

    private static boolean fuse(FusionGraph g, int i, OnnxNode y, String f, String s) {
        List<OnnxNode> nodes = g.nodes();
        int cast = g.producer(f, "Cast", 1), scale = g.producer(s, "Mul", 1);
        if (cast < 0 || scale < 0) return false;
        OnnxAttribute to = nodes.get(cast).attributes().get("to");
        if (to == null || to.i() != ElemType.FLOAT.code()) return false;
        int mmi = g.producer(nodes.get(cast).inputs().get(0), "MatMulInteger", 1);
        if (mmi < 0) return false;
        List<String> mi = nodes.get(mmi).inputs();
        if (mi.size() < 3 || mi.get(2).isEmpty()) return false;
        int dql = g.producerOf(mi.get(0));
        if (dql < 0 || !FusionGraph.isDefault(nodes.get(dql), "DynamicQuantizeLinear") || nodes.get(dql).outputs().size() != 3) return false;
        List<String> dq = nodes.get(dql).outputs();
        if (!dq.get(0).equals(mi.get(0)) || !dq.get(2).equals(mi.get(2))) return false;
        List<String> si = nodes.get(scale).inputs();
        String ws = si.get(0).equals(dq.get(1)) ? si.get(1) : si.get(1).equals(dq.get(1)) ? si.get(0) : null;
        if (ws == null) return false;
        Value.TensorValue wq = g.constant(mi.get(1)), wsv = g.constant(ws);
        String wzName = mi.size() > 3 ? mi.get(3) : "";
        Value.TensorValue wz = wzName.isEmpty() ? null : g.constant(wzName);
        if (wq == null || wq.type() != ElemType.INT8 || wq.tensor().dim() != 2) return false;
        int n = wq.tensor().size(1);
        if (wsv == null || wsv.tensor().dtype() != DType.F32 || !scalarOrColumns(wsv.tensor(), n)) return false;
        if (!wzName.isEmpty() && (wz == null || wz.type() != ElemType.INT8 || !scalarOrColumns(wz.tensor(), n))) return false;
        String x = nodes.get(dql).inputs().get(0);
        // a bias added right after (a Linear exported as MatMul + Add, or a quantized Gemm's C): into the epilogue
        int add = g.uses(y.outputs().get(0)) == 1 ? biasAdd(g, y.outputs().get(0), n) : -1;
        List<String> ins = add < 0 ? List.of(x, mi.get(1), wzName, ws) : List.of(x, mi.get(1), wzName, ws, biasOf(nodes.get(add), y.outputs().get(0)));
        List<String> outs = add < 0 ? y.outputs() : nodes.get(add).outputs();
        nodes.set(i, new OnnxNode(y.name(), "QuantMatMul", FusedOps.DOMAIN, ins, outs, Map.of()));
        g.produced(outs.get(0), i);
        if (add >= 0) {
            g.use(y.outputs().get(0), -1);
            nodes.set(add, null);
        }
        g.use(x, 1);
        for (int j : new int[]{cast, mmi, scale}) nodes.set(j, null);
        g.use(dq.get(0), -1);
        g.use(dq.get(1), -1);
        g.use(dq.get(2), -1);
        if (g.uses(dq.get(0)) == 0 && g.uses(dq.get(1)) == 0 && g.uses(dq.get(2)) == 0) {
            nodes.set(dql, null);
            g.use(x, -1);
        }
        return true;
    }

    /** The index of the Add reading name whose other input is a constant float [N] (a bias), else -1. */
    private static int biasAdd(FusionGraph g, String name, int n) {
        List<OnnxNode> nodes = g.nodes();
        for (int j = 0; j < nodes.size(); j++) {
            OnnxNode a = nodes.get(j);
            if (a == null || !FusionGraph.isDefault(a, "Add") || a.inputs().size() != 2 || a.outputs().size() != 1 || !a.inputs().contains(name))
                continue;
            Value.TensorValue b = g.constant(biasOf(a, name));
            return b != null && b.tensor().dtype() == DType.F32 && b.tensor().dim() == 1 && b.tensor().size(0) == n ? j : -1;
        }
        return -1;
    }

    private static String biasOf(OnnxNode add, String name) { return add.inputs().get(0).equals(name) ? add.inputs().get(1) : add.inputs().get(0); }

    private static boolean scalarOrColumns(Tensor t, int n) { return t.numel() == 1 || (t.dim() == 1 && t.size(0) == n); }

}
