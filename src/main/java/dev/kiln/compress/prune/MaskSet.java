package dev.kiln.compress.prune;

import dev.kiln.autograd.GradMode;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * Binary masks over a model's prunable weights (1 = kept, 0 = pruned). {@link #apply()} zeroes
 * the pruned weights, {@link #maskGradients()} their gradients, {@link #maskState} optimizer state
 * (momentum, Adam moments) at pruned positions. Masks are owned tensors freed by {@link #close()}.
 */
public final class MaskSet implements AutoCloseable {
    /** One layer's mask: its keep pattern as booleans (flat, row-major) and as a tensor of the weight's dtype. */
    public static final class Entry {
        private final PruneTarget target;
        private boolean[] keep;
        private Tensor mask;

        Entry(PruneTarget target, boolean[] keep) {
            this.target = target;
            set(keep);
        }

        void set(boolean[] keep) {
            if (keep.length != target.weight().numel())
                throw new IllegalArgumentException("mask for " + target.name() + " has " + keep.length + " entries, weight has " + target.weight().numel());
            this.keep = keep.clone();
            double[] d = new double[keep.length];
            for (int i = 0; i < d.length; i++) d[i] = keep[i] ? 1 : 0;
            Tensor m = Scope.escape(Tensor.fromDoubles(target.weight().dtype(), d, target.weight().shape()));
            if (mask != null) mask.close();
            mask = m;
        }

        public PruneTarget target() { return target; }
        public String name() { return target.name(); }
        public Tensor weight() { return target.weight(); }
        public Tensor mask() { return mask; }
        public boolean[] keep() { return keep.clone(); }
        public int kept() { return MaskRules.count(keep); }
        public int size() { return keep.length; }
        public double sparsity() { return 1.0 - kept() / (double) size(); }
        boolean keeps(int i) { return keep[i]; }
    }

    private final List<Entry> entries = new ArrayList<>();

    MaskSet(List<PruneTarget> targets, List<boolean[]> keeps) {
        for (int i = 0; i < targets.size(); i++) entries.add(new Entry(targets.get(i), keeps.get(i)));
    }

    public List<Entry> entries() { return Collections.unmodifiableList(entries); }

    public Entry get(String name) {
        for (Entry e : entries) if (e.name().equals(name)) return e;
        throw new IllegalArgumentException("no mask for " + name);
    }

    /** Replaces the keep patterns (in entry order), e.g. for a new step of gradual pruning. */
    void update(List<boolean[]> keeps) {
        for (int i = 0; i < entries.size(); i++) entries.get(i).set(keeps.get(i));
    }

    /** Zeroes the pruned weights in place (+0.0: w * 0 + 0 turns a -0.0 into +0.0). */
    public void apply() {
        try (Scope s = Scope.open(); GradMode.Guard g = GradMode.noGrad()) {
            for (Entry e : entries) e.weight().copyFrom(e.weight().mul(e.mask()).add(0.0));
        }
    }

    /** Zeroes the gradients of pruned weights (those that have a gradient). */
    public void maskGradients() {
        try (Scope s = Scope.open(); GradMode.Guard g = GradMode.noGrad()) {
            for (Entry e : entries) {
                Tensor gr = e.weight().grad();
                if (gr != null) gr.copyFrom(gr.mul(e.mask()));
            }
        }
    }

    /** Zeroes per-parameter optimizer state tensors of a masked weight at its pruned positions. */
    public void maskState(Tensor weight, Map<String, Tensor> state) {
        Entry e = find(weight);
        if (e == null) return;
        try (Scope s = Scope.open(); GradMode.Guard g = GradMode.noGrad()) {
            for (Tensor t : state.values())
                if (java.util.Arrays.equals(t.shape(), weight.shape()))
                    t.copyFrom(t.mul(t.dtype() == e.mask().dtype() ? e.mask() : e.mask().to(t.dtype())).add(0.0));
        }
    }

    Entry find(Tensor weight) {
        for (Entry e : entries) if (e.weight() == weight) return e;
        return null;
    }

    public long total() {
        long n = 0;
        for (Entry e : entries) n += e.size();
        return n;
    }

    public long kept() {
        long n = 0;
        for (Entry e : entries) n += e.kept();
        return n;
    }

    /** Fraction of masked weights that are pruned. */
    public double sparsity() { return total() == 0 ? 0 : 1.0 - kept() / (double) total(); }

    @Override
    public void close() {
        for (Entry e : entries) if (e.mask != null) e.mask.close();
    }
}
