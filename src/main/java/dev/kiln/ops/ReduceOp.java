package dev.kiln.ops;

/** Reductions over a set of axes. VAR takes its correction (0 = population, 1 = sample) as param. */
public enum ReduceOp {
    SUM, MEAN, MAX, MIN, PROD, VAR, LOGSUMEXP, ARGMAX, ARGMIN
}
