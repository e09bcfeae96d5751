package dev.kiln.compress.quant;

import dev.kiln.io.AtomicWrite;
import dev.kiln.io.KilnFormatException;
import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.OnnxAttribute;
import dev.kiln.onnx.OnnxGraph;
import dev.kiln.onnx.OnnxModel;
import dev.kiln.onnx.OnnxNode;
import dev.kiln.onnx.OnnxReader;
import dev.kiln.onnx.Value;
import dev.kiln.onnx.proto.ProtoReader;
import dev.kiln.onnx.proto.ProtoWriter;

import static dev.kiln.onnx.proto.OnnxProtos.*;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Dynamic int8 quantization of an ONNX file, written as the graph ONNX Runtime's
 * {@code quantize_dynamic} writes (so the file runs in ORT, whose MatMulIntegerToFloat fusion
 * picks it up, and in Kiln, whose {@code QuantFast} runs it on the int8 GEMM). Each MatMul (and
 * Gemm with alpha = beta = 1, transA = 0) whose weight B is a 2-D float initializer becomes
 * <pre>
 * X --DynamicQuantizeLinear--> Xq, Xs, Xz        (uint8, per tensor, computed at run time)
 * MatMulInteger(Xq, Wq, Xz, Wz) -> int32         (Wq int8 [K, N], symmetric: Wz = 0)
 * Cast(to float) ; Mul(Xs, Ws) -> S ; Mul(., S) -> Y   (Gemm: then Add(., C))
 * </pre>
 * Weights are symmetric int8 in [-127, 127]: Ws = max|W| / 127 per tensor, or per output column
 * with {@code perChannel} (Wz then has N zeros). A weight is replaced only when every use of it is
 * such a node; otherwise the float initializer stays beside the int8 one.
 *
 * <p>The file is rewritten at the protobuf level: every field of the model and of its main graph
 * is copied through byte for byte except the replaced nodes and initializers, so opsets, metadata,
 * value_info, subgraphs and unknown fields survive. Needs ai.onnx opset 11 or later
 * (DynamicQuantizeLinear); models with external data are refused.
 */
public final class OnnxDynamicQuantizer {
    private OnnxDynamicQuantizer() {}

    /** What to quantize: op types (MatMul, Gemm), node names to leave alone, per-channel weight scales. */
    public record Options(Set<String> opTypes, Set<String> excludeNodes, boolean perChannel, int weightBits, int blockSize, int accuracyLevel) {
        /**
         * Dynamic int8 (weightBits 0); weightBits 4 or 8: weight-only MatMulNBits with blocks of
         * blockSize along K and the given accuracy_level (0: float activations; 4: the engines may
         * quantize activations to int8 per block for their integer kernels).
         */
        public Options {
            if (weightBits != 0 && weightBits != 4 && weightBits != 8)
                throw new IllegalArgumentException("weight-only quantization takes 4 or 8 bits, got " + weightBits);
            if (weightBits != 0 && (blockSize < 16 || Integer.bitCount(blockSize) != 1))
                throw new IllegalArgumentException("weight-only block size must be a power of two >= 16, got " + blockSize);
            if (accuracyLevel < 0 || accuracyLevel > 4)
                throw new IllegalArgumentException("accuracy level must be 0..4 (MatMulNBits' accuracy_level), got " + accuracyLevel);
        }

        public Options(Set<String> opTypes, Set<String> excludeNodes, boolean perChannel) { this(opTypes, excludeNodes, perChannel, 0, 32, 0); }

        public static Options defaults() { return new Options(Set.of("MatMul", "Gemm"), Set.of(), false); }
    }

    /** The outcome: nodes quantized (name or first output), float weights dropped, file sizes in bytes. */
    public record Result(List<String> nodes, int weightsDropped, long bytesIn, long bytesOut) {}

    private static final String MS_DOMAIN = "com.microsoft";

    /** Quantizes {@code in} into {@code out} (written atomically). */
    public static Result quantize(Path in, Path out, Options opts) throws IOException {
        OnnxModel model = OnnxReader.read(in);
        if (model.opset() < 11)
            throw new KilnFormatException(in + ": opset " + model.opset() + " has no DynamicQuantizeLinear (needs 11 or later)");
        OnnxGraph g = model.graph();
        Map<String, Plan> plans = plan(g, opts);
        Set<String> drop = droppable(g, plans);
        List<String> names = new ArrayList<>();
        for (Plan p : plans.values()) names.add(p.label);
        byte[] bytes;
        try (Arena arena = Arena.ofConfined(); FileChannel ch = FileChannel.open(in, StandardOpenOption.READ)) {
            MemorySegment seg = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
            bytes = rewriteModel(ProtoReader.of(seg, in.toString()), g, plans, drop, opts);
        }
        byte[] file = bytes;
        AtomicWrite.write(out, ch -> {
            ByteBuffer buf = ByteBuffer.wrap(file);
            while (buf.hasRemaining()) ch.write(buf);
        });
        return new Result(names, drop.size(), Files.size(in), bytes.length);
    }

    /** One node to replace: its weight [K, N] (transposed from a Gemm's transB), the bias of a Gemm. */
    private record Plan(String label, String x, String weight, boolean transB, String bias, String y, int k, int n) {}

    private static Map<String, Plan> plan(OnnxGraph g, Options opts) {
        Map<String, Plan> plans = new LinkedHashMap<>();  // keyed by the node's first output (unique in SSA)
        for (OnnxNode node : g.nodes()) {
            if (!node.domain().isEmpty() && !node.domain().equals("ai.onnx")) continue;
            if (!opts.opTypes().contains(node.opType()) || opts.excludeNodes().contains(node.name())) continue;
            if (node.inputs().size() < 2 || node.outputs().size() != 1) continue;
            Value w = g.initializers().get(node.inputs().get(1));
            if (!(w instanceof Value.TensorValue tv) || tv.type() != ElemType.FLOAT || tv.tensor().dim() != 2) continue;
            boolean transB = false;
            String bias = null;
            if (node.opType().equals("Gemm")) {
                if (attrFloat(node, "alpha", 1f) != 1f || attrFloat(node, "beta", 1f) != 1f || attrInt(node, "transA", 0) != 0) continue;
                transB = attrInt(node, "transB", 0) != 0;
                if (node.inputs().size() > 2 && !node.inputs().get(2).isEmpty()) bias = node.inputs().get(2);
            } else if (node.inputs().size() != 2) continue;
            int[] s = tv.tensor().shape();
            int k = transB ? s[1] : s[0], n = transB ? s[0] : s[1];
            String label = node.name().isEmpty() ? node.outputs().get(0) : node.name();
            plans.put(node.outputs().get(0), new Plan(label, node.inputs().get(0), node.inputs().get(1), transB, bias,
                    node.outputs().get(0), k, n));
        }
        return plans;
    }

    /** Weights used only by planned nodes (as their B), nowhere else (other inputs, subgraphs, graph outputs). */
    private static Set<String> droppable(OnnxGraph g, Map<String, Plan> plans) {
        Map<String, Integer> uses = new HashMap<>();
        countUses(g, uses);
        for (var o : g.outputs()) uses.merge(o.name(), 1, Integer::sum);
        Map<String, Integer> planned = new HashMap<>();
        for (Plan p : plans.values()) planned.merge(p.weight, 1, Integer::sum);
        Set<String> drop = new HashSet<>();
        for (var e : planned.entrySet()) if (e.getValue().equals(uses.get(e.getKey()))) drop.add(e.getKey());
        return drop;
    }

    private static void countUses(OnnxGraph g, Map<String, Integer> uses) {
        for (OnnxNode n : g.nodes()) {
            for (String in : n.inputs()) if (!in.isEmpty()) uses.merge(in, 1, Integer::sum);
            for (OnnxAttribute a : n.attributes().values()) {
                if (a.g() != null) countUses(a.g(), uses);
                if (a.graphs() != null) for (OnnxGraph sub : a.graphs()) countUses(sub, uses);
            }
        }
    }

    private static byte[] rewriteModel(ProtoReader r, OnnxGraph g, Map<String, Plan> plans, Set<String> drop, Options opts)
            throws IOException {
        ProtoWriter w = new ProtoWriter(1 << 20);
        boolean msDomain = false;
        while (r.next()) {
            if (r.field() == MODEL_OPSET_IMPORT) {
                ProtoReader o = r.readMessage("opset_import");
                ProtoReader oc = o.copy();
                while (oc.next()) {
                    if (oc.field() == 1) msDomain |= oc.readString().equals(MS_DOMAIN);
                    else oc.skip();
                }
                w.raw(r.rawField());
            } else if (r.field() == MODEL_GRAPH) {
                ProtoReader gr = r.readMessage("graph");
                byte[] graph = rewriteGraph(gr, g, plans, drop, opts);
                w.bytes(MODEL_GRAPH, graph);
            } else {
                r.skip();
                w.raw(r.rawField());
            }
        }
        if (opts.weightBits() != 0 && !msDomain) w.message(MODEL_OPSET_IMPORT, o -> o.string(1, MS_DOMAIN).int64(2, 1));
        return w.toByteArray();
    }

    private static byte[] rewriteGraph(ProtoReader r, OnnxGraph g, Map<String, Plan> plans, Set<String> drop, Options opts)
            throws IOException {
        ProtoWriter w = new ProtoWriter(1 << 20);
        Set<String> quantizedWeights = new HashSet<>();
        List<byte[]> newInits = new ArrayList<>();
        while (r.next()) {
            switch (r.field()) {
                case GRAPH_NODE -> {
                    ProtoReader nr = r.readMessage("node");
                    Plan p = plans.get(firstOutput(nr.copy()));
                    if (p == null) {
                        w.raw(r.rawField());
                        break;
                    }
                    String q = p.y + "_kq";   // prefix of every name this node adds
                    String mm = p.bias == null ? p.y : q + "_nobias";   // the product, before a Gemm's bias
                    if (opts.weightBits() != 0) {
                        if (quantizedWeights.add(p.weight)) newInits.addAll(blockInitializers(g, p, opts.weightBits(), opts.blockSize()));
                        node(w, MS_DOMAIN, "MatMulNBits", q + "_nbits", List.of(p.x, p.weight + "_q" + opts.weightBits(), p.weight + "_block_scales"),
                                List.of(mm), List.of(Map.entry("K", (long) p.k), Map.entry("N", (long) p.n),
                                        Map.entry("bits", (long) opts.weightBits()), Map.entry("block_size", (long) opts.blockSize()),
                                        Map.entry("accuracy_level", (long) opts.accuracyLevel())));
                    } else {
                        if (quantizedWeights.add(p.weight)) newInits.addAll(weightInitializers(g, p, opts.perChannel()));
                        String wq = p.weight + "_quantized", ws = p.weight + "_scale", wz = p.weight + "_zero_point";
                        node(w, "", "DynamicQuantizeLinear", q + "_dql", List.of(p.x), List.of(q + "_x", q + "_xs", q + "_xz"), List.of());
                        node(w, "", "MatMulInteger", q + "_mmi", List.of(q + "_x", wq, q + "_xz", wz), List.of(q + "_i32"), List.of());
                        node(w, "", "Cast", q + "_cast", List.of(q + "_i32"), List.of(q + "_f"), List.of(Map.entry("to", (long) ElemType.FLOAT.code())));
                        node(w, "", "Mul", q + "_scale", List.of(q + "_xs", ws), List.of(q + "_s"), List.of());
                        node(w, "", "Mul", q + "_dequant", List.of(q + "_f", q + "_s"), List.of(mm), List.of());
                    }
                    if (p.bias != null) node(w, "", "Add", q + "_bias", List.of(mm, p.bias), List.of(p.y), List.of());
                }
                case GRAPH_INITIALIZER -> {
                    ProtoReader tr = r.readMessage("initializer");
                    String name = tensorName(tr.copy(), "kiln quantize");
                    if (!drop.contains(name)) w.raw(r.rawField());
                }
                default -> {
                    r.skip();
                    w.raw(r.rawField());
                }
            }
        }
        for (byte[] t : newInits) w.bytes(GRAPH_INITIALIZER, t);
        return w.toByteArray();
    }

    /** Wq int8 [K, N], Ws float (scalar or [N]), Wz int8 (scalar or [N] zeros), as encoded TensorProtos. */
    private static List<byte[]> weightInitializers(OnnxGraph g, Plan p, boolean perChannel) {
        float[] v = ((Value.TensorValue) g.initializers().get(p.weight)).tensor().toFloatArray();
        int k = p.k, n = p.n;
        float[] scale = new float[perChannel ? n : 1];
        for (int i = 0; i < k; i++)
            for (int j = 0; j < n; j++) {
                int s = perChannel ? j : 0;
                scale[s] = Math.max(scale[s], Math.abs(weightAt(v, p, i, j)));
            }
        for (int s = 0; s < scale.length; s++) scale[s] = scale[s] == 0 ? 1f : scale[s] / 127f;
        byte[] q = new byte[k * n];   // [K, N]
        for (int i = 0; i < k; i++)
            for (int j = 0; j < n; j++)   // Math.round: half up (ORT: half to even; ties are rare)
                q[i * n + j] = (byte) Math.max(-127, Math.min(127, Math.round(weightAt(v, p, i, j) / scale[perChannel ? j : 0])));
        long[] sd = perChannel ? new long[]{n} : new long[0];
        ByteBuffer sb = ByteBuffer.allocate(4 * scale.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : scale) sb.putFloat(f);
        return List.of(tensor(p.weight + "_quantized", ElemType.INT8.code(), new long[]{k, n}, q),
                tensor(p.weight + "_scale", ElemType.FLOAT.code(), sd, sb.array()),
                tensor(p.weight + "_zero_point", ElemType.INT8.code(), sd, new byte[scale.length]));
    }

    /**
     * MatMulNBits' B uint8 [N, kBlocks, blockSize * bits / 8] (codes low bits first, symmetric:
     * code = round(w / scale) + 2^(bits-1), scale = max|w| over the block / (2^(bits-1) - 1), K
     * padded with the zero code) and its scales float [N * kBlocks]; no zero points (the op's
     * default is 2^(bits-1)).
     */
    private static List<byte[]> blockInitializers(OnnxGraph g, Plan p, int bits, int bs) {
        float[] v = ((Value.TensorValue) g.initializers().get(p.weight)).tensor().toFloatArray();
        int k = p.k, n = p.n, kb = (k + bs - 1) / bs, blob = bs * bits / 8, half = 1 << (bits - 1);
        byte[] codes = new byte[n * kb * blob];
        ByteBuffer sb = ByteBuffer.allocate(4 * n * kb).order(ByteOrder.LITTLE_ENDIAN);
        for (int j = 0; j < n; j++)
            for (int q = 0; q < kb; q++) {
                float max = 0;
                for (int i = q * bs; i < Math.min(k, (q + 1) * bs); i++) max = Math.max(max, Math.abs(weightAt(v, p, i, j)));
                float scale = max == 0 ? 1f : max / (half - 1);
                sb.putFloat(scale);
                int base = (j * kb + q) * blob;
                for (int t = 0; t < bs; t++) {
                    int i = q * bs + t;
                    int c = i < k ? Math.max(-half, Math.min(half - 1, Math.round(weightAt(v, p, i, j) / scale))) + half : half;
                    if (bits == 8) codes[base + t] = (byte) c;
                    else codes[base + t / 2] |= (byte) (c << (4 * (t & 1)));
                }
            }
        return List.of(tensor(p.weight + "_q" + bits, ElemType.UINT8.code(), new long[]{n, kb, blob}, codes),
                tensor(p.weight + "_block_scales", ElemType.FLOAT.code(), new long[]{(long) n * kb}, sb.array()));
    }

    /** W[k, n] of the plan's weight (stored [K, N], or [N, K] for a Gemm with transB). */
    private static float weightAt(float[] v, Plan p, int k, int n) { return p.transB ? v[n * p.k + k] : v[k * p.n + n]; }


    /** A NodeProto (domain "" = ai.onnx) with integer attributes, in the order given. */
    private static void node(ProtoWriter w, String domain, String op, String name, List<String> ins, List<String> outs,
                             List<Map.Entry<String, Long>> intAttrs) {
        w.message(GRAPH_NODE, n -> {
            for (String i : ins) n.string(NODE_INPUT, i);
            for (String o : outs) n.string(NODE_OUTPUT, o);
            n.string(NODE_NAME, name);
            n.string(NODE_OP_TYPE, op);
            if (!domain.isEmpty()) n.string(NODE_DOMAIN, domain);
            for (var a : intAttrs) n.message(NODE_ATTRIBUTE, at -> at.string(1, a.getKey()).int64(3, a.getValue()).int64(20, 2));
        });
    }



    private static float attrFloat(OnnxNode n, String name, float dflt) {
        OnnxAttribute a = n.attributes().get(name);
        return a == null ? dflt : a.f();
    }

    private static long attrInt(OnnxNode n, String name, long dflt) {
        OnnxAttribute a = n.attributes().get(name);
        return a == null ? dflt : a.i();
    }
}
