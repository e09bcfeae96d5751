package dev.kiln.onnx;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;

/**
 * Finds a Linear layer as exporters write it, {@code Add(MatMul(x, W), b)} with W a constant 2-D
 * float weight [k, n] and b a constant float bias of n values ([n] or [1, n]), optionally followed
 * by its activation (Relu, or the Gelu node {@link GeluFusion} made, erf or tanh form), and
 * replaces it by one node "MatMulBias" in domain {@value FusedOps#DOMAIN}: the engine's GEMM with
 * the bias and activation as its epilogue ({@code MatMul.linear}), so the output is written once
 * instead of two or three times. Every intermediate must be used only inside the pattern. Attribute
 * "activation": "Relu", "Gelu" or "GeluTanh" when one was taken in.
 */
final class MatMulBiasFusion {
    private MatMulBiasFusion() {}

    /** Whether this rewrite runs (property {@code kiln.onnx.fuseLinear}, default true; false for A/B runs). */
    static boolean enabled() { return !"false".equalsIgnoreCase(System.getProperty("kiln.onnx.fuseLinear", "true")); }

    /** Rewrites every match; returns whether anything changed. Runs after {@link GeluFusion}. */
    static boolean apply(FusionGraph g) {
        boolean changed = false;
        List<OnnxNode> nodes = g.nodes();
        // first the layers that end in an activation, then the plain ones that are left
        for (int pass = 0; pass < 2; pass++) {
            for (int i = 0; i < nodes.size(); i++) {
                OnnxNode last = nodes.get(i);
                if (last == null) continue;
                String act = pass == 0 ? activation(last) : isDefault(last, "Add") ? "" : null;
                if (act == null) continue;
                int add = act.isEmpty() ? i : g.producer(last.inputs().get(0), "Add", 1);
                if (add < 0) continue;
                OnnxNode addNode = nodes.get(add);
                if (addNode.inputs().size() != 2) continue;
                for (int side = 0; side < 2; side++) {
                    int mm = g.producer(addNode.inputs().get(side), "MatMul", 1);
                    if (mm < 0) continue;
                    OnnxNode matmul = nodes.get(mm);
                    String bias = addNode.inputs().get(1 - side);
                    if (matmul.inputs().size() != 2 || !linearOperands(g, matmul.inputs().get(1), bias)) continue;
                    nodes.set(mm, null);
                    if (add != i) nodes.set(add, null);
                    Map<String, OnnxAttribute> attrs = act.isEmpty() ? Map.of() : Map.of("activation", string("activation", act));
                    nodes.set(i, new OnnxNode(last.name(), "MatMulBias", FusedOps.DOMAIN,
                            List.of(matmul.inputs().get(0), matmul.inputs().get(1), bias), last.outputs(), attrs));
                    g.produced(last.outputs().get(0), i);
                    changed = true;
                    break;
                }
            }
        }
        return changed;
    }

    /** The activation a node applies, as the fused node names it, or null when it is not one the GEMM takes in. */
    private static String activation(OnnxNode n) {
        if (n.inputs().size() != 1 || n.outputs().size() != 1) return null;
        if (isDefault(n, "Relu")) return "Relu";
        boolean gelu = n.opType().equals("Gelu") && (n.domain().equals(FusedOps.DOMAIN) || n.domain().isEmpty() || n.domain().equals("ai.onnx"));
        if (!gelu) return null;
        OnnxAttribute approx = n.attributes().get("approximate");
        String a = approx == null ? "none" : new String(approx.s(), StandardCharsets.UTF_8);
        return a.equals("tanh") ? "GeluTanh" : a.equals("none") ? "Gelu" : null;
    }

    /** W a constant float [k, n] and bias a constant float of n values, shaped [n] or [1, n]. */
    private static boolean linearOperands(FusionGraph g, String weight, String bias) {
        Value.TensorValue w = g.constant(weight), b = g.constant(bias);
        if (w == null || b == null || w.type() != ElemType.FLOAT || b.type() != ElemType.FLOAT || w.tensor().dim() != 2) return false;
        int n = w.tensor().size(1);
        int[] bs = b.tensor().shape();
        return bs.length == 1 && bs[0] == n || bs.length == 2 && bs[0] == 1 && bs[1] == n;
    }

    private static boolean isDefault(OnnxNode n, String opType) {
        return n.opType().equals(opType) && (n.domain().isEmpty() || n.domain().equals("ai.onnx"));
    }

    static OnnxAttribute string(String name, String value) {
        return new OnnxAttribute(name, OnnxAttribute.Type.STRING, 0, 0, value.getBytes(StandardCharsets.UTF_8), null, null,
                new float[0], new long[0], List.of(), List.of(), List.of(), null);
    }
}
