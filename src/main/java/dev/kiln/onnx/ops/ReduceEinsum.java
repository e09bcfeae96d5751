package dev.kiln.onnx.ops;

import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.Value;
import dev.kiln.ops.MatMul;
import dev.kiln.ops.ReduceOp;
import dev.kiln.ops.Reductions;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.TreeMap;

/**
 * Einsum (registered by {@link ReduceOps}). The equation is parsed into one label list per operand
 * ("..." becomes broadcast labels aligned from the right; without "->" the output is the ellipsis
 * labels then the labels used once, alphabetically). Each operand first takes its diagonals
 * (a repeated label is one dim whose stride is the sum of the repeated dims' strides, a view),
 * then sums out labels nothing else uses. Operands are contracted left to right as one batched
 * matmul each: [batch, left, contracted] x [batch, contracted, right]. The result is summed
 * and permuted to the output labels. Computes in float64 for double and integer inputs, float32
 * otherwise.
 */
final class ReduceEinsum {
    private ReduceEinsum() {}

    /** Labels as ints: letters are their char, ellipsis dims are 1000 + their index. */
    private record Term(int[] labels, Tensor t) {}

    static List<Value> run(OpCall c) {
        String eq = c.attrString("equation", null);
        if (eq == null) throw c.error("missing attribute 'equation'");
        ElemType type = c.type(0);
        DType compute = type == ElemType.DOUBLE || !type.isFloat() ? DType.F64 : DType.F32;
        try (Scope s = Scope.open()) {
            String spec = eq.replace(" ", "");
            int arrow = spec.indexOf("->");
            String[] ins = (arrow < 0 ? spec : spec.substring(0, arrow)).split(",", -1);
            if (ins.length != c.inputCount())
                throw c.error("equation '" + eq + "' names " + ins.length + " operands, the node has " + c.inputCount());
            int ell = 0;
            for (int i = 0; i < ins.length; i++) ell = Math.max(ell, ellipsisDims(c, ins[i], c.in(i).dim()));
            List<Term> terms = new ArrayList<>();
            for (int i = 0; i < ins.length; i++) {
                Tensor x = c.in(i).dtype() == compute ? c.in(i) : c.in(i).to(compute);
                terms.add(new Term(labels(c, ins[i], x.dim(), ell), x));
            }
            int[] out = arrow < 0 ? implicitOutput(terms, ell) : labels(c, spec.substring(arrow + 2), -1, ell);
            Term r = contractAll(c, terms, out);
            Tensor res = MathKernels.cast(r.t(), ElemType.of(compute), type);
            return MathOps.one(s.keep(res), type);
        }
    }

    private static int ellipsisDims(OpCall c, String term, int rank) {
        if (!term.contains("...")) return 0;
        int letters = term.replace("...", "").length();
        if (rank < letters) throw c.error("operand '" + term + "' has rank " + rank);
        return rank - letters;
    }

    /** Labels of one term; rank < 0 for the output (its "..." means all ell ellipsis labels). */
    private static int[] labels(OpCall c, String term, int rank, int ell) {
        List<Integer> out = new ArrayList<>();
        for (int i = 0; i < term.length(); i++) {
            char ch = term.charAt(i);
            if (term.startsWith("...", i)) {
                int e = rank < 0 ? ell : rank - term.replace("...", "").length();
                for (int k = ell - e; k < ell; k++) out.add(1000 + k);
                i += 2;
            } else if (Character.isLetter(ch)) {
                out.add((int) ch);
            } else {
                throw c.error("bad character '" + ch + "' in equation term '" + term + "'");
            }
        }
        if (rank >= 0 && out.size() != rank)
            throw c.error("equation term '" + term + "' has " + out.size() + " labels for an operand of rank " + rank);
        return out.stream().mapToInt(Integer::intValue).toArray();
    }

    private static int[] implicitOutput(List<Term> terms, int ell) {
        TreeMap<Integer, Integer> count = new TreeMap<>();
        for (Term t : terms) for (int l : t.labels()) count.merge(l, 1, Integer::sum);
        List<Integer> out = new ArrayList<>();
        for (int k = 0; k < ell; k++) out.add(1000 + k);
        count.forEach((l, n) -> { if (l < 1000 && n == 1) out.add(l); });
        return out.stream().mapToInt(Integer::intValue).toArray();
    }

    private static Term contractAll(OpCall c, List<Term> terms, int[] out) {
        Term acc = null;
        for (int i = 0; i < terms.size(); i++) {
            Term t = diagonal(terms.get(i));
            int[] keep = union(out, labelsAfter(terms, i + 1), acc == null ? new int[0] : acc.labels());
            t = sumOut(t, keep);
            if (acc == null) {
                acc = t;
            } else {
                acc = sumOut(acc, union(out, labelsAfter(terms, i + 1), t.labels()));
                acc = contract(c, acc, t, union(out, labelsAfter(terms, i + 1)));
            }
        }
        acc = sumOut(acc, out);
        int[] perm = new int[out.length];
        for (int k = 0; k < out.length; k++) {
            perm[k] = indexOf(acc.labels(), out[k]);
            if (perm[k] < 0) throw c.error("output label '" + (char) out[k] + "' is not in any input");
        }
        return new Term(out, acc.t().permute(perm).contiguous());
    }

    /** A repeated label becomes one dim (stride = sum of strides): the diagonal, as a view. */
    private static Term diagonal(Term term) {
        int[] l = term.labels();
        Tensor x = term.t();
        List<Integer> labels = new ArrayList<>();
        List<Integer> sizes = new ArrayList<>();
        List<Long> strides = new ArrayList<>();
        long[] st = x.strides();
        int[] sh = x.shape();
        for (int i = 0; i < l.length; i++) {
            int at = labels.indexOf(l[i]);
            if (at >= 0) {
                strides.set(at, strides.get(at) + st[i]);
                sizes.set(at, Math.min(sizes.get(at), sh[i]));
            } else {
                labels.add(l[i]);
                sizes.add(sh[i]);
                strides.add(st[i]);
            }
        }
        if (labels.size() == l.length) return term;
        Tensor v = Tensor.of(x.storage(), x.dtype(), sizes.stream().mapToInt(Integer::intValue).toArray(),
                strides.stream().mapToLong(Long::longValue).toArray(), x.offset());
        return new Term(labels.stream().mapToInt(Integer::intValue).toArray(), v);
    }

    /** Sums the dims whose labels are not in keep. */
    private static Term sumOut(Term t, int[] keep) {
        List<Integer> axes = new ArrayList<>(), left = new ArrayList<>();
        for (int i = 0; i < t.labels().length; i++) {
            if (indexOf(keep, t.labels()[i]) < 0) axes.add(i);
            else left.add(t.labels()[i]);
        }
        if (axes.isEmpty()) return t;
        Tensor r = Reductions.reduce(ReduceOp.SUM, t.t(), axes.stream().mapToInt(Integer::intValue).toArray(), false, 0);
        return new Term(left.stream().mapToInt(Integer::intValue).toArray(), r);
    }

    /** a x b as [batch, left, k] x [batch, k, right]; labels in `later` are kept, the shared rest summed. */
    private static Term contract(OpCall c, Term a, Term b, int[] later) {
        List<Integer> batch = new ArrayList<>(), k = new ArrayList<>(), left = new ArrayList<>(), right = new ArrayList<>();
        for (int l : a.labels()) {
            boolean inB = indexOf(b.labels(), l) >= 0;
            if (inB && indexOf(later, l) >= 0) batch.add(l);
            else if (inB) k.add(l);
            else left.add(l);
        }
        for (int l : b.labels()) if (indexOf(a.labels(), l) < 0) right.add(l);
        int[] bs = sizes(c, a, b, batch), ks = sizes(c, a, b, k);
        int[] ls = sizes(c, a, null, left), rs = sizes(c, b, null, right);
        Tensor at = arrange(a, cat(batch, left, k), cat(bs, ls, ks));
        Tensor bt = arrange(b, cat(batch, k, right), cat(bs, ks, rs));
        int nb = prod(bs), m = prod(ls), nk = prod(ks), n = prod(rs);
        Tensor prod = MatMul.matmul(at.reshape(nb, m, nk), bt.reshape(nb, nk, n));
        int[] shape = new int[bs.length + ls.length + rs.length];
        System.arraycopy(bs, 0, shape, 0, bs.length);
        System.arraycopy(ls, 0, shape, bs.length, ls.length);
        System.arraycopy(rs, 0, shape, bs.length + ls.length, rs.length);
        List<Integer> labels = new ArrayList<>(batch);
        labels.addAll(left);
        labels.addAll(right);
        return new Term(labels.stream().mapToInt(Integer::intValue).toArray(), prod.reshape(shape));
    }

    /** t permuted to the label order and broadcast to the sizes. */
    private static Tensor arrange(Term t, int[] order, int[] sizes) {
        int[] perm = new int[order.length];
        for (int i = 0; i < order.length; i++) perm[i] = indexOf(t.labels(), order[i]);
        return t.t().permute(perm).expand(sizes);
    }

    /** The size of each label (broadcast of a's and b's sizes; b may be null). */
    private static int[] sizes(OpCall c, Term a, Term b, List<Integer> labels) {
        int[] r = new int[labels.size()];
        for (int i = 0; i < r.length; i++) {
            int sa = a.t().shape()[indexOf(a.labels(), labels.get(i))];
            int sb = b == null ? sa : b.t().shape()[indexOf(b.labels(), labels.get(i))];
            if (sa != sb && sa != 1 && sb != 1)
                throw c.error("dimension sizes " + sa + " and " + sb + " differ for one einsum label");
            r[i] = sa == 1 ? sb : sa;
        }
        return r;
    }

    private static int[] labelsAfter(List<Term> terms, int from) {
        int[] r = new int[0];
        for (int i = from; i < terms.size(); i++) r = union(r, terms.get(i).labels());
        return r;
    }

    private static int[] union(int[]... sets) {
        return Arrays.stream(sets).flatMapToInt(Arrays::stream).distinct().toArray();
    }

    private static int indexOf(int[] a, int v) {
        for (int i = 0; i < a.length; i++) if (a[i] == v) return i;
        return -1;
    }

    private static int[] cat(List<Integer> a, List<Integer> b, List<Integer> c) {
        List<Integer> r = new ArrayList<>(a);
        r.addAll(b);
        r.addAll(c);
        return r.stream().mapToInt(Integer::intValue).toArray();
    }

    private static int[] cat(int[] a, int[] b, int[] c) {
        int[] r = Arrays.copyOf(a, a.length + b.length + c.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        System.arraycopy(c, 0, r, a.length + b.length, c.length);
        return r;
    }

    private static int prod(int[] s) {
        int p = 1;
        for (int v : s) p *= v;
        return p;
    }
}
