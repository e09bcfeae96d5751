package dev.kiln.compress.prune;

import dev.kiln.io.AtomicWrite;
import dev.kiln.io.KilnFormatException;
import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.OnnxAttribute;
import dev.kiln.onnx.OnnxGraph;
import dev.kiln.onnx.OnnxModel;
import dev.kiln.onnx.OnnxNode;
import dev.kiln.onnx.OnnxReader;
import dev.kiln.onnx.Value;
import dev.kiln.onnx.ValueInfo;
import dev.kiln.onnx.proto.ProtoReader;
import dev.kiln.onnx.proto.ProtoWriter;

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
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static dev.kiln.onnx.proto.OnnxProtos.*;

/**
 * Structured pruning of a transformer encoder in an ONNX file, as Hugging Face exports BERT-class
 * models: whole attention heads and whole FFN neurons are removed, so the file gets smaller
 * Linear layers and fewer heads, not zeros. Per layer:
 * <ul>
 *   <li><b>FFN</b>: {@code MatMul(x, W1) + b1 -> activation (elementwise ops with scalar constants,
 *       e.g. the erf GELU chain) -> MatMul(., W2)}. Neuron j's importance is
 *       {@code |W1[:, j]| |W2[j, :]|} (L2 norms); the lowest are dropped: columns of W1 and b1,
 *       rows of W2.</li>
 *   <li><b>Attention</b>: from each last-axis {@code Softmax}: the scores {@code MatMul(Q, K^T)}
 *       (through the mask Add and the scale), Q and K back through Transposes to their
 *       {@code Reshape(x W + b, [.., .., heads, dim])}, the context {@code MatMul(P, V)} with V
 *       likewise, and the merge {@code Reshape(., [.., .., heads * dim])} feeding the output
 *       projection. Head h's importance is {@code |Wq_h| |Wk_h| + |Wv_h| |Wo_h|} (Frobenius norms
 *       of its column or row block); dropped heads lose their column blocks of Wq, Wk, Wv and
 *       their biases and their row block of Wo, and the reshape constants that hold the head
 *       count (a Constant node or initializer, alone or inside the shape's Concat) are rewritten.</li>
 * </ul>
 * Every layer keeps the same number of heads and of neurons ({@code round((1 - fraction) n)}, at
 * least one), so constants that layers share stay consistent. {@code maskOnly} instead keeps every
 * shape and zeroes what removal would drop from the output: the row blocks of Wo and the rows of
 * W2. Its function is the pruned model's, which is what the tests compare against.
 *
 * <p>Anything the pattern does not recognize (a weight used twice, a constant used by other nodes,
 * Q/K/V from one fused weight as GPT-2's Conv1D exports) is left as it is and reported. The file
 * is rewritten at the protobuf level, as {@code kiln quantize} does: everything but the changed
 * initializers and Constant nodes is copied byte for byte, except value_info entries of
 * intermediate values (their recorded shapes may no longer hold). Models with external data are
 * refused.
 */
public final class OnnxStructuredPruner {
    private OnnxStructuredPruner() {}

    /** Fractions of heads and of FFN neurons to remove per layer, each in [0, 1); maskOnly: zero instead of remove. */
    public record Options(double headFraction, double ffnFraction, boolean maskOnly) {
        public Options {
            if (!(headFraction >= 0 && headFraction < 1)) throw new IllegalArgumentException("prune: the head fraction must be in [0, 1), got " + headFraction);
            if (!(ffnFraction >= 0 && ffnFraction < 1)) throw new IllegalArgumentException("prune: the FFN fraction must be in [0, 1), got " + ffnFraction);
        }
    }

    /**
     * What was done: attention layers found and heads per layer before/after, FFN layers found and
     * neurons per layer before/after (0 when none was found), file sizes, and notes on parts left alone.
     */
    public record Result(int attentionLayers, int headsBefore, int headsAfter, int ffnLayers, int ffnBefore, int ffnAfter,
                         long bytesIn, long bytesOut, List<String> notes) {}

    /** Prunes {@code in} into {@code out} (written atomically). */
    public static Result prune(Path in, Path out, Options opts) throws IOException {
        OnnxModel model = OnnxReader.read(in);
        Graph g = new Graph(model.graph());
        List<String> notes = new ArrayList<>();
        List<Ffn> ffns = g.ffns(notes);
        List<Attention> atts = g.attentions(notes);
        if (ffns.isEmpty() && atts.isEmpty())
            throw new KilnFormatException(in + ": no attention block or FFN that kiln prune recognizes (a BERT-class encoder as Hugging Face exports it)");
        Edits edits = new Edits();
        int fBefore = 0, fAfter = 0, hBefore = 0, hAfter = 0;
        if (!opts.maskOnly()) g.checkSites(atts, ffns);
        for (Ffn f : ffns) {
            int keep = keepCount(f.width, opts.ffnFraction());
            fBefore = f.width;
            fAfter = keep;
            pruneFfn(g, f, keep, opts.maskOnly(), edits);
        }
        for (Attention a : atts) {
            int keep = keepCount(a.heads, opts.headFraction());
            hBefore = a.heads;
            hAfter = keep;
            pruneHeads(g, a, keep, opts.maskOnly(), edits);
        }
        byte[] bytes;
        try (Arena arena = Arena.ofConfined(); FileChannel ch = FileChannel.open(in, StandardOpenOption.READ)) {
            MemorySegment seg = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
            bytes = rewriteModel(ProtoReader.of(seg, in.toString()), model.graph(), edits);
        }
        byte[] file = bytes;
        AtomicWrite.write(out, ch -> {
            ByteBuffer buf = ByteBuffer.wrap(file);
            while (buf.hasRemaining()) ch.write(buf);
        });
        return new Result(atts.size(), hBefore, hAfter, ffns.size(), fBefore, fAfter, Files.size(in), bytes.length, List.copyOf(notes));
    }

    private static int keepCount(int n, double fraction) { return Math.max(1, (int) Math.round(n * (1 - fraction))); }

    // ------------------------------------------------------------------ patterns

    /** act(x W + b) feeding MatMul(., W2): W1 [d, width], b1 (may be null), W2 [width, d2], constants holding the width. */
    private record Ffn(String w1, String b1, String w2, int width, List<Site> widthSites) {}

    /**
     * One self-attention block: heads x dim, the Q/K/V/output weights and biases, and the places
     * in constants that hold the head count (heads) or the merged width (width).
     */
    private record Attention(int heads, int dim, String[] w, String[] b, String wo, List<Site> headSites, List<Site> widthSites) {}

    /** Entry index of constant `constant` (a one-element constant or a whole shape vector), read by node reader. */
    private record Site(String constant, int index, OnnxNode reader) {}

    /**
     * A MatMul with a 2-D float initializer B and the Add of a 1-D float bias after it when there is
     * one, or a Gemm (alpha = beta = 1, no transposes) with its bias C, optionally followed by a
     * Reshape back to [.., .., n] (GPT-2's Conv1D export); widthSites: the constants holding n there.
     */
    private record Linear(String weight, String bias, int k, int n, List<Site> widthSites) {}

    /** The graph's producers and consumers, and constant lookups. */
    private static final class Graph {
        final OnnxGraph g;
        final Map<String, OnnxNode> producer = new HashMap<>();
        final Map<String, List<OnnxNode>> consumers = new HashMap<>();
        final Set<String> graphOutputs = new HashSet<>();   // graph outputs and names subgraphs read

        Graph(OnnxGraph g) {
            this.g = g;
            for (OnnxNode n : g.nodes()) {
                for (String o : n.outputs()) producer.put(o, n);
                for (String i : n.inputs()) if (!i.isEmpty()) consumers.computeIfAbsent(i, k -> new ArrayList<>()).add(n);
                pinSubgraphReads(n);
            }
            for (ValueInfo o : g.outputs()) graphOutputs.add(o.name());
        }

        /** Names that a node's subgraphs (If, Loop, Scan bodies) read count as used elsewhere: never pruned. */
        private void pinSubgraphReads(OnnxNode n) {
            for (OnnxAttribute a : n.attributes().values()) {
                List<OnnxGraph> subs = new ArrayList<>();
                if (a.g() != null) subs.add(a.g());
                if (a.graphs() != null) subs.addAll(a.graphs());
                for (OnnxGraph sub : subs)
                    for (OnnxNode m : sub.nodes()) {
                        graphOutputs.addAll(m.inputs());
                        pinSubgraphReads(m);
                    }
            }
        }

        List<OnnxNode> uses(String name) { return consumers.getOrDefault(name, List.of()); }

        /** Used by exactly this one node and not a graph output. */
        boolean onlyUse(String name, OnnxNode node) {
            List<OnnxNode> u = uses(name);
            return !graphOutputs.contains(name) && u.size() == 1 && u.get(0) == node;
        }

        dev.kiln.tensor.Tensor floatInit(String name, int rank) {
            Value v = g.initializers().get(name);
            return v instanceof Value.TensorValue tv && tv.type() == ElemType.FLOAT && tv.tensor().dim() == rank ? tv.tensor() : null;
        }

        /** The value of a constant: an initializer, or a Constant node's value tensor; null otherwise. */
        private Value constant(String name) {
            Value v = g.initializers().get(name);
            if (v != null) return v;
            OnnxNode p = producer.get(name);
            return p == null || !p.opType().equals("Constant") || p.attributes().get("value") == null ? null : p.attributes().get("value").t();
        }

        /** The integer values of a constant, or null. */
        long[] ints(String name) {
            return constant(name) instanceof Value.TensorValue tv && (tv.type() == ElemType.INT64 || tv.type() == ElemType.INT32)
                    ? tv.tensor().toLongArray() : null;
        }

        /** A constant with one element. */
        boolean scalar(String name) { return constant(name) instanceof Value.TensorValue tv && tv.tensor().numel() == 1; }

        /**
         * The Linear whose output is name: MatMul, Add(MatMul, bias) in either order, Gemm, or a
         * Reshape of a Gemm's output whose last target entry is a constant (the width); weights
         * and bias used only there.
         */
        Linear linear(String name) {
            OnnxNode p = producer.get(name);
            if (p == null) return null;
            if (p.opType().equals("Reshape")) {                  // Gemm, then back to [.., .., n] (GPT-2's Conv1D)
                OnnxNode gm = producer.get(p.inputs().get(0));
                Linear l = gm == null || !gm.opType().equals("Gemm") || !onlyUse(gm.outputs().get(0), p) ? null : gemm(gm);
                if (l == null) return null;
                int[] v = new int[2];
                long[] shape = ints(p.inputs().get(1));
                int rank = shape != null ? shape.length : producer.containsKey(p.inputs().get(1)) ? producer.get(p.inputs().get(1)).inputs().size() : 0;
                Site site = rank < 2 ? null : shapeEntry(p, rank, rank - 1, v);
                if (site == null || v[0] != l.n) return null;
                return new Linear(l.weight, l.bias, l.k, l.n, List.of(site));
            }
            if (p.opType().equals("Gemm")) return gemm(p);
            String bias = null;
            OnnxNode mm = p;
            if (p.opType().equals("Add") && p.inputs().size() == 2) {
                for (int i = 0; i < 2; i++) {
                    dev.kiln.tensor.Tensor b = floatInit(p.inputs().get(i), 1);
                    OnnxNode q = producer.get(p.inputs().get(1 - i));
                    if (b != null && q != null && q.opType().equals("MatMul") && onlyUse(q.outputs().get(0), p)) {
                        bias = p.inputs().get(i);
                        mm = q;
                    }
                }
                if (bias == null || !onlyUse(bias, p)) return null;
            }
            if (!mm.opType().equals("MatMul") || mm.inputs().size() != 2) return null;
            dev.kiln.tensor.Tensor w = floatInit(mm.inputs().get(1), 2);
            if (w == null || !onlyUse(mm.inputs().get(1), mm)) return null;
            int k = w.size(0), n = w.size(1);
            if (bias != null && floatInit(bias, 1).size(0) != n) return null;
            return new Linear(mm.inputs().get(1), bias, k, n, List.of());
        }

        /** A Gemm x W + C with alpha = beta = 1 and no transposes, W and C initializers used only here. */
        private Linear gemm(OnnxNode gm) {
            if (!plainGemm(gm) || gm.inputs().size() < 2) return null;
            dev.kiln.tensor.Tensor w = floatInit(gm.inputs().get(1), 2);
            if (w == null || !onlyUse(gm.inputs().get(1), gm)) return null;
            String bias = gm.inputs().size() > 2 && !gm.inputs().get(2).isEmpty() ? gm.inputs().get(2) : null;
            if (bias != null) {
                dev.kiln.tensor.Tensor b = floatInit(bias, 1);
                if (b == null || b.size(0) != w.size(1) || !onlyUse(bias, gm)) return null;
            }
            return new Linear(gm.inputs().get(1), bias, w.size(0), w.size(1), List.of());
        }

        private static boolean plainGemm(OnnxNode gm) {
            for (String a : List.of("transA", "transB")) if (gm.attributes().containsKey(a) && gm.attributes().get(a).i() != 0) return false;
            for (String a : List.of("alpha", "beta")) if (gm.attributes().containsKey(a) && gm.attributes().get(a).f() != 1f) return false;
            return true;
        }

        /** A Reshape to [-1, width] whose width entry is computed (it follows the pruned width by itself), or null. */
        private OnnxNode flattenBefore(OnnxNode m2) {
            OnnxNode r = producer.get(m2.inputs().get(0));
            if (r == null || !r.opType().equals("Reshape") || !onlyUse(r.outputs().get(0), m2)) return null;
            OnnxNode c = producer.get(r.inputs().get(1));
            if (c == null || !c.opType().equals("Concat") || c.inputs().size() != 2) return null;
            long[] first = ints(c.inputs().get(0));
            return first != null && first.length == 1 && first[0] == -1 && ints(c.inputs().get(1)) == null ? r : null;
        }

        private static final Set<String> ELEMENTWISE = Set.of("Add", "Sub", "Mul", "Div", "Erf", "Tanh", "Sigmoid", "Relu", "Gelu",
                "FastGelu", "Pow", "Neg", "Identity", "Sqrt", "Exp");

        List<Ffn> ffns(List<String> notes) {
            List<Ffn> out = new ArrayList<>();
            for (OnnxNode m2 : g.nodes()) {
                boolean mm = m2.opType().equals("MatMul") && m2.inputs().size() == 2;
                if (!mm && !(m2.opType().equals("Gemm") && plainGemm(m2))) continue;
                dev.kiln.tensor.Tensor w2 = floatInit(m2.inputs().get(1), 2);
                if (w2 == null) continue;
                int width = w2.size(0);
                OnnxNode flat = flattenBefore(m2);                 // GPT-2: Reshape(act, [-1, width]) before the Gemm
                String act = flat == null ? m2.inputs().get(0) : flat.inputs().get(0);
                Set<OnnxNode> chain = new HashSet<>();
                String[] root = new String[1];
                if (!chain(act, width, chain, root) || root[0] == null || chain.isEmpty()) continue;
                Linear l1 = linear(root[0]);
                // the activations may be read by the block and by Shape nodes (an export's dynamic
                // reshape targets, which follow the pruned width by themselves), nothing else
                Set<OnnxNode> readers = new HashSet<>(chain);
                readers.add(flat == null ? m2 : flat);
                boolean closed = onlyUse(m2.inputs().get(1), m2) && !graphOutputs.contains(root[0]);
                for (OnnxNode n : chain) for (String o : n.outputs()) {
                    closed &= !graphOutputs.contains(o);
                    for (OnnxNode u : uses(o)) closed &= readers.contains(u) || u.opType().equals("Shape");
                }
                for (OnnxNode u : uses(root[0])) closed &= readers.contains(u) || u.opType().equals("Shape");
                if (!closed) {
                    notes.add("FFN into " + m2.describe() + " left alone: its activations are used outside the block");
                    continue;
                }
                out.add(new Ffn(l1.weight(), l1.bias(), m2.inputs().get(1), width, l1.widthSites()));
            }
            return out;
        }

        /**
         * Walks back from name through elementwise nodes whose other inputs are scalars, to one
         * Linear output of the given width (root); false when a branch ends anywhere else.
         */
        private boolean chain(String name, int width, Set<OnnxNode> chain, String[] root) {
            Linear l = linear(name);
            if (l != null && l.n == width && !chain.isEmpty()) {
                if (root[0] != null && !root[0].equals(name)) return false;
                root[0] = name;
                return true;
            }
            OnnxNode p = producer.get(name);
            if (p == null || !ELEMENTWISE.contains(p.opType()) || !p.domain().isEmpty() && !p.domain().equals("com.microsoft")) return false;
            if (chain.size() > 32) return false;
            chain.add(p);
            boolean any = false;
            for (String i : p.inputs()) {
                if (i.isEmpty() || scalar(i)) continue;
                if (!chain(i, width, chain, root)) return false;
                any = true;
            }
            return any;
        }

        List<Attention> attentions(List<String> notes) {
            List<Attention> out = new ArrayList<>();
            for (OnnxNode sm : g.nodes()) {
                if (!sm.opType().equals("Softmax")) continue;
                OnnxAttribute ax = sm.attributes().get("axis");
                if (ax != null && ax.i() != -1 && ax.i() != 3) continue;
                Attention a = attention(sm);
                if (a == null) notes.add(sm.describe() + ": not an attention block kiln prune recognizes; its heads are left alone");
                else out.add(a);
            }
            return out;
        }

        private Attention attention(OnnxNode softmax) {
            OnnxNode qk = scoresMatMul(softmax.inputs().get(0), 0);
            if (qk == null) return null;
            OnnxNode av = null;
            for (OnnxNode u : uses(softmax.outputs().get(0))) if (u.opType().equals("MatMul") && u.inputs().get(0).equals(softmax.outputs().get(0))) av = u;
            if (av == null || uses(av.outputs().get(0)).size() != 1) return null;
            OnnxNode[] rs = {headReshape(qk.inputs().get(0)), headReshape(qk.inputs().get(1)), headReshape(av.inputs().get(1))};
            // the merge: context -> Transpose -> Reshape -> output projection
            OnnxNode t = uses(av.outputs().get(0)).get(0);
            if (!t.opType().equals("Transpose")) return null;
            OnnxNode merge = null;
            for (OnnxNode u : uses(t.outputs().get(0))) if (u.opType().equals("Reshape") && u.inputs().get(0).equals(t.outputs().get(0))) merge = u;
            if (merge == null || !onlyUseBesidesShapes(t.outputs().get(0), merge) || uses(merge.outputs().get(0)).size() != 1) return null;
            OnnxNode proj = uses(merge.outputs().get(0)).get(0);
            Linear lo = proj.opType().equals("MatMul") && proj.inputs().get(0).equals(merge.outputs().get(0)) ? linearOf(proj) : null;
            if (lo == null) return null;
            String[] w = new String[3], b = new String[3];
            int heads = -1, dim = -1;
            List<Site> headSites = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                if (rs[i] == null) return null;
                Linear l = linear(rs[i].inputs().get(0));
                if (l == null || !onlyUseBesidesShapes(rs[i].inputs().get(0), rs[i])) return null;
                int[] hd = new int[2];
                Site c = shapeEntry(rs[i], 4, 2, hd);
                if (c == null || hd[0] * hd[1] != l.n || heads >= 0 && (hd[0] != heads || hd[1] != dim)) return null;
                heads = hd[0];
                dim = hd[1];
                headSites.add(c);
                w[i] = l.weight;
                b[i] = l.bias;
            }
            if (lo.k != heads * dim) return null;
            int[] width = new int[2];
            Site wc = shapeEntry(merge, 3, 2, width);
            if (wc == null || width[0] != -1 && width[0] != heads * dim) return null;
            return new Attention(heads, dim, w, b, lo.weight, headSites, width[0] == -1 ? List.of() : List.of(wc));
        }

        /** The Linear a MatMul node computes (with the bias Add after it, if any). */
        private Linear linearOf(OnnxNode mm) {
            List<OnnxNode> u = uses(mm.outputs().get(0));
            if (u.size() == 1 && u.get(0).opType().equals("Add")) {
                Linear l = linear(u.get(0).outputs().get(0));
                if (l != null) return l;
            }
            return linear(mm.outputs().get(0));
        }

        /** Back from the softmax input through the mask Add and the scale to the scores MatMul (both inputs computed). */
        private OnnxNode scoresMatMul(String name, int depth) {
            OnnxNode p = producer.get(name);
            if (p == null || depth > 6) return null;
            if (p.opType().equals("MatMul")) {
                boolean computed = producer.containsKey(p.inputs().get(0)) && producer.containsKey(p.inputs().get(1))
                        && !p.inputs().stream().anyMatch(g.initializers()::containsKey);
                return computed ? p : null;
            }
            if (!Set.of("Add", "Div", "Mul", "Sub", "Cast", "Where").contains(p.opType())) return null;
            for (String i : p.inputs()) {
                OnnxNode m = i.isEmpty() ? null : scoresMatMul(i, depth + 1);
                if (m != null) return m;
            }
            return null;
        }

        /**
         * Used by node and otherwise only by Shape nodes whose results only Gather the batch or
         * sequence size (index 0 or 1): what an export reads to build the reshape targets, and
         * what fewer heads do not change.
         */
        boolean onlyUseBesidesShapes(String name, OnnxNode node) {
            if (graphOutputs.contains(name)) return false;
            boolean seen = false;
            for (OnnxNode u : uses(name)) {
                if (u == node) { seen = true; continue; }
                if (!u.opType().equals("Shape") || u.attributes().containsKey("end")
                        || u.attributes().containsKey("start") && u.attributes().get("start").i() != 0) return false;
                for (OnnxNode gth : uses(u.outputs().get(0))) {
                    long[] idx = gth.opType().equals("Gather") && gth.inputs().size() == 2 ? ints(gth.inputs().get(1)) : null;
                    if (idx == null || idx.length != 1 || idx[0] != 0 && idx[0] != 1) return false;
                }
            }
            return seen;
        }

        /** Every edited constant is read only by the shape nodes recognized for it (else one line, nothing written). */
        void checkSites(List<Attention> atts, List<Ffn> ffns) {
            Map<String, Set<OnnxNode>> readers = new HashMap<>();
            List<Site> all = new ArrayList<>();
            for (Attention a : atts) {
                all.addAll(a.headSites());
                all.addAll(a.widthSites());
            }
            for (Ffn f : ffns) all.addAll(f.widthSites());
            for (Site s : all) readers.computeIfAbsent(s.constant(), k -> new HashSet<>()).add(s.reader());
            for (var e : readers.entrySet()) {
                if (graphOutputs.contains(e.getKey())) throw new IllegalArgumentException("prune: constant '" + e.getKey() + "' is a graph output; cannot change it");
                for (OnnxNode u : uses(e.getKey()))
                    if (!e.getValue().contains(u))
                        throw new IllegalArgumentException("prune: constant '" + e.getKey() + "' holds a head count or a width but " + u.describe()
                                + " reads it too; cannot change it safely");
            }
        }

        /** Back through Transposes (and a scale by a scalar) to the Reshape that splits the heads. */
        private OnnxNode headReshape(String name) {
            for (int depth = 0; depth < 4; depth++) {
                OnnxNode p = producer.get(name);
                if (p == null) return null;
                if (p.opType().equals("Reshape")) return p;
                if (p.opType().equals("Transpose")) name = p.inputs().get(0);
                else if ((p.opType().equals("Mul") || p.opType().equals("Div")) && scalar(p.inputs().get(1))) name = p.inputs().get(0);
                else return null;
            }
            return null;
        }

        /**
         * Where entry `at` of reshape's target shape (of the given rank) is held: the shape itself
         * (an initializer or Constant vector) or the one-element constant at that input of the
         * shape's Concat; the entry's value goes to out[0] (and entry at + 1, when there is one, to
         * out[1]). Null when the entry is not a constant.
         */
        private Site shapeEntry(OnnxNode reshape, int rank, int at, int[] out) {
            String shape = reshape.inputs().get(1);
            long[] v = ints(shape);
            if (v != null) {
                if (v.length != rank) return null;
                out[0] = (int) v[at];
                if (at + 1 < rank) out[1] = (int) v[at + 1];
                return new Site(shape, at, reshape);
            }
            OnnxNode c = producer.get(shape);
            if (c == null || !c.opType().equals("Concat") || c.inputs().size() != rank) return null;
            long[] e = ints(c.inputs().get(at));
            if (e == null || e.length != 1) return null;
            out[0] = (int) e[0];
            if (at + 1 < rank) {
                long[] f = ints(c.inputs().get(at + 1));
                if (f == null || f.length != 1) return null;
                out[1] = (int) f[0];
            }
            return new Site(c.inputs().get(at), 0, c);
        }
    }

    // ------------------------------------------------------------------ the edits

    /** New contents of initializers and Constant outputs, by name. */
    private static final class Edits {
        final Map<String, byte[]> tensors = new LinkedHashMap<>();          // name -> encoded TensorProto (without the name for Constants)
        final Map<String, long[]> ints = new LinkedHashMap<>();             // constant -> new values (same dims)
    }

    private static void pruneFfn(Graph g, Ffn f, int keep, boolean maskOnly, Edits e) {
        dev.kiln.tensor.Tensor w1 = g.floatInit(f.w1, 2), w2 = g.floatInit(f.w2, 2);
        int d = w1.size(0), width = f.width, d2 = w2.size(1);
        float[] a = w1.toFloatArray(), c = w2.toFloatArray();
        double[] score = new double[width];
        for (int j = 0; j < width; j++) {
            double s1 = 0, s2 = 0;
            for (int i = 0; i < d; i++) s1 += (double) a[i * width + j] * a[i * width + j];
            for (int i = 0; i < d2; i++) s2 += (double) c[j * d2 + i] * c[j * d2 + i];
            score[j] = Math.sqrt(s1 * s2);
        }
        int[] kept = top(score, keep);
        if (maskOnly) {
            float[] z = c.clone();
            boolean[] on = mask(kept, width);
            for (int j = 0; j < width; j++) if (!on[j]) Arrays.fill(z, j * d2, (j + 1) * d2, 0f);
            e.tensors.put(f.w2, floats(f.w2, new long[]{width, d2}, z));
            return;
        }
        e.tensors.put(f.w1, floats(f.w1, new long[]{d, keep}, columns(a, d, width, kept, 1)));
        if (f.b1 != null) e.tensors.put(f.b1, floats(f.b1, new long[]{keep}, columns(g.floatInit(f.b1, 1).toFloatArray(), 1, width, kept, 1)));
        e.tensors.put(f.w2, floats(f.w2, new long[]{keep, d2}, rows(c, d2, kept, 1)));
        for (Site site : f.widthSites()) setEntry(g, e, site, width, keep);
    }

    private static void pruneHeads(Graph g, Attention at, int keep, boolean maskOnly, Edits e) {
        int h = at.heads, dh = at.dim, hd = h * dh;
        float[][] w = new float[3][];
        for (int i = 0; i < 3; i++) w[i] = g.floatInit(at.w[i], 2).toFloatArray();
        dev.kiln.tensor.Tensor woT = g.floatInit(at.wo, 2);
        int d = g.floatInit(at.w[0], 2).size(0), dOut = woT.size(1);
        float[] wo = woT.toFloatArray();
        double[] score = new double[h];
        for (int head = 0; head < h; head++) {
            double[] n = new double[3];
            for (int i = 0; i < 3; i++)
                for (int r = 0; r < d; r++)
                    for (int j = head * dh; j < (head + 1) * dh; j++) n[i] += (double) w[i][r * hd + j] * w[i][r * hd + j];
            double no = 0;
            for (int r = head * dh; r < (head + 1) * dh; r++)
                for (int j = 0; j < dOut; j++) no += (double) wo[r * dOut + j] * wo[r * dOut + j];
            score[head] = Math.sqrt(n[0] * n[1]) + Math.sqrt(n[2] * no);
        }
        int[] kept = top(score, keep);
        if (maskOnly) {
            float[] z = wo.clone();
            boolean[] on = mask(kept, h);
            for (int head = 0; head < h; head++) if (!on[head]) Arrays.fill(z, head * dh * dOut, (head + 1) * dh * dOut, 0f);
            e.tensors.put(at.wo, floats(at.wo, new long[]{hd, dOut}, z));
            return;
        }
        for (int i = 0; i < 3; i++) {
            e.tensors.put(at.w[i], floats(at.w[i], new long[]{d, (long) keep * dh}, columns(w[i], d, hd, kept, dh)));
            if (at.b[i] != null)
                e.tensors.put(at.b[i], floats(at.b[i], new long[]{(long) keep * dh}, columns(g.floatInit(at.b[i], 1).toFloatArray(), 1, hd, kept, dh)));
        }
        e.tensors.put(at.wo, floats(at.wo, new long[]{(long) keep * dh, dOut}, rows(wo, dOut, kept, dh)));
        for (Site c : at.headSites()) setEntry(g, e, c, h, keep);
        for (Site c : at.widthSites()) setEntry(g, e, c, hd, (long) keep * dh);
    }

    /** Entry c.index of constant c.constant becomes `to` (it was `from`; shared constants get the same value from every layer). */
    private static void setEntry(Graph g, Edits e, Site c, long from, long to) {
        long[] v = e.ints.containsKey(c.constant()) ? e.ints.get(c.constant()) : g.ints(c.constant()).clone();
        if (v[c.index()] != from && v[c.index()] != to)
            throw new IllegalArgumentException("prune: constant '" + c.constant() + "' entry " + c.index() + " is " + v[c.index()] + ", expected " + from);
        v[c.index()] = to;
        e.ints.put(c.constant(), v);
    }

    /** The indices of the keep largest scores, in ascending index order. */
    private static int[] top(double[] score, int keep) {
        Integer[] idx = new Integer[score.length];
        for (int i = 0; i < idx.length; i++) idx[i] = i;
        Arrays.sort(idx, (x, y) -> score[y] != score[x] ? Double.compare(score[y], score[x]) : Integer.compare(x, y));
        int[] k = new int[keep];
        for (int i = 0; i < keep; i++) k[i] = idx[i];
        Arrays.sort(k);
        return k;
    }

    private static boolean[] mask(int[] kept, int n) {
        boolean[] on = new boolean[n];
        for (int k : kept) on[k] = true;
        return on;
    }

    /** The column blocks (of width block) listed in kept, of a [rows, cols] row-major matrix. */
    private static float[] columns(float[] a, int rows, int cols, int[] kept, int block) {
        int w = kept.length * block;
        float[] out = new float[rows * w];
        for (int r = 0; r < rows; r++)
            for (int i = 0; i < kept.length; i++) System.arraycopy(a, r * cols + kept[i] * block, out, r * w + i * block, block);
        return out;
    }

    /** The row blocks (of block rows) listed in kept, of a row-major matrix with cols columns. */
    private static float[] rows(float[] a, int cols, int[] kept, int block) {
        float[] out = new float[kept.length * block * cols];
        for (int i = 0; i < kept.length; i++) System.arraycopy(a, kept[i] * block * cols, out, i * block * cols, block * cols);
        return out;
    }

    private static byte[] floats(String name, long[] dims, float[] v) {
        ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : v) b.putFloat(f);
        return tensor(name, ElemType.FLOAT.code(), dims, b.array());
    }

    // ------------------------------------------------------------------ the rewrite

    private static byte[] rewriteModel(ProtoReader r, OnnxGraph g, Edits e) throws IOException {
        ProtoWriter w = new ProtoWriter(1 << 20);
        while (r.next()) {
            if (r.field() == MODEL_GRAPH) w.bytes(MODEL_GRAPH, rewriteGraph(r.readMessage("graph"), g, e));
            else {
                r.skip();
                w.raw(r.rawField());
            }
        }
        return w.toByteArray();
    }

    private static byte[] rewriteGraph(ProtoReader r, OnnxGraph g, Edits e) throws IOException {
        Set<String> ends = new HashSet<>();
        for (ValueInfo v : g.inputs()) ends.add(v.name());
        for (ValueInfo v : g.outputs()) ends.add(v.name());
        Map<String, OnnxNode> constants = new HashMap<>();
        for (OnnxNode n : g.nodes()) if (n.opType().equals("Constant") && e.ints.containsKey(n.outputs().get(0))) constants.put(n.outputs().get(0), n);
        ProtoWriter w = new ProtoWriter(1 << 20);
        while (r.next()) {
            switch (r.field()) {
                case GRAPH_NODE -> {
                    String out = firstOutput(r.readMessage("node").copy());
                    OnnxNode c = constants.get(out);
                    if (c == null) {
                        w.raw(r.rawField());
                        break;
                    }
                    Value.TensorValue old = (Value.TensorValue) c.attributes().get("value").t();
                    byte[] value = ints(null, old.type(), old.tensor().shape(), e.ints.get(out));
                    w.message(GRAPH_NODE, n -> {
                        n.string(NODE_OUTPUT, out);
                        if (!c.name().isEmpty()) n.string(NODE_NAME, c.name());
                        n.string(NODE_OP_TYPE, "Constant");
                        n.message(NODE_ATTRIBUTE, a -> a.string(ATTR_NAME, "value").bytes(ATTR_TENSOR, value).int64(ATTR_TYPE, ATTR_TYPE_TENSOR));
                    });
                }
                case GRAPH_INITIALIZER -> {
                    String name = tensorName(r.readMessage("initializer").copy(), "kiln prune");
                    if (e.tensors.containsKey(name)) w.bytes(GRAPH_INITIALIZER, e.tensors.get(name));
                    else if (e.ints.containsKey(name)) {
                        Value.TensorValue old = (Value.TensorValue) g.initializers().get(name);
                        w.bytes(GRAPH_INITIALIZER, ints(name, old.type(), old.tensor().shape(), e.ints.get(name)));
                    } else w.raw(r.rawField());
                }
                case GRAPH_VALUE_INFO -> {        // recorded shapes of intermediates may no longer hold
                    if (ends.contains(valueInfoName(r.readMessage("value_info").copy()))) w.raw(r.rawField());
                }
                default -> {
                    r.skip();
                    w.raw(r.rawField());
                }
            }
        }
        return w.toByteArray();
    }

    /** An INT64 or INT32 TensorProto of the given shape and values. */
    private static byte[] ints(String name, ElemType type, int[] shape, long[] v) {
        boolean wide = type == ElemType.INT64;
        ByteBuffer b = ByteBuffer.allocate((wide ? 8 : 4) * v.length).order(ByteOrder.LITTLE_ENDIAN);
        for (long x : v) if (wide) b.putLong(x); else b.putInt((int) x);
        long[] dims = new long[shape.length];
        for (int i = 0; i < shape.length; i++) dims[i] = shape[i];
        return tensor(name, type.code(), dims, b.array());
    }
}
