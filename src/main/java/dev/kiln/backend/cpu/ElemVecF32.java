package dev.kiln.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Float32 vector math: exp, log, tanh, sigmoid, the pieces of exact GELU (normal CDF via erfc),
 * sin/cos, pow.
 *
 * <p>Why our own: on the JDK 25 / Zen 4 machine this was written on,
 * {@code lanewise(VectorOperators.EXP)} and friends cost 6-17 ns per element (no faster than
 * scalar {@code Math.exp}); the polynomial exp below takes ~0.4 ns. Functions are small so that
 * C2 inlines them; the heavier ops are split into passes by {@link ElemUnary} (see there: C2's
 * per-compilation node budget fits about one exp).
 *
 * <p>Method: range reduction plus polynomials whose coefficients were fitted for this file
 * (weighted least squares with Lawson iterations at Chebyshev points against mpmath, on the
 * reduced interval, then rounded to float). Max relative error vs double measured on dense grids:
 * exp 8.3e-8, log 1.2e-7, tanh 1.5e-7, sigmoid 1.5e-7, silu 1.7e-7, GELU 3.8e-7 (tails
 * included), sin/cos 1.3e-7 (|x| <= 2^16, scalar beyond); tanh-GELU 1.1e-6 near |x| = 3 and
 * pow e^(a log x) |a log x| * 6e-8, both from the conditioning of their float arguments.
 */
final class ElemVecF32 {
    private ElemVecF32() {}

    static final VectorSpecies<Float> S = CpuConfig.F32;

    private static final float MAGIC = 12582912f; // 1.5 * 2^23: adding it rounds to an integer
    private static final int MAGIC_BITS = 0x4B400000;
    private static final float LOG2E = 1.44269502f;
    private static final float LN2_HI = 0.693147182f, LN2_LO = -1.90465421e-09f;

    static FloatVector c(float v) { return FloatVector.broadcast(S, v); }

    // ------------------------------------------------------------------ exp

    /**
     * e^x: above 88.73 inf (it overflows from ~88.72 on), results below ~2e-38 (x below ~-87) are
     * flushed to 0, NaN stays NaN. Lanes outside [-87.33, 88.73] are computed on anyway and then
     * replaced (0 below, inf above) by two compares and blends: clamping x with max and min first
     * gave the same bits but cost a third of the function (Java's max/min keep NaN and order -0
     * below +0, a sequence of several instructions per call on x86): a softmax row's exp pass ran
     * 60 -> 43 ns per 128 floats on Zen 4.
     */
    static FloatVector exp(FloatVector x) {
        VectorMask<Float> under = x.compare(VectorOperators.LT, -87.33f), over = x.compare(VectorOperators.GT, 88.73f);
        FloatVector t = x.fma(c(LOG2E), c(MAGIC));
        FloatVector kf = t.sub(MAGIC);
        FloatVector r = kf.fma(c(-LN2_HI), x);
        r = kf.fma(c(-LN2_LO), r);
        return scale(expPoly(r), t).blend(0f, under).blend(Float.POSITIVE_INFINITY, over);
    }

    /**
     * e^(a + b) with |b| <= ~2: k is taken from a + b, but b is added to the reduced argument
     * a - k ln2, so a large a (e.g. an exact -x^2/2) loses nothing to the rounding of a + b.
     * Results below ~2e-38 flush to 0, above 88.73 inf. As in {@link #exp}, lanes with a + b out
     * of range are computed on and replaced by compares and blends instead of clamping a + b to
     * [-87.33, 88.73] first: the same bits for GELU's and erf's arguments over every float in
     * [-30, 30] (checked exhaustively against the old form); where x^2 nears float's range
     * (|x| >= ~1e19) the flushed lanes are now 0 where the clamped form could give NaN.
     */
    static FloatVector expSum(FloatVector a, FloatVector b) {
        a = a.max(-90f);
        FloatVector u = a.add(b);
        VectorMask<Float> under = u.compare(VectorOperators.LT, -87.33f), over = u.compare(VectorOperators.GT, 88.73f);
        FloatVector t = u.fma(c(LOG2E), c(MAGIC));
        FloatVector kf = t.sub(MAGIC);
        FloatVector r = kf.fma(c(-LN2_HI), a);
        r = kf.fma(c(-LN2_LO), r).add(b);
        return scale(expPoly(r), t).blend(0f, under).blend(Float.POSITIVE_INFINITY, over);
    }

    /** e^r for |r| <= ln2/2: 1 + r + r^2 P(r). */
    private static FloatVector expPoly(FloatVector r) {
        FloatVector p = r.fma(c(0.00138146104f), c(0.00836871006f));
        p = p.fma(r, c(0.041668389f));
        p = p.fma(r, c(0.166665211f));
        p = p.fma(r, c(0.49999994f));
        return r.mul(r).fma(p, r).add(1f);
    }

    /**
     * p * 2^k, where t = MAGIC + k (so t's bits shifted left by 23 are k << 23). Computed as
     * (p * 2^(k-1)) * 2 so that k = 128 works; k = -126 gives 2^-127 with zero bits, i.e. 0.
     */
    private static FloatVector scale(FloatVector p, FloatVector t) {
        FloatVector s = t.reinterpretAsInts().lanewise(VectorOperators.LSHL, 23).add(126 << 23).reinterpretAsFloats();
        return p.mul(s).mul(2f);
    }

    // ------------------------------------------------------------------ log

    /** True when every lane is a positive, normal, finite float (the domain of {@link #log}). */
    static boolean logDomain(FloatVector x) {
        return x.reinterpretAsInts().sub(0x00800000).compare(VectorOperators.ULT, 0x7f000000).allTrue();
    }

    /** Natural log for positive normal finite lanes (check {@link #logDomain}; do others in scalar). */
    static FloatVector log(FloatVector x) {
        IntVector bits = x.reinterpretAsInts();
        FloatVector e = (FloatVector) bits.lanewise(VectorOperators.LSHR, 23).sub(127).convert(VectorOperators.I2F, 0);
        FloatVector m = bits.and(0x007fffff).or(0x3f800000).reinterpretAsFloats(); // [1, 2)
        VectorMask<Float> big = m.compare(VectorOperators.GT, 1.41421354f);
        m = m.blend(m.mul(0.5f), big);
        e = e.blend(e.add(1f), big);
        return e.fma(c(LN2_HI), log1pPoly(m.sub(1f)).add(e.mul(LN2_LO)));
    }

    /** log(1 + f) for f in [sqrt(1/2) - 1, sqrt(2) - 1]: f - f^2/2 + f^3 P(f). */
    private static FloatVector log1pPoly(FloatVector f) {
        FloatVector p = f.fma(c(-0.0763442963f), c(0.127615497f));
        p = p.fma(f, c(-0.131601945f));
        p = p.fma(f, c(0.142017618f));
        p = p.fma(f, c(-0.166233569f));
        p = p.fma(f, c(0.200012267f));
        p = p.fma(f, c(-0.250008225f));
        p = p.fma(f, c(0.333333313f));
        FloatVector f2 = f.mul(f);
        return f2.mul(f).fma(p, f2.fma(c(-0.5f), f));
    }

    // ------------------------------------------------------------------ tanh, sigmoid, GELU pieces

    /**
     * tanh from x and e = e^(-2|x|) (computed in a previous pass): an odd polynomial for
     * |x| <= 0.625, else sign(x) (1 - e) / (1 + e).
     */
    static FloatVector tanhFinish(FloatVector x, FloatVector e) {
        FloatVector big = c(1f).sub(e).div(e.add(1f));
        big = big.reinterpretAsInts().or(x.reinterpretAsInts().and(0x80000000)).reinterpretAsFloats();
        FloatVector x2 = x.mul(x);
        FloatVector p = x2.fma(c(-0.00570499059f), c(0.0206390899f));
        p = p.fma(x2, c(-0.0537397154f));
        p = p.fma(x2, c(0.133314416f));
        p = p.fma(x2, c(-0.333332807f));
        FloatVector small = x2.mul(x).fma(p, x);
        return small.blend(big, x.abs().compare(VectorOperators.GT, 0.625f));
    }

    /** 1 / (1 + e^-x). */
    static FloatVector sigmoid(FloatVector x) {
        return c(1f).div(exp(x.neg()).add(1f));
    }

    /** x / (1 + e^w): silu with w = -x, tanh-GELU with w = -2u. */
    static FloatVector xOverOnePlusExp(FloatVector x, FloatVector w) {
        return x.div(exp(w).add(1f));
    }

    /** w = -2u, u = sqrt(2/pi) (x + 0.044715 x^3), for the tanh GELU x / (1 + e^w). */
    static FloatVector geluTanhArg(FloatVector x) {
        return x.mul(x).fma(c((float) dev.kiln.ops.ScalarMath.GELU_C), c(1f)).mul(x).mul((float) (-2 * dev.kiln.ops.ScalarMath.GELU_K));
    }

    /*
     * Exact GELU, x Phi(x), in three passes: erfc(z) = t e^(-z^2 + P(t)) with z = |x|/sqrt 2,
     * t = 1/(1 + z/2) (P fitted on z in [0, 10]); Phi = erfc/2 for x <= 0, 1 - erfc/2 otherwise.
     * -z^2 = -x^2/2 is split exactly (fma) and passed to expSum, so both tails keep relative accuracy.
     */

    /** GELU pass 1: t = 1 / (1 + |x| / (2 sqrt 2)). */
    static FloatVector geluT(FloatVector x) {
        return c(1f).div(x.abs().fma(c(0.353553391f), c(1f)));
    }

    /** GELU pass 1: the small part of the exponent, P(t) - lo/2 where x*x = hi + lo exactly. */
    static FloatVector geluExpLo(FloatVector x, FloatVector t) {
        FloatVector lo = x.fma(x, x.mul(x).neg());
        return lo.fma(c(-0.5f), erfcPoly(t.sub(0.583333313f)));
    }

    /** P(u), u = t - 7/12: the exponent correction of erfc (fitted for this file, degree 10). */
    static FloatVector erfcPoly(FloatVector u) {
        FloatVector p = u.fma(c(-0.138219625f), c(0.145551771f));
        p = p.fma(u, c(0.140089244f));
        p = p.fma(u, c(-0.245304585f));
        p = p.fma(u, c(-0.0523099303f));
        p = p.fma(u, c(0.295243204f));
        p = p.fma(u, c(-0.0347147472f));
        p = p.fma(u, c(-0.407399386f));
        p = p.fma(u, c(0.09069217f));
        p = p.fma(u, c(1.3687371f));
        return p.fma(u, c(-0.558595359f));
    }

    /** GELU pass 2: e^(-x^2/2 + expLo). */
    static FloatVector geluExp(FloatVector x, FloatVector expLo) {
        return expSum(x.mul(x).mul(-0.5f), expLo);
    }

    /** GELU pass 3: x Phi(x) from t and the exponential e (erfc = t e); Phi rounds to 1 above 6 (keeps inf). */
    static FloatVector geluFinish(FloatVector x, FloatVector t, FloatVector e) {
        FloatVector half = t.mul(e).mul(0.5f);
        FloatVector r = x.mul(half.blend(c(1f).sub(half), x.compare(VectorOperators.GT, 0f)));
        return r.blend(x, x.compare(VectorOperators.GT, 6f));
    }

    /*
     * erf(y) in three passes, from the same erfc fit as GELU (z = |y|, t = 1/(1 + z/2)):
     * erfc(z) = t e^(-z^2 + P(t)), erf = sign(y) (1 - erfc) for |y| >= 0.5; below, the odd Taylor
     * series to y^13 (truncation error < 1e-9 relative). Max relative error ~4e-7.
     */

    /** erf pass 1: t = 1 / (1 + |y| / 2). */
    static FloatVector erfT(FloatVector y) {
        return c(1f).div(y.abs().fma(c(0.5f), c(1f)));
    }

    /** erf pass 1: the small part of the exponent, P(t) - lo where y*y = hi + lo exactly. */
    static FloatVector erfExpLo(FloatVector y, FloatVector t) {
        FloatVector lo = y.fma(y, y.mul(y).neg());
        return erfcPoly(t.sub(0.583333313f)).sub(lo);
    }

    /** erf pass 2: e^(-y^2 + expLo). */
    static FloatVector erfExp(FloatVector y, FloatVector expLo) {
        return expSum(y.mul(y).neg(), expLo);
    }

    /** erf pass 3: sign(y) (1 - t e), or the Taylor series for |y| < 0.5. */
    static FloatVector erfFinish(FloatVector y, FloatVector t, FloatVector e) {
        FloatVector big = c(1f).sub(t.mul(e));
        big = big.reinterpretAsInts().or(y.reinterpretAsInts().and(0x80000000)).reinterpretAsFloats();
        // |y| > 10: erf is +-1 in float (1 - t e already rounds to it from |y| ~ 4); this also makes y = +-inf
        // give +-1, where t e was 0 * NaN (y*y - y*y is NaN at infinity); a NaN y stays NaN
        FloatVector unit = c(1f).reinterpretAsInts().or(y.reinterpretAsInts().and(0x80000000)).reinterpretAsFloats();
        big = big.blend(unit, y.abs().compare(VectorOperators.GT, 10f));
        FloatVector y2 = y.mul(y);
        FloatVector p = y2.fma(c(1.20553326e-4f), c(-8.54832702e-4f)); // 2/sqrt(pi) * (-1)^n / (n! (2n+1)), n = 6, 5
        p = p.fma(y2, c(5.22397785e-3f));
        p = p.fma(y2, c(-2.68661715e-2f));
        p = p.fma(y2, c(1.12837918e-1f));
        p = p.fma(y2, c(-3.76126379e-1f));
        FloatVector small = y2.mul(y).fma(p, y.mul(1.12837917f));
        return big.blend(small, y.abs().compare(VectorOperators.LT, 0.5f));
    }

    // ------------------------------------------------------------------ rounding

    /** Round half to even (as Math.rint): |x| < 2^23 rounds through adding 2^23; larger |x| are integral. */
    static FloatVector rint(FloatVector x) {
        FloatVector a = x.abs();
        FloatVector r = a.add(8388608f).sub(8388608f);
        r = r.reinterpretAsInts().or(x.reinterpretAsInts().and(0x80000000)).reinterpretAsFloats();
        return r.blend(x, a.compare(VectorOperators.GE, 8388608f));
    }

    static FloatVector floor(FloatVector x) {
        FloatVector r = rint(x);
        return r.blend(r.sub(1f), r.compare(VectorOperators.GT, x));
    }

    static FloatVector ceil(FloatVector x) {
        FloatVector r = rint(x);
        return r.blend(r.add(1f), r.compare(VectorOperators.LT, x));
    }

    /** 1 for x > 0, -1 for x < 0, else x (+-0 and NaN unchanged), as Math.signum. */
    static FloatVector sign(FloatVector x) {
        FloatVector r = x.blend(1f, x.compare(VectorOperators.GT, 0f));
        return r.blend(-1f, x.compare(VectorOperators.LT, 0f));
    }

    // ------------------------------------------------------------------ pow pieces

    /**
     * x^y from e = e^(y log|x|): the sign of odd integer powers of negative x, NaN for negative x
     * with a non-integer y, and 1 when y == 0 or x == 1 (as pow does, even for NaN).
     */
    static FloatVector powFix(FloatVector x, FloatVector y, FloatVector e) {
        FloatVector yr = y.add(MAGIC).sub(MAGIC); // rint(y) for |y| < 2^22
        VectorMask<Float> neg = x.compare(VectorOperators.LT, 0f);
        VectorMask<Float> huge = y.abs().compare(VectorOperators.GE, 4194304f);
        VectorMask<Float> integral = yr.compare(VectorOperators.EQ, y).or(huge);
        VectorMask<Float> odd = yr.convert(VectorOperators.F2I, 0).reinterpretAsInts().and(1)
                .compare(VectorOperators.NE, 0).cast(S).andNot(huge);
        e = e.blend(e.neg(), neg.and(integral).and(odd));
        e = e.blend(Float.NaN, neg.andNot(integral));
        return e.blend(1f, y.compare(VectorOperators.EQ, 0f).or(x.compare(VectorOperators.EQ, 1f)));
    }

    /** x^a for the exponents with a short exact form, or null. */
    static FloatVector powSpecial(FloatVector x, float a) {
        if (a == 2f) return x.mul(x);
        if (a == 1f) return x;
        if (a == 3f) return x.mul(x).mul(x);
        if (a == 0.5f) return x.sqrt();
        if (a == -1f) return c(1f).div(x);
        if (a == -2f) return c(1f).div(x.mul(x));
        if (a == -0.5f) return c(1f).div(x.sqrt());
        if (a == 0f) return c(1f);
        return null;
    }

    static boolean hasPowSpecial(float a) {
        return a == 2f || a == 1f || a == 3f || a == 0.5f || a == -1f || a == -2f || a == -0.5f || a == 0f;
    }

    // ------------------------------------------------------------------ sin, cos

    /** Largest |x| the vector sin/cos are accurate for; kernels use scalar code beyond. */
    static final float TRIG_MAX = 65536f;

    /** sin(x) (quadrant 0) or cos(x) (quadrant 1) for |x| <= TRIG_MAX: 3-part Cody-Waite reduction by pi/2. */
    static FloatVector sinCos(FloatVector x, int quadrant) {
        FloatVector t = x.fma(c(0.636619747f), c(MAGIC));
        IntVector q = t.reinterpretAsInts().sub(MAGIC_BITS - quadrant);
        FloatVector k = t.sub(MAGIC);
        FloatVector r = k.fma(c(-1.57079637f), x);
        r = k.fma(c(4.37113883e-08f), r);
        r = k.fma(c(1.71512451e-15f), r);
        FloatVector r2 = r.mul(r);
        FloatVector s = r2.fma(c(-0.000195152839f), c(0.00833216123f)).fma(r2, c(-0.166666552f));
        s = r2.mul(r).fma(s, r);
        FloatVector co = r2.fma(c(2.44331568e-05f), c(-0.00138873165f)).fma(r2, c(0.0416666456f));
        co = r2.mul(r2).fma(co, r2.fma(c(-0.5f), c(1f)));
        FloatVector v = s.blend(co, q.and(1).compare(VectorOperators.NE, 0).cast(S));
        return v.blend(v.neg(), q.and(2).compare(VectorOperators.NE, 0).cast(S));
    }
}
