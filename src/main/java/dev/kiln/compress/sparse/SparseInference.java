package dev.kiln.compress.sparse;

import dev.kiln.autograd.GradMode;
import dev.kiln.nn.Linear;
import dev.kiln.nn.Module;
import dev.kiln.nn.Sequential;
import dev.kiln.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Inference view of a pruned {@link Sequential}: every Linear layer with zero weights runs as a
 * {@link SparseLinear}, which picks a sparse kernel per call only where the device's crossover
 * table measured it faster than dense; other layers run as they are. The view borrows the
 * model's other layers (closing it closes only its SparseLinear copies; the model stays the
 * caller's) and records no gradients.
 *
 * <pre>{@code
 * try (SparseInference fast = SparseInference.of(prunedMlp)) {
 *     Tensor logits = fast.forward(x);
 *     System.out.println(fast.kernels(64));   // e.g. [CSR, CSR, DENSE]
 * }
 * }</pre>
 */
public final class SparseInference extends Module {
    private final List<Module> layers = new ArrayList<>();
    private final List<SparseLinear> sparse = new ArrayList<>();

    private SparseInference() {}

    /** The view of {@code model} (a Sequential, possibly nested). */
    public static SparseInference of(Sequential model) {
        SparseInference s = new SparseInference();
        try {
            s.addAll(model);
        } catch (RuntimeException e) {
            s.close();
            throw e;
        }
        return s;
    }

    private void addAll(Sequential seq) {
        for (Module m : seq.layers()) {
            if (m instanceof Sequential inner) addAll(inner);
            else if (m instanceof Linear l) addLinear(l);
            else layers.add(m);
        }
    }

    /** A Linear with zero weights becomes a SparseLinear; a fully dense one stays as it is. */
    private void addLinear(Linear l) {
        SparseLinear sl = SparseLinear.fromDense(l.weight(), l.bias());
        if (sl.sparsity() == 0) {
            sl.close();
            layers.add(l);
            return;
        }
        sparse.add(sl);
        layers.add(new Step(sl));
    }

    /** Runs the layers without recording gradients, freeing each intermediate as soon as it is used. */
    @Override
    public Tensor forward(Tensor x) {
        try (GradMode.Guard g = GradMode.noGrad()) {
            Tensor h = x;
            for (Module m : layers) {
                Tensor next = m.forward(h);
                if (h != x && next != h) h.close();
                h = next;
            }
            return h;
        }
    }

    /** The kernel each sparse layer runs for a batch of {@code batch} rows, in layer order. */
    public List<SparseLinear.Kernel> kernels(int batch) {
        List<SparseLinear.Kernel> k = new ArrayList<>();
        for (SparseLinear s : sparse) k.add(s.chosen(batch));
        return k;
    }

    /** Why each sparse layer runs the kernel it runs for this batch (measured timings, or the table's estimate), in layer order. */
    public List<String> reasons(int batch) {
        List<String> r = new ArrayList<>();
        for (SparseLinear s : sparse) r.add(s.outFeatures() + "x" + s.inFeatures() + " " + s.reason(batch));
        return r;
    }

    /** One line per sparse layer: shape, sparsity, kernels for batch 1 and 64. */
    public String describe() {
        StringBuilder sb = new StringBuilder();
        for (SparseLinear s : sparse)
            sb.append(String.format(Locale.ROOT, "  linear %d -> %d: %.1f%% zeros, kernel batch 1 %s, batch 64 %s%n",
                    s.inFeatures(), s.outFeatures(), 100 * s.sparsity(), s.chosen(1), s.chosen(64)));
        return sb.toString();
    }

    /** Closes the SparseLinear copies; the borrowed layers stay open. */
    @Override
    public void close() {
        for (SparseLinear s : sparse) s.close();
        sparse.clear();
    }

    /** A SparseLinear as a layer of the view. */
    private static final class Step extends Module {
        private final SparseLinear lin;

        Step(SparseLinear lin) { this.lin = lin; }

        @Override public Tensor forward(Tensor x) { return lin.forward(x); }
    }
}
