package dev.kiln.onnx;

import dev.kiln.backend.cpu.ConvBlocked;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * The last load-time rewrite ({@link GraphOptimizer}): chains of convolutions move to the
 * channel-blocked layout NCHW16c ({@link ConvBlocked}), where each conv stores whole vectors of 16
 * channels with its bias, residual and ReLU applied in registers. A chain starts at a conv that
 * reads a graph input of fewer than 16 channels (a network's stem, read planar: an image), or a
 * FakeQuant of one (a QDQ model's stem), and follows the blocked tensors:
 * <ul>
 *   <li>Conv, Conv+Relu, ConvAdd, ConvAdd+Relu with a constant F32 weight [O, C, kh, kw], O a multiple
 *       of 32, group 1, dilation 1, symmetric explicit padding: "ConvNchwc" (a planar residual gets
 *       a "ToNchwc" reorder);</li>
 *   <li>MaxPool (2-d, one output, no dilation, ceil_mode 0), Relu, a QDQ model's FakeQuant, and
 *       Add / Add+Relu of two blocked tensors on a blocked input: the blocked form (Relu, FakeQuant
 *       and Add unchanged, on 5-d tensors);</li>
 *   <li>GlobalAveragePool: "GlobalAveragePoolNchwc", whose [N, C, 1, 1] output is planar again.</li>
 * </ul>
 * Any other reader of a blocked value, and a graph output, gets the planar tensor through one
 * "ToNchw" reorder under the original name. A FakeQuant that is the only reader of a conv's output
 * moves into the conv, which then fake-quantizes as it stores. Only where the native kernel runs
 * ({@link ConvBlocked#available()}); graphs with subgraphs are left alone. Property
 * {@code kiln.conv.blocked=false} turns the pass off.
 */
final class BlockedLayout {
    private BlockedLayout() {}

    private static final String PREFIX = GraphOptimizer.PREFIX + "nchwc::";
    /** Tests switch the pass off to compare with the planar graph. */
    static volatile boolean enabled = true;

    /**
     * The rewritten node list (the same list when no chain starts). constant: a constant
     * initializer by name (null when the name is not one); outputs: the graph's output names.
     */
    static List<OnnxNode> apply(List<OnnxNode> nodes, Function<String, Value.TensorValue> constant, Set<String> inputs, Set<String> outputs) {
        if (!enabled || !ConvBlocked.available()) return nodes;
        for (OnnxNode n : nodes) if (!GraphPlan.subgraphs(n).isEmpty()) return nodes;
        Map<String, String> blocked = new HashMap<>();     // original name -> its blocked value
        Set<String> images = new HashSet<>(inputs);        // where a chain may start: graph inputs, and their FakeQuant (a QDQ model's)
        Set<String> planar = new HashSet<>();               // blocked values whose planar form exists (reordered)
        List<OnnxNode> out = new ArrayList<>();
        boolean any = false;
        for (OnnxNode n : nodes) {
            OnnxNode b = blockedForm(n, constant, images, blocked, out);
            if (b != null) {
                out.add(b);
                any = true;
                continue;
            }
            for (String in : n.inputs()) needPlanar(in, blocked, planar, out);
            if (n.opType().equals("FakeQuant") && n.domain().equals(FusedOps.DOMAIN) && images.contains(n.inputs().get(0)))
                images.addAll(n.outputs());
            out.add(n);
        }
        if (!any) return nodes;
        for (String o : outputs) needPlanar(o, blocked, planar, out);
        return fuseFakeQuants(out, outputs);
    }

    /**
     * A FakeQuant whose input is a ConvNchwc's output read by nothing else (nor a graph output): the
     * conv fake-quantizes as it stores (its inputs 4 and 5 the scale and zero point, fq_to the code
     * type), one pass less over the activation; the same bits.
     */
    private static List<OnnxNode> fuseFakeQuants(List<OnnxNode> nodes, Set<String> outputs) {
        Map<String, Integer> uses = new HashMap<>(), producer = new HashMap<>();
        for (String o : outputs) uses.merge(o, 1, Integer::sum);
        for (int i = 0; i < nodes.size(); i++) {
            for (String in : nodes.get(i).inputs()) if (!in.isEmpty()) uses.merge(in, 1, Integer::sum);
            for (String o : nodes.get(i).outputs()) producer.put(o, i);
        }
        List<OnnxNode> out = new ArrayList<>(nodes);
        for (int i = 0; i < out.size(); i++) {
            OnnxNode fq = out.get(i);
            if (fq == null || !fq.opType().equals("FakeQuant") || !fq.domain().equals(FusedOps.DOMAIN)) continue;
            String x = fq.inputs().get(0);
            Integer j = producer.get(x);
            if (j == null || out.get(j) == null || !out.get(j).opType().equals("ConvNchwc") || uses.getOrDefault(x, 0) != 1) continue;
            OnnxNode conv = out.get(j);
            List<String> ins = new ArrayList<>(conv.inputs());
            ins.add(fq.inputs().get(1));
            ins.add(fq.inputs().size() > 2 ? fq.inputs().get(2) : "");
            Map<String, OnnxAttribute> attrs = new LinkedHashMap<>(conv.attributes());
            attrs.put("fq_to", OnnxAttribute.ofInt("fq_to", fq.attributes().get("to").i()));
            out.set(j, new OnnxNode(conv.name(), conv.opType(), conv.domain(), ins, fq.outputs(), attrs));
            out.set(i, null);
        }
        return out.stream().filter(n -> n != null).toList();
    }

    /** Adds a ToNchw reorder for name when it exists only blocked so far. */
    private static void needPlanar(String name, Map<String, String> blocked, Set<String> planar, List<OnnxNode> out) {
        String b = blocked.get(name);
        if (b == null || !planar.add(name)) return;
        out.add(new OnnxNode("", "ToNchw", FusedOps.DOMAIN, List.of(b), List.of(name), Map.of()));
    }

    /** The blocked replacement of n (registering its blocked output), or null when n stays planar. */
    private static OnnxNode blockedForm(OnnxNode n, Function<String, Value.TensorValue> constant, Set<String> images,
                                        Map<String, String> blocked, List<OnnxNode> out) {
        String type = n.opType();
        boolean std = n.domain().isEmpty() || n.domain().equals("ai.onnx"), fused = n.domain().equals(FusedOps.DOMAIN);
        List<String> ins = n.inputs();
        if (n.outputs().size() != 1 || n.outputs().get(0).isEmpty()) return null;
        String y = n.outputs().get(0);
        if ((std && type.equals("Conv")) || (fused && (type.equals("Conv+Relu") || type.equals("ConvAdd") || type.equals("ConvAdd+Relu")))) {
            int[] w = convWeight(n, constant);
            if (w == null) return null;
            String x = ins.get(0), xb = blocked.get(x);
            if (xb == null && (w[1] >= ConvBlocked.B || !images.contains(x))) return null;   // chains start at a stem
            boolean add = type.startsWith("ConvAdd");
            String r = add ? ins.get(3) : "";
            if (add && !blocked.containsKey(r)) {
                String rb = PREFIX + r;
                out.add(new OnnxNode("", "ToNchwc", FusedOps.DOMAIN, List.of(r), List.of(rb), Map.of()));
                blocked.put(r, rb);
            }
            Map<String, OnnxAttribute> attrs = new LinkedHashMap<>();
            int[] pads = pads(n);
            attrs.put("strides", OnnxAttribute.ofInts("strides", longs(ints(n, "strides", 1, 1))));
            attrs.put("pads", OnnxAttribute.ofInts("pads", pads[0], pads[1], pads[0], pads[1]));
            attrs.put("relu", OnnxAttribute.ofInt("relu", type.endsWith("+Relu") ? 1 : 0));
            List<String> cin = List.of(xb != null ? xb : x, ins.get(1), ins.size() > 2 ? ins.get(2) : "", add ? blocked.get(r) : "");
            return produce(new OnnxNode(n.name(), "ConvNchwc", FusedOps.DOMAIN, cin, List.of(PREFIX + y), attrs), y, blocked);
        }
        if (ins.isEmpty() || !blocked.containsKey(ins.get(0))) return null;
        String xb = blocked.get(ins.get(0));
        if (std && type.equals("MaxPool") && poolFits(n)) {
            Map<String, OnnxAttribute> attrs = new LinkedHashMap<>();
            int[] pads = pads(n);
            attrs.put("kernel_shape", n.attributes().get("kernel_shape"));
            attrs.put("strides", OnnxAttribute.ofInts("strides", longs(ints(n, "strides", 1, 1))));
            attrs.put("pads", OnnxAttribute.ofInts("pads", pads[0], pads[1], pads[0], pads[1]));
            return produce(new OnnxNode(n.name(), "MaxPoolNchwc", FusedOps.DOMAIN, List.of(xb), List.of(PREFIX + y), attrs), y, blocked);
        }
        if (std && type.equals("GlobalAveragePool"))
            return new OnnxNode(n.name(), "GlobalAveragePoolNchwc", FusedOps.DOMAIN, List.of(xb), List.of(y), Map.of());
        if (fused && type.equals("FakeQuant"))     // per tensor: the same on any layout
            return produce(new OnnxNode(n.name(), type, n.domain(), List.of(xb, ins.get(1), ins.size() > 2 ? ins.get(2) : ""), List.of(PREFIX + y),
                    n.attributes()), y, blocked);
        if (std && type.equals("Relu") && ins.size() == 1)
            return produce(new OnnxNode(n.name(), type, n.domain(), List.of(xb), List.of(PREFIX + y), n.attributes()), y, blocked);
        if (((std && type.equals("Add")) || (fused && type.equals("Add+Relu"))) && ins.size() == 2 && blocked.containsKey(ins.get(1)))
            return produce(new OnnxNode(n.name(), type, n.domain(), List.of(xb, blocked.get(ins.get(1))), List.of(PREFIX + y), n.attributes()), y, blocked);
        return null;
    }

    private static OnnxNode produce(OnnxNode node, String y, Map<String, String> blocked) {
        blocked.put(y, node.outputs().get(0));
        return node;
    }

    /** [O, C] of a conv that the blocked kernel takes (see the class comment), else null. */
    private static int[] convWeight(OnnxNode n, Function<String, Value.TensorValue> constant) {
        List<String> ins = n.inputs();
        if (ins.size() < 2) return null;
        Value.TensorValue w = constant.apply(ins.get(1));
        if (w == null || w.type() != ElemType.FLOAT || w.tensor().dim() != 4) return null;
        int[] s = w.tensor().shape();
        if (s[0] % ConvBlocked.OG != 0 || (s[1] >= ConvBlocked.B && s[1] % ConvBlocked.B != 0)) return null;
        if (n.attributes().containsKey("group") && n.attributes().get("group").i() != 1) return null;
        if (!allOnes(n, "dilations") || !notSetAutoPad(n) || pads(n) == null) return null;
        int[] st = ints(n, "strides", 1, 1);
        if (st.length != 2 || st[0] < 1 || st[1] < 1) return null;
        OnnxAttribute ks = n.attributes().get("kernel_shape");
        if (ks != null && (ks.ints().length != 2 || ks.ints()[0] != s[2] || ks.ints()[1] != s[3])) return null;
        return new int[]{s[0], s[1]};
    }

    private static boolean poolFits(OnnxNode n) {
        OnnxAttribute ks = n.attributes().get("kernel_shape");
        if (ks == null || ks.ints().length != 2 || !allOnes(n, "dilations") || !notSetAutoPad(n) || pads(n) == null) return false;
        OnnxAttribute ceil = n.attributes().get("ceil_mode"), order = n.attributes().get("storage_order");
        int[] p = pads(n), st = ints(n, "strides", 1, 1);
        return (ceil == null || ceil.i() == 0) && (order == null || order.i() == 0) && st.length == 2
                && p[0] < ks.ints()[0] && p[1] < ks.ints()[1];
    }

    /** Symmetric 2-d pads as (h, w), or null when the node's pads are not symmetric 2-d ones. */
    private static int[] pads(OnnxNode n) {
        OnnxAttribute a = n.attributes().get("pads");
        if (a == null) return new int[]{0, 0};
        long[] p = a.ints();
        if (p.length != 4 || p[0] != p[2] || p[1] != p[3] || p[0] < 0 || p[1] < 0) return null;
        return new int[]{(int) p[0], (int) p[1]};
    }

    private static int[] ints(OnnxNode n, String name, int... def) {
        OnnxAttribute a = n.attributes().get(name);
        if (a == null) return def;
        int[] r = new int[a.ints().length];
        for (int i = 0; i < r.length; i++) r[i] = Math.toIntExact(a.ints()[i]);
        return r;
    }

    private static long[] longs(int[] v) {
        long[] r = new long[v.length];
        for (int i = 0; i < v.length; i++) r[i] = v[i];
        return r;
    }

    private static boolean allOnes(OnnxNode n, String name) {
        OnnxAttribute a = n.attributes().get(name);
        if (a == null) return true;
        for (long v : a.ints()) if (v != 1) return false;
        return true;
    }

    private static boolean notSetAutoPad(OnnxNode n) {
        OnnxAttribute a = n.attributes().get("auto_pad");
        return a == null || a.string() == null || a.string().equals("NOTSET");
    }
}
