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
 * instead of two or three times. A plain Gemm followed by such an activation (directly or through
 * a Reshape, as GPT-2's Conv1D exports) is taken in the same way ({@link #gemmActivation}). Every intermediate must be used only inside the pattern. Attribute
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
                String act = pass == 0 ? activation(last) : FusionGraph.isDefault(last, "Add") ? "" : null;
                if (act == null) continue;
                if (pass == 0 && gemmActivation(g, i, act)) {
                    changed = true;
                    continue;
                }
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

    /**
     * The activation at index i (named act) applied to a plain Gemm ({@link #plainGemm}: a Linear
     * layer as {@code torch.addmm} exports it, Hugging Face GPT-2's Conv1D), directly or through a
     * Reshape that only it reads ({@code Gemm -> Reshape -> Gelu}): the Gemm becomes a MatMulBias
     * with the activation in its epilogue, and the Reshape, now after it, produces the activation's
     * output (an elementwise op commutes with a reshape). Returns whether it rewrote.
     */
    private static boolean gemmActivation(FusionGraph g, int i, String act) {
        List<OnnxNode> nodes = g.nodes();
        OnnxNode actNode = nodes.get(i);
        int reshape = g.producer(actNode.inputs().get(0), "Reshape", 1);
        String gemmOut = reshape >= 0 ? nodes.get(reshape).inputs().get(0) : actNode.inputs().get(0);
        int gm = g.producer(gemmOut, "Gemm", 1);
        if (gm < 0 || !plainGemm(g, nodes.get(gm))) return false;
        OnnxNode gemm = nodes.get(gm);
        List<String> ins = List.of(gemm.inputs().get(0), gemm.inputs().get(1), gemm.inputs().size() > 2 ? gemm.inputs().get(2) : "");
        Map<String, OnnxAttribute> attrs = Map.of("activation", string("activation", act));
        nodes.set(i, null);
        // the activation's output now comes from the Reshape when there is one, else from the fused node
        nodes.set(gm, new OnnxNode(gemm.name(), "MatMulBias", FusedOps.DOMAIN, ins, reshape >= 0 ? gemm.outputs() : actNode.outputs(), attrs));
        if (reshape >= 0) {
            OnnxNode r = nodes.get(reshape);
            nodes.set(reshape, new OnnxNode(r.name(), r.opType(), r.domain(), r.inputs(), actNode.outputs(), r.attributes()));
        }
        g.produced(actNode.outputs().get(0), reshape >= 0 ? reshape : gm);
        return true;
    }

    /**
     * A MatMulBias whose output only an Add reads (a transformer block's Linear layer and the skip
     * connection after it): the Add's other operand becomes the node's fourth input, "residual",
     * which the GEMM's epilogue adds after bias and activation ({@code MatMul.linear}); the node
     * takes the Add's place and output. Returns whether anything changed.
     */
    static boolean absorbResiduals(FusionGraph g) {
        boolean changed = false;
        List<OnnxNode> nodes = g.nodes();
        for (int i = 0; i < nodes.size(); i++) {
            OnnxNode add = nodes.get(i);
            if (add == null || !FusionGraph.isDefault(add, "Add") || add.inputs().size() != 2 || add.outputs().size() != 1) continue;
            for (int side = 0; side < 2; side++) {
                String in = add.inputs().get(side), other = add.inputs().get(1 - side);
                int j = g.producerOf(in);
                if (j < 0 || other.isEmpty() || other.equals(in) || g.uses(in) != 1) continue;
                OnnxNode mb = nodes.get(j);
                if (!mb.opType().equals("MatMulBias") || !mb.domain().equals(FusedOps.DOMAIN) || mb.inputs().size() != 3 || mb.outputs().size() != 1)
                    continue;
                List<String> ins = new java.util.ArrayList<>(mb.inputs());
                ins.add(other);
                nodes.set(j, null);
                nodes.set(i, new OnnxNode(mb.name(), "MatMulBias", FusedOps.DOMAIN, ins, add.outputs(), mb.attributes()));
                g.produced(add.outputs().get(0), i);
                changed = true;
                break;
            }
        }
        return changed;
    }

    /** Whether {@link #absorbResiduals} runs (property {@code kiln.onnx.fuseResidual}, default true; false for A/B runs). */
    static boolean residualsEnabled() { return !"false".equalsIgnoreCase(System.getProperty("kiln.onnx.fuseResidual", "true")); }

    /**
     * For {@code --precision bf16}: every MatMulBias node, every MatMul with a constant float 2-D
     * weight, and every Gemm that is one (no transposes after the optimizer's, alpha and beta 1,
     * a constant float weight and bias row or no bias) becomes a MatMulBias with attribute
     * precision = "bf16": its weight is multiplied in bf16 (Backend.gemmBf16). Returns whether
     * anything changed.
     */
    static boolean toBf16(FusionGraph g) {
        boolean changed = false;
        List<OnnxNode> nodes = g.nodes();
        for (int i = 0; i < nodes.size(); i++) {
            OnnxNode n = nodes.get(i);
            if (n == null || n.outputs().size() != 1) continue;
            List<String> in = null;
            Map<String, OnnxAttribute> attrs = new java.util.LinkedHashMap<>();
            if (n.opType().equals("MatMulBias") && n.domain().equals(FusedOps.DOMAIN)) {
                in = n.inputs();
                attrs.putAll(n.attributes());
            } else if (FusionGraph.isDefault(n, "MatMul") && n.inputs().size() == 2 && weight(g, n.inputs().get(1)) > 0) {
                in = List.of(n.inputs().get(0), n.inputs().get(1), "");
            } else if (FusionGraph.isDefault(n, "Gemm") && plainGemm(g, n)) {
                in = List.of(n.inputs().get(0), n.inputs().get(1), n.inputs().size() > 2 ? n.inputs().get(2) : "");
            }
            if (in == null) continue;
            attrs.put("precision", string("precision", "bf16"));
            nodes.set(i, new OnnxNode(n.name(), "MatMulBias", FusedOps.DOMAIN, in, n.outputs(), attrs));
            changed = true;
        }
        return changed;
    }

    /** A constant float 2-D weight's column count, or -1. */
    private static int weight(FusionGraph g, String name) {
        Value.TensorValue w = g.constant(name);
        return w == null || w.type() != ElemType.FLOAT || w.tensor().dim() != 2 ? -1 : w.tensor().size(1);
    }

    /** Gemm(A, W, b) that is A W + b: no transposes, alpha = beta = 1, W a constant float [k, n], b absent or a constant row of n. */
    private static boolean plainGemm(FusionGraph g, OnnxNode n) {
        Map<String, OnnxAttribute> a = n.attributes();
        if (a.containsKey("transA") && a.get("transA").i() != 0 || a.containsKey("transB") && a.get("transB").i() != 0) return false;
        if (a.containsKey("alpha") && a.get("alpha").f() != 1f || a.containsKey("beta") && a.get("beta").f() != 1f) return false;
        int cols = weight(g, n.inputs().get(1));
        if (cols < 0) return false;
        if (n.inputs().size() < 3 || n.inputs().get(2).isEmpty()) return true;
        Value.TensorValue b = g.constant(n.inputs().get(2));
        if (b == null || b.type() != ElemType.FLOAT) return false;
        int[] bs = b.tensor().shape();
        return bs.length == 1 && bs[0] == cols || bs.length == 2 && bs[0] == 1 && bs[1] == cols;
    }

    /** The activation a node applies, as the fused node names it, or null when it is not one the GEMM takes in. */
    private static String activation(OnnxNode n) {
        if (n.inputs().size() != 1 || n.outputs().size() != 1) return null;
        if (FusionGraph.isDefault(n, "Relu")) return "Relu";
        boolean gelu = n.opType().equals("Gelu") && (n.domain().equals(FusedOps.DOMAIN) || n.domain().isEmpty() || n.domain().equals("ai.onnx"));
        return gelu ? geluForm(n) : null;
    }

    /** A Gelu node's form as a fused node names its activation: "Gelu" (erf), "GeluTanh", or null for another approximate value. */
    static String geluForm(OnnxNode gelu) {
        OnnxAttribute approx = gelu.attributes().get("approximate");
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


    static OnnxAttribute string(String name, String value) {
        return OnnxAttribute.ofString(name, value);
    }
}
