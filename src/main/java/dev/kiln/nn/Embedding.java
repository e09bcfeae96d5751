package dev.kiln.nn;

import dev.kiln.ops.Indexing;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;

/** A lookup table: indices [...] (I64/I32) -> vectors [..., dim]; weight ~ N(0, 1) like PyTorch. */
public final class Embedding extends Module {
    public final int num, dim;
    private final Tensor weight;

    public Embedding(int num, int dim) { this(num, dim, Generator.global()); }

    public Embedding(int num, int dim, Generator g) {
        this.num = num;
        this.dim = dim;
        this.weight = registerParameter("weight", Init.normal(g, num, dim));
    }

    public Tensor weight() { return weight; }

    @Override
    public Tensor forward(Tensor idx) { return Indexing.embedding("Embedding(" + num + ", " + dim + ")", weight, idx); }

    @Override protected String extraRepr() { return num + ", " + dim; }
}
