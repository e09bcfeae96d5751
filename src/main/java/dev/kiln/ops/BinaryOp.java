package dev.kiln.ops;

/** Elementwise binary ops with broadcasting. Comparisons produce BOOL. */
public enum BinaryOp {
    ADD, SUB, MUL, DIV, MAX, MIN, POW, EQ, NE, LT, LE, GT, GE;

    public boolean isComparison() { return ordinal() >= EQ.ordinal(); }
}
