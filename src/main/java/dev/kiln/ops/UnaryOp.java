package dev.kiln.ops;

/** Elementwise unary ops. CLAMP uses (a = min, b = max); POW_SCALAR uses a as the exponent. */
public enum UnaryOp {
    NEG, ABS, EXP, LOG, SQRT, RSQRT, TANH, SIGMOID, RELU, GELU, GELU_TANH, SILU, SIN, COS,
    POW_SCALAR, CLAMP, RECIPROCAL, SQUARE
}
