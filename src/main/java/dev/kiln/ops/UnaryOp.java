package dev.kiln.ops;

/**
 * Elementwise unary ops. CLAMP uses (a = min, b = max); POW_SCALAR uses a as the exponent.
 * ROUND rounds half to even; SIGN keeps +-0 and NaN; FLOOR, CEIL, ROUND and SIGN keep integer
 * dtypes (identity / signum there).
 */
public enum UnaryOp {
    NEG, ABS, EXP, LOG, SQRT, RSQRT, TANH, SIGMOID, RELU, GELU, GELU_TANH, SILU, SIN, COS,
    POW_SCALAR, CLAMP, RECIPROCAL, SQUARE, ERF, FLOOR, CEIL, ROUND, SIGN
}
