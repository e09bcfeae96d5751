package dev.kiln.backend.cpu;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Float64 vector math: exp, rounding (rint, floor, ceil) and sign (sigmoid, silu and the tanh GELU are built on it in ElemUnary). The F64 ops without a vector
 * version here (log, tanh, sin, cos, erf, erf GELU, general pow) run {@link ElemMath} per element.
 * exp: k = round(x / ln2), r = x - k ln2 (two-part ln2, fma), e^r by a degree-11 polynomial,
 * scaled by 2^k through the exponent bits. See ElemUnary for why sigmoid etc. are separate passes.
 */
final class ElemVecF64 {
    private ElemVecF64() {}

    static final VectorSpecies<Double> S = CpuConfig.F64;

    private static final double MAGIC = 6755399441055744.0; // 1.5 * 2^52
    private static final double LOG2E = 1.4426950408889634;
    private static final double LN2_HI = 0.6931471805599453, LN2_LO = 2.3190468138462996e-17;

    static DoubleVector c(double v) { return DoubleVector.broadcast(S, v); }

    /**
     * e^x. x is clamped to [-708.4, 709.8]: above, the result overflows to inf; results below
     * ~4e-308 (x < ~-708) are flushed to 0. NaN stays NaN.
     */
    static DoubleVector exp(DoubleVector x) {
        x = x.max(-708.4).min(709.8);
        DoubleVector t = x.fma(c(LOG2E), c(MAGIC));
        DoubleVector kf = t.sub(MAGIC);
        DoubleVector r = kf.fma(c(-LN2_HI), x);
        r = kf.fma(c(-LN2_LO), r);
        // t's bits are MAGIC's + k, so shifted left by 52 they are k << 52; 2^(k-1) * 2 lets k = 1024 through
        DoubleVector s = t.reinterpretAsLongs().lanewise(VectorOperators.LSHL, 52).add(1022L << 52).reinterpretAsDoubles();
        return expPoly(r).mul(s).mul(2.0);
    }

    /** e^r for |r| <= ln2/2: 1 + r + r^2 P(r), P of degree 9 (Chebyshev fit, max rel error 1.3e-16). */
    private static DoubleVector expPoly(DoubleVector r) {
        DoubleVector p = r.fma(c(2.5100375832561234e-08), c(2.7620075879983367e-07));
        p = p.fma(r, c(2.7557268480310024e-06));
        p = p.fma(r, c(2.4801521322368692e-05));
        p = p.fma(r, c(0.00019841269863040545));
        p = p.fma(r, c(0.0013888888917196719));
        p = p.fma(r, c(0.008333333333330065));
        p = p.fma(r, c(0.041666666666624164));
        p = p.fma(r, c(0.16666666666666669));
        p = p.fma(r, c(0.5000000000000001));
        return r.mul(r).fma(p, r).add(1.0);
    }

    /** -2u, u = sqrt(2/pi) (x + 0.044715 x^3): the tanh GELU is x / (1 + e^(-2u)). */
    static DoubleVector geluTanhArg(DoubleVector x) {
        return x.mul(x).fma(c(dev.kiln.ops.ScalarMath.GELU_C), c(1.0)).mul(x).mul(-2 * dev.kiln.ops.ScalarMath.GELU_K);
    }

    /** Round half to even: |x| < 2^52 rounds through adding 2^52; larger |x| are integral. */
    static DoubleVector rint(DoubleVector x) {
        DoubleVector a = x.abs();
        DoubleVector r = a.add(0x1p52).sub(0x1p52);
        r = r.reinterpretAsLongs().or(x.reinterpretAsLongs().and(Long.MIN_VALUE)).reinterpretAsDoubles();
        return r.blend(x, a.compare(VectorOperators.GE, 0x1p52));
    }

    static DoubleVector floor(DoubleVector x) {
        DoubleVector r = rint(x);
        return r.blend(r.sub(1.0), r.compare(VectorOperators.GT, x));
    }

    static DoubleVector ceil(DoubleVector x) {
        DoubleVector r = rint(x);
        return r.blend(r.add(1.0), r.compare(VectorOperators.LT, x));
    }

    /** 1 for x > 0, -1 for x < 0, else x (+-0 and NaN unchanged). */
    static DoubleVector sign(DoubleVector x) {
        DoubleVector r = x.blend(1.0, x.compare(VectorOperators.GT, 0.0));
        return r.blend(-1.0, x.compare(VectorOperators.LT, 0.0));
    }

    /** x^a for the exponents with an exact vector form, or null when a has none. */
    static DoubleVector powScalarOrNull(DoubleVector x, double a) {
        if (a == 2) return x.mul(x);
        if (a == 1) return x;
        if (a == 3) return x.mul(x).mul(x);
        if (a == 0.5) return x.sqrt();
        if (a == -1) return c(1.0).div(x);
        if (a == -2) return c(1.0).div(x.mul(x));
        if (a == -0.5) return c(1.0).div(x.sqrt());
        if (a == 0) return c(1.0);
        return null;
    }

    /** True when {@link #powScalarOrNull} has a vector form for exponent a. */
    static boolean hasVectorPow(double a) {
        return a == 2 || a == 1 || a == 3 || a == 0.5 || a == -1 || a == -2 || a == -0.5 || a == 0;
    }
}
