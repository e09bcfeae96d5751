package dev.kiln.onnx;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Tensor;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Load-time rewrites of a model's top-level graph that keep its results (up to float rounding)
 * and make it cheaper to run. Each rewrite applies only where the weights it folds are constant:
 * initializers that are not also graph inputs (a graph input named like an initializer may be
 * overridden at run time, so it is left alone).
 * <ul>
 *   <li>Constant nodes with a tensor value: initializers (not run per call).</li>
 *   <li>QDQ models: DequantizeLinear of constant weights folded into float initializers, and each
 *       QuantizeLinear -> DequantizeLinear pair on an activation one "FakeQuant" node.</li>
 *   <li>A per-channel constant Add after a Conv whose only consumer it is: the Conv's bias.</li>
 *   <li>BatchNormalization (inference) after a Conv whose only consumer it is: folded into the
 *       Conv's weight and bias, computed in double.</li>
 *   <li>Gemm with transB=1 and a constant B: B is transposed once into a new contiguous
 *       initializer and the node gets transB=0 (the GEMM then packs B by plain row copies, and a
 *       single-row A takes the matrix-vector path).</li>
 *   <li>A residual Add after a Conv whose only consumer it is, with the Add's Relu: one "ConvAdd"
 *       or "ConvAdd+Relu" node; the conv adds the residual and applies the ReLU as it stores.</li>
 *   <li>Relu after a Conv, Gemm, MatMul, MaxPool or Add whose only consumer it is: the pair becomes one
 *       {@link FusedOps} node ("Conv+Relu" in domain {@value FusedOps#DOMAIN}) that applies the
 *       Relu in place on the fresh output.</li>
 *   <li>The exact GELU written out as Div/Erf/Add/Mul/Mul: one "Gelu" node in domain
 *       {@value FusedOps#DOMAIN} (see {@link GeluFusion}).</li>
 *   <li>Attention written out as MatMul [Div|Mul] [Add mask] Softmax MatMul: one "Attention" node
 *       (see {@link AttentionFusion}).</li>
 *   <li>LayerNorm over the last axis written out as ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt,
 *       Div, Mul, Add (torch exports below opset 17): one "LayerNormalization" node (see
 *       {@link LayerNormFusion}).</li>
 *   <li>A Linear layer, Add(MatMul(x, W), b) with constant W and b, with its Relu or Gelu: one
 *       "MatMulBias" node (the GEMM applies bias and activation as it stores; see {@link MatMulBiasFusion}).</li>
 *   <li>The skip connection Add after such a node: its fourth input, added by the GEMM's epilogue.</li>
 *   <li>A stack of stacks (Concat of Unsqueezed Concats of Unsqueezed tensors, all along axis 0: a
 *       decoder's present key/values): one "StackNested" node that copies each tensor once (see
 *       {@link StackFusion}).</li>
 *   <li>Dynamic int8 MatMul as quantize_dynamic writes it (DynamicQuantizeLinear, MatMulInteger,
 *       Cast, Mul, Mul): one "QuantMatMul" node (see {@link QuantMatMulFusion}).</li>
 *   <li>Last, chains of convolutions from a network's stem on: the channel-blocked layout (see
 *       {@link BlockedLayout}).</li>
 * </ul>
 * Nested subgraphs are not rewritten; a name they read counts as a use. The input model is not
 * changed: the result is a new graph sharing the unchanged nodes and initializers. The pass is
 * on by default; {@code -Dkiln.onnx.optimize=false} turns it off.
 */
final class GraphOptimizer {
    static final String PREFIX = "kiln_opt::";
    /** Ops whose first output is a fresh tensor that a following Relu can overwrite. */
    private static final Set<String> RELU_BASES = Set.of("Conv", "Gemm", "MatMul", "MaxPool", "Add");

    private final OnnxGraph g;
    private final List<OnnxNode> nodes;
    private final Map<String, Value> inits;
    private final Set<String> inputNames = new HashSet<>();
    /** The graph's output names (the caller owns outputs: rewrites never fold them away). */
    private final Set<String> outputNames = new HashSet<>();
    private final Map<String, Integer> uses = new HashMap<>();
    private final Map<String, Integer> producer = new HashMap<>();

    private GraphOptimizer(OnnxGraph g) {
        this.g = g;
        this.nodes = new ArrayList<>(g.nodes());
        this.inits = new LinkedHashMap<>(g.initializers());
        for (ValueInfo in : g.inputs()) inputNames.add(in.name());
        for (ValueInfo out : g.outputs()) {
            outputNames.add(out.name());
            uses.merge(out.name(), 1, Integer::sum);
        }
        for (int i = 0; i < nodes.size(); i++) {
            OnnxNode n = nodes.get(i);
            for (String in : n.inputs()) if (!in.isEmpty()) uses.merge(in, 1, Integer::sum);
            for (OnnxGraph sub : GraphPlan.subgraphs(n)) countSubgraphUses(sub);
            for (String out : n.outputs()) if (!out.isEmpty()) producer.put(out, i);
        }
    }

    /** Whether the pass is enabled (system property {@code kiln.onnx.optimize}, default true). */
    static boolean enabled() { return !"false".equalsIgnoreCase(System.getProperty("kiln.onnx.optimize", "true")); }

    /** The optimized graph (the same object when nothing applies). */
    static OnnxGraph optimize(OnnxGraph g) { return optimize(g, false); }

    /** The same; bf16: constant-weight MatMul/Gemm nodes run in bf16 ({@link MatMulBiasFusion#toBf16}). */
    static OnnxGraph optimize(OnnxGraph g, boolean bf16) {
        GraphOptimizer o = new GraphOptimizer(g);
        boolean changed = o.foldConstants() | o.foldDequantizedWeights() | o.fuseFakeQuants() | o.foldConvBiasAdds() | o.foldBatchNorms() | o.transposeGemmWeights() | GeluFusion.apply(o.view()) | LayerNormFusion.apply(o.view())
                | AttentionFusion.apply(o.view()) | StackFusion.apply(o.view()) | QuantMatMulFusion.apply(o.view()) | (MatMulBiasFusion.enabled() && MatMulBiasFusion.apply(o.view()))
                | (bf16 && MatMulBiasFusion.toBf16(o.view()))
                | (MatMulBiasFusion.enabled() && MatMulBiasFusion.residualsEnabled() && MatMulBiasFusion.absorbResiduals(o.view()))
                | (fuseConvAddsEnabled() && o.fuseConvAdds()) | o.fuseRelus();
        List<OnnxNode> kept = changed ? o.nodes.stream().filter(n -> n != null).toList() : g.nodes();
        List<OnnxNode> laid = BlockedLayout.apply(kept, o::constant, o.inputNames, o.outputNames);
        if (!changed && laid == kept) return g;
        return new OnnxGraph(g.name(), laid, g.inputs(), g.outputs(), g.valueInfo(), o.inits);
    }

    private void countSubgraphUses(OnnxGraph sub) {
        for (OnnxNode n : sub.nodes()) {
            for (String in : n.inputs()) if (!in.isEmpty()) uses.merge(in, 1, Integer::sum);
            for (OnnxGraph s : GraphPlan.subgraphs(n)) countSubgraphUses(s);
        }
        for (ValueInfo out : sub.outputs()) uses.merge(out.name(), 1, Integer::sum);
    }

    // ------------------------------------------------------------------ Constant nodes

    /**
     * A Constant node with a tensor value becomes an initializer: it is not run on every call (a
     * torch export of GPT-2 has about a hundred per layer, for the shape arithmetic). Left alone
     * when its output is also a graph output (the caller owns outputs).
     */
    private boolean foldConstants() {
        boolean changed = false;
        for (int i = 0; i < nodes.size(); i++) {
            OnnxNode n = nodes.get(i);
            if (n == null || !FusionGraph.isDefault(n, "Constant") || n.outputs().size() != 1 || outputNames.contains(n.outputs().get(0))) continue;
            OnnxAttribute value = n.attributes().get("value");
            if (value == null || !(value.t() instanceof Value.TensorValue) || inits.containsKey(n.outputs().get(0))) continue;
            inits.put(n.outputs().get(0), value.t());
            producer.remove(n.outputs().get(0));
            nodes.set(i, null);
            changed = true;
        }
        return changed;
    }

    // ------------------------------------------------------------------ QDQ models

    /**
     * DequantizeLinear of a constant integer tensor with constant float scale and zero point (a QDQ
     * model's weights and biases): computed once here, as the op computes it ((q - zp) * scale per
     * tensor or along its axis), into a float initializer, so the weights then fold, pack and fuse
     * like a float model's. Not for blocked quantization (opset 21's block_size) or a graph output.
     */
    private boolean foldDequantizedWeights() {
        boolean changed = false;
        for (int i = 0; i < nodes.size(); i++) {
            OnnxNode n = nodes.get(i);
            if (n == null || !FusionGraph.isDefault(n, "DequantizeLinear") || n.outputs().size() != 1 || n.inputs().size() < 2
                    || outputNames.contains(n.outputs().get(0)) || n.attributes().containsKey("block_size")) continue;
            Value.TensorValue q = constant(n.inputs().get(0)), sc = constant(n.inputs().get(1));
            Value.TensorValue zp = n.inputs().size() > 2 && !n.inputs().get(2).isEmpty() ? constant(n.inputs().get(2)) : null;
            if (q == null || sc == null || (n.inputs().size() > 2 && !n.inputs().get(2).isEmpty() && zp == null)) continue;
            if ((q.type() != ElemType.INT8 && q.type() != ElemType.UINT8 && q.type() != ElemType.INT32) || sc.type() != ElemType.FLOAT) continue;
            Tensor w = q.tensor();
            double[] scale = sc.tensor().toDoubleArray(), z = zp == null ? new double[]{0} : zp.tensor().toDoubleArray();
            int axis = (int) (n.attributes().containsKey("axis") ? n.attributes().get("axis").i() : 1);
            if (axis < 0) axis += w.dim();
            if (scale.length != 1 && (sc.tensor().dim() != 1 || axis < 0 || axis >= w.dim() || w.size(axis) != scale.length)) continue;
            if (z.length != 1 && z.length != scale.length) continue;
            double[] v = w.toDoubleArray();
            float[] y = new float[v.length];
            long inner = 1;
            for (int d = axis + 1; d < w.dim(); d++) inner *= w.size(d);
            for (int e = 0; e < v.length; e++) {
                int a = scale.length == 1 ? 0 : (int) ((e / inner) % scale.length);
                y[e] = (float) ((v[e] - z[z.length == 1 ? 0 : a]) * scale[a]);
            }
            Tensor t = Tensor.fromArray(y, w.shape());
            t.storage().seal();
            inits.put(n.outputs().get(0), Value.of(t));
            producer.remove(n.outputs().get(0));
            for (String in : n.inputs()) if (!in.isEmpty()) uses.merge(in, -1, Integer::sum);
            nodes.set(i, null);
            changed = true;
        }
        return changed;
    }

    /**
     * QuantizeLinear whose only reader is a DequantizeLinear with the same single scale and zero
     * point (a QDQ model's activations): one "FakeQuant" node in domain {@value FusedOps#DOMAIN}, a
     * float pass with the same results (dev.kiln.onnx.ops.QuantFake). The zero point's type (uint8
     * when absent) is the code range; int16 and other forms are left alone.
     */
    private boolean fuseFakeQuants() {
        boolean changed = false;
        for (int i = 0; i < nodes.size(); i++) {
            OnnxNode dq = nodes.get(i);
            if (dq == null || !FusionGraph.isDefault(dq, "DequantizeLinear") || dq.outputs().size() != 1 || dq.inputs().size() < 2) continue;
            String code = dq.inputs().get(0);
            Integer j = producer.get(code);
            if (j == null || nodes.get(j) == null || !FusionGraph.isDefault(nodes.get(j), "QuantizeLinear") || uses.getOrDefault(code, 0) != 1) continue;
            OnnxNode q = nodes.get(j);
            if (q.outputs().size() != 1 || q.inputs().size() < 2 || q.attributes().containsKey("output_dtype") || q.attributes().containsKey("block_size")) continue;
            float[] qs = scalarParams(q), ds = scalarParams(dq);
            if (qs == null || ds == null || qs[0] != ds[0] || qs[1] != ds[1] || qs[2] != ds[2]) continue;
            Map<String, OnnxAttribute> attrs = Map.of("to", OnnxAttribute.ofInt("to", (long) qs[2]));
            List<String> ins = new ArrayList<>(q.inputs().subList(0, Math.min(3, q.inputs().size())));
            nodes.set(i, new OnnxNode(dq.name(), "FakeQuant", FusedOps.DOMAIN, ins, dq.outputs(), attrs));
            for (String in : dq.inputs()) if (!in.isEmpty()) uses.merge(in, -1, Integer::sum);
            nodes.set(j, null);
            producer.put(dq.outputs().get(0), i);
            changed = true;
        }
        return changed;
    }

    /** {scale, zero point, type code} of a Q/DQ node with a constant single float scale and a constant single uint8/int8 zero point (or none), else null. */
    private float[] scalarParams(OnnxNode n) {
        Value.TensorValue sc = constant(n.inputs().get(1));
        boolean hasZp = n.inputs().size() > 2 && !n.inputs().get(2).isEmpty();
        Value.TensorValue zp = hasZp ? constant(n.inputs().get(2)) : null;
        if (sc == null || sc.type() != ElemType.FLOAT || sc.tensor().numel() != 1 || (hasZp && (zp == null || zp.tensor().numel() != 1))) return null;
        ElemType t = zp == null ? ElemType.UINT8 : zp.type();
        if (t != ElemType.UINT8 && t != ElemType.INT8) return null;
        return new float[]{(float) sc.tensor().item(), zp == null ? 0f : (float) zp.tensor().item(), t.code()};
    }

    /** A constant initializer that is not a graph input, else null. */
    private Value.TensorValue constant(String name) {
        return !name.isEmpty() && !inputNames.contains(name) && inits.get(name) instanceof Value.TensorValue v ? v : null;
    }

    // ------------------------------------------------------------------ per-channel Add into Conv

    /**
     * Add(Conv(x, W[, B]), c) with c a constant per-channel vector ([C,1,1] or [1,C,1,1]) and the Conv
     * read only by the Add: the Conv takes B + c as its bias (TensorFlow's BiasAdd after Conv2D, as
     * SavedModel lowering and tf2onnx write it), so a following BatchNormalization and Relu fold too.
     */
    private boolean foldConvBiasAdds() {
        boolean changed = false;
        for (int i = 0; i < nodes.size(); i++) {
            OnnxNode add = nodes.get(i);
            if (add == null || !FusionGraph.isDefault(add, "Add") || add.inputs().size() != 2 || add.outputs().size() != 1) continue;
            for (int side = 0; side < 2; side++) {
                int j = soleProducer(add.inputs().get(side), "Conv");
                Tensor c = floatConst(add.inputs().get(1 - side));
                if (j < 0 || c == null) continue;
                OnnxNode conv = nodes.get(j);
                Tensor w = floatConst(conv.inputs().get(1));
                if (w == null || w.dim() != 4) continue;
                int ch = w.size(0);
                int[] cs = c.shape();
                boolean perChannel = c.numel() == ch && (java.util.Arrays.equals(cs, new int[] {ch, 1, 1}) || java.util.Arrays.equals(cs, new int[] {1, ch, 1, 1}));
                String biasName = conv.inputs().size() > 2 ? conv.inputs().get(2) : "";
                Tensor b = biasName.isEmpty() ? null : floatConst(biasName);
                if (!perChannel || (!biasName.isEmpty() && (b == null || b.numel() != ch))) continue;
                double[] nb = c.toDoubleArray();
                if (b != null) {
                    double[] bv = b.toDoubleArray();
                    for (int o = 0; o < ch; o++) nb[o] += bv[o];
                }
                String bName = addInit(add.outputs().get(0) + "/bias", nb, w, ch);
                nodes.set(j, new OnnxNode(conv.name(), conv.opType(), conv.domain(), List.of(conv.inputs().get(0), conv.inputs().get(1), bName),
                        List.of(add.outputs().get(0)), conv.attributes()));
                producer.put(add.outputs().get(0), j);
                nodes.set(i, null);
                changed = true;
                break;
            }
        }
        return changed;
    }

    // ------------------------------------------------------------------ BatchNormalization into Conv

    private boolean foldBatchNorms() {
        boolean changed = false;
        for (int i = 0; i < nodes.size(); i++) {
            OnnxNode bn = nodes.get(i);
            if (bn == null || !FusionGraph.isDefault(bn, "BatchNormalization") || !inferenceBn(bn)) continue;
            int j = soleProducer(bn.inputs().get(0), "Conv");
            if (j < 0) continue;
            OnnxNode conv = nodes.get(j);
            Tensor w = floatConst(conv.inputs().get(1));
            if (w == null || w.dim() < 3) continue;
            String biasName = conv.inputs().size() > 2 ? conv.inputs().get(2) : "";
            Tensor b = biasName.isEmpty() ? null : floatConst(biasName);
            if (!biasName.isEmpty() && b == null) continue;
            Tensor[] p = new Tensor[4];
            for (int k = 0; k < 4; k++) p[k] = floatConst(bn.inputs().get(k + 1));
            if (p[0] == null || p[1] == null || p[2] == null || p[3] == null) continue;
            int c = w.size(0);
            if (!channelVector(p, c) || (b != null && b.numel() != c)) continue;
            double eps = bn.attributes().containsKey("epsilon") ? bn.attributes().get("epsilon").f() : 1e-5;
            foldInto(j, conv, bn, w, b, p, eps);
            nodes.set(i, null);
            changed = true;
        }
        return changed;
    }

    private static boolean inferenceBn(OnnxNode bn) {
        OnnxAttribute training = bn.attributes().get("training_mode"), spatial = bn.attributes().get("spatial");
        long named = bn.outputs().stream().filter(s -> !s.isEmpty()).count();
        return bn.inputs().size() == 5 && named == 1 && !bn.outputs().get(0).isEmpty()
                && (training == null || training.i() == 0) && (spatial == null || spatial.i() != 0)
                && !bn.attributes().containsKey("is_test");
    }

    private static boolean channelVector(Tensor[] p, int c) {
        for (Tensor t : p) if (t.numel() != c) return false;
        return true;
    }

    /** conv(x, w, b) then bn(scale, shift, mean, var): w' = w * s, b' = (b - mean) * s + shift, s = scale / sqrt(var + eps). */
    private void foldInto(int j, OnnxNode conv, OnnxNode bn, Tensor w, Tensor b, Tensor[] p, double eps) {
        int c = w.size(0);
        double[] scale = p[0].toDoubleArray(), shift = p[1].toDoubleArray(), mean = p[2].toDoubleArray(), var = p[3].toDoubleArray();
        double[] wv = w.toDoubleArray(), bv = b == null ? new double[c] : b.toDoubleArray();
        int per = wv.length / c;
        double[] nb = new double[c];
        for (int o = 0; o < c; o++) {
            double s = scale[o] / Math.sqrt(var[o] + eps);
            for (int k = 0; k < per; k++) wv[o * per + k] *= s;
            nb[o] = (bv[o] - mean[o]) * s + shift[o];
        }
        String wName = addInit(conv.inputs().get(1) + "/bn_folded", wv, w);
        String bName = addInit(bn.outputs().get(0) + "/bias", nb, w, c);
        List<String> ins = List.of(conv.inputs().get(0), wName, bName);
        nodes.set(j, new OnnxNode(conv.name(), conv.opType(), conv.domain(), ins, List.of(bn.outputs().get(0)), conv.attributes()));
        producer.put(bn.outputs().get(0), j);
    }

    // ------------------------------------------------------------------ Gemm transB weights

    private boolean transposeGemmWeights() {
        boolean changed = false;
        for (int i = 0; i < nodes.size(); i++) {
            OnnxNode n = nodes.get(i);
            if (n == null || !FusionGraph.isDefault(n, "Gemm") || n.inputs().size() < 2) continue;
            OnnxAttribute tb = n.attributes().get("transB");
            if (tb == null || tb.i() == 0) continue;
            Tensor b = floatConst(n.inputs().get(1));
            if (b == null || b.dim() != 2) continue;
            Tensor bt;
            try (Tensor view = b.transpose(0, 1)) { bt = view.contiguous(); }
            bt.storage().seal();      // a constant like the weight it comes from (see Storage.isConstant)
            String name = unique(PREFIX + n.inputs().get(1) + "/T");
            inits.put(name, Value.of(bt, ((Value.TensorValue) inits.get(n.inputs().get(1))).type()));
            List<String> ins = new ArrayList<>(n.inputs());
            ins.set(1, name);
            Map<String, OnnxAttribute> attrs = new LinkedHashMap<>(n.attributes());
            attrs.remove("transB");
            nodes.set(i, new OnnxNode(n.name(), n.opType(), n.domain(), ins, n.outputs(), attrs));
            changed = true;
        }
        return changed;
    }

    // ------------------------------------------------------------------ residual Add (+ Relu) into Conv

    /**
     * Add(Conv(x, W[, B]), r), the Conv read only by the Add (a residual block's last conv and its
     * shortcut), with the Add's Relu when the Add is read only by a Relu: one "ConvAdd" or
     * "ConvAdd+Relu" node (inputs x, W, B or "", r) at the Add's place, so r exists when it runs.
     * The conv adds r and applies the ReLU as it stores its output ({@code Conv.conv2dAdd}); an r of
     * another shape than the output (a broadcast Add) runs as the separate ops.
     */
    private boolean fuseConvAdds() {
        boolean changed = false;
        for (int i = 0; i < nodes.size(); i++) {
            OnnxNode add = nodes.get(i);
            if (add == null || !FusionGraph.isDefault(add, "Add") || add.inputs().size() != 2 || add.outputs().size() != 1) continue;
            for (int side = 0; side < 2; side++) {
                int j = soleProducer(add.inputs().get(side), "Conv");
                String r = add.inputs().get(1 - side);
                if (j < 0 || r.isEmpty() || r.equals(add.inputs().get(side))) continue;
                OnnxNode conv = nodes.get(j);
                String out = add.outputs().get(0);
                int reluAt = reluOf(out);
                if (reluAt >= 0) out = nodes.get(reluAt).outputs().get(0);
                List<String> ins = new ArrayList<>(conv.inputs());
                while (ins.size() < 3) ins.add("");
                ins.add(r);
                nodes.set(i, new OnnxNode(conv.name(), reluAt >= 0 ? "ConvAdd+Relu" : "ConvAdd", FusedOps.DOMAIN, ins,
                        List.of(out), conv.attributes()));
                producer.put(out, i);
                nodes.set(j, null);
                if (reluAt >= 0) nodes.set(reluAt, null);
                changed = true;
                break;
            }
        }
        return changed;
    }

    /** Whether {@link #fuseConvAdds} runs (property {@code kiln.onnx.fuseConvAdd}, default true; false for A/B runs). */
    static boolean fuseConvAddsEnabled() { return !"false".equalsIgnoreCase(System.getProperty("kiln.onnx.fuseConvAdd", "true")); }

    /** The index of the Relu that is the only reader of name (a single-output node's output), else -1. */
    private int reluOf(String name) {
        if (uses.getOrDefault(name, 0) != 1) return -1;
        for (int k = 0; k < nodes.size(); k++) {
            OnnxNode n = nodes.get(k);
            if (n != null && FusionGraph.isDefault(n, "Relu") && n.inputs().size() == 1 && n.inputs().get(0).equals(name)
                    && n.outputs().size() == 1) return k;
        }
        return -1;
    }

    // ------------------------------------------------------------------ Relu fusion

    private boolean fuseRelus() {
        boolean changed = false;
        for (int i = 0; i < nodes.size(); i++) {
            OnnxNode relu = nodes.get(i);
            if (relu == null || !FusionGraph.isDefault(relu, "Relu") || relu.inputs().size() != 1 || relu.outputs().size() != 1) continue;
            Integer j = producer.get(relu.inputs().get(0));
            if (j == null || nodes.get(j) == null || uses.getOrDefault(relu.inputs().get(0), 0) != 1) continue;
            OnnxNode base = nodes.get(j);
            if (!RELU_BASES.contains(base.opType()) || !FusionGraph.isDefault(base, base.opType())) continue;
            if (base.outputs().stream().filter(s -> !s.isEmpty()).count() != 1 || !base.outputs().get(0).equals(relu.inputs().get(0)))
                continue;
            List<String> outs = new ArrayList<>(base.outputs());
            outs.set(0, relu.outputs().get(0));
            nodes.set(j, new OnnxNode(base.name(), base.opType() + "+Relu", FusedOps.DOMAIN, base.inputs(), outs, base.attributes()));
            producer.put(relu.outputs().get(0), j);
            nodes.set(i, null);
            changed = true;
        }
        return changed;
    }

    // ------------------------------------------------------------------ GELU fusion

    /** This graph as the rewrites see it ({@link FusionGraph}). */
    private FusionGraph view() {
        return new FusionGraph() {
            @Override public List<OnnxNode> nodes() { return nodes; }
            @Override public int producer(String name, String opType, int count) {
                return count == 1 ? soleProducer(name, opType) : -1;
            }
            @Override public int producerOf(String name) {
                Integer j = producer.get(name);
                return j == null || nodes.get(j) == null ? -1 : j;
            }
            @Override public int uses(String name) { return uses.getOrDefault(name, 0); }
            @Override public boolean isOutput(String name) { return outputNames.contains(name); }
            @Override public void use(String name, int delta) { uses.merge(name, delta, Integer::sum); }
            @Override public double scalar(String name) { return GeluFusion.scalarOf(GraphOptimizer.this::floatConst, name); }
            @Override public Value.TensorValue constant(String name) { return GraphOptimizer.this.constant(name); }
            @Override public void produced(String name, int j) { producer.put(name, j); }
        };
    }

    // ------------------------------------------------------------------ helpers


    /** The index of the node of type opType producing name as its only output with one use, else -1. */
    private int soleProducer(String name, String opType) {
        Integer j = producer.get(name);
        if (j == null || nodes.get(j) == null || !FusionGraph.isDefault(nodes.get(j), opType)) return -1;
        if (uses.getOrDefault(name, 0) != 1 || nodes.get(j).outputs().size() != 1) return -1;
        return j;
    }

    /**
     * The tensor of a constant float initializer (F32 or F64), or of a Constant node's float
     * {@code value} (exporters such as torch write scalars that way), or null.
     */
    private Tensor floatConst(String name) {
        if (name.isEmpty() || inputNames.contains(name)) return null;
        Value init = inits.get(name);
        if (init == null) {
            Integer j = producer.get(name);
            OnnxNode n = j == null ? null : nodes.get(j);
            OnnxAttribute value = n != null && FusionGraph.isDefault(n, "Constant") ? n.attributes().get("value") : null;
            init = value == null ? null : value.t();
        }
        if (!(init instanceof Value.TensorValue v)) return null;
        DType t = v.tensor().dtype();
        return (t == DType.F32 || t == DType.F64) && (v.type() == ElemType.FLOAT || v.type() == ElemType.DOUBLE) ? v.tensor() : null;
    }

    /** Adds an initializer with like's dtype and the given shape (like's shape when none given). */
    private String addInit(String base, double[] values, Tensor like, int... shape) {
        int[] s = shape.length == 0 ? like.shape() : shape;
        Tensor t;
        if (like.dtype() == DType.F64) {
            t = Tensor.fromArray(values, s);
        } else {
            float[] f = new float[values.length];
            for (int i = 0; i < f.length; i++) f[i] = (float) values[i];
            t = Tensor.fromArray(f, s);
        }
        t.storage().seal();
        String name = unique(PREFIX + base);
        inits.put(name, Value.of(t));
        return name;
    }

    private String unique(String base) {
        String name = base;
        for (int k = 1; inits.containsKey(name) || producer.containsKey(name) || inputNames.contains(name); k++) name = base + "#" + k;
        return name;
    }
}
