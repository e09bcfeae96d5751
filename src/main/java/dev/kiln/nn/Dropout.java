package dev.kiln.nn;

import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;

/** Zeroes elements with probability p in training and scales the rest by 1/(1-p); identity in eval. */
public final class Dropout extends Module {
    private final double p;
    private final Generator gen;

    /** The drop probability. */
    public double p() { return p; }

    /** The probability forward applies now: p in training, 0 in eval. */
    double active() { return isTraining() ? p : 0; }

    /** The generator the masks are drawn from. */
    Generator generator() { return gen; }

    public Dropout(double p) { this(p, Generator.global()); }

    public Dropout(double p, Generator gen) {
        if (p < 0 || p > 1) throw new IllegalArgumentException("Dropout: p must be in [0, 1], got " + p);
        this.p = p;
        this.gen = gen;
    }

    @Override
    public Tensor forward(Tensor x) {
        if (!isTraining() || p == 0) return x;
        if (p == 1) return x.mul(0.0);
        return dev.kiln.ops.Dropout.apply(x, p, gen);
    }

    @Override protected String extraRepr() { return "p=" + p; }
}
