package dev.kiln.backend.cpu;

import dev.kiln.autograd.GradCheck;
import dev.kiln.ops.Elementwise;
import dev.kiln.ops.UnaryOp;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The ERF, FLOOR, CEIL, ROUND and SIGN unary ops: special values (ties, signed zeros, NaN, inf,
 * values past 2^23 / 2^52) on the vector body and the scalar tail, erf accuracy against a
 * float64 series over [-4, 4], integer dtypes, and erf's gradient by finite differences.
 */
class ElementwiseRoundingErfTest {
    private static final double[] SPECIALS = {0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.0, -0.0, 0.49999997, -0.3, 0.3,
            Double.NaN, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY, 8388609, -8388609.5, 1e30, -1e30, 3.7, -3.7};

    private static double ref(UnaryOp op, double x) {
        return switch (op) {
            case FLOOR -> Math.floor(x);
            case CEIL -> Math.ceil(x);
            case ROUND -> Math.rint(x);
            case SIGN -> Math.signum(x);
            default -> throw new IllegalArgumentException(op.name());
        };
    }

    @Test
    void roundingAndSignMatchJavaMathOnSpecials() {
        for (DType t : new DType[]{DType.F32, DType.F64}) {
            double[] in = new double[SPECIALS.length * 3 + 1];
            for (int i = 0; i < in.length; i++) in[i] = SPECIALS[i % SPECIALS.length];
            for (UnaryOp op : new UnaryOp[]{UnaryOp.FLOOR, UnaryOp.CEIL, UnaryOp.ROUND, UnaryOp.SIGN}) {
                try (Scope s = Scope.open()) {
                    Tensor x = Tensor.fromDoubles(t, in, in.length);
                    Tensor[] r = ElementwiseTest.bothPaths(v -> Elementwise.unary(op, v, 0, 0), x);
                    double[] xs = x.toDoubleArray();
                    for (int p = 0; p < 2; p++) {
                        double[] got = r[p].toDoubleArray();
                        for (int i = 0; i < xs.length; i++) {
                            double want = ref(op, xs[i]);
                            String what = op + " " + t + (p == 0 ? " vector" : " scalar") + " of " + xs[i];
                            assertEquals(Double.doubleToLongBits(want), Double.doubleToLongBits(got[i]),
                                    what + ": want " + want + ", got " + got[i]);
                        }
                    }
                }
            }
        }
    }

    /** erf by its Taylor series in double (cancellation stays below 1e-9 for |x| <= 4). */
    private static double erfRef(double x) {
        double sum = 0, term = x;
        for (int n = 0; n < 200; n++) {
            sum += term / (2 * n + 1);
            term *= -x * x / (n + 1);
            if (Math.abs(term) < 1e-30) break;
        }
        return 2 / Math.sqrt(Math.PI) * sum;
    }

    @Test
    void erfIsAccurateAcrossTheRange() {
        int n = 4001;
        double[] in = new double[n];
        for (int i = 0; i < n; i++) in[i] = -4 + 8.0 * i / (n - 1);
        for (DType t : new DType[]{DType.F32, DType.F64}) {
            try (Scope s = Scope.open()) {
                Tensor x = Tensor.fromDoubles(t, in, n);
                Tensor[] r = ElementwiseTest.bothPaths(v -> Elementwise.unary(UnaryOp.ERF, v, 0, 0), x);
                double[] xs = x.toDoubleArray();
                double tol = t == DType.F32 ? 6e-7 : 1e-8; // the series reference itself loses ~1e-9 to cancellation near |x| = 4
                for (int p = 0; p < 2; p++) {
                    double[] got = r[p].toDoubleArray();
                    double worst = 0;
                    for (int i = 0; i < n; i++) {
                        double want = erfRef(xs[i]);
                        worst = Math.max(worst, Math.abs(got[i] - want) / Math.max(Math.abs(want), 1e-30));
                    }
                    assertTrue(worst < tol, "erf " + t + (p == 0 ? " vector" : " scalar") + ": max relative error " + worst);
                }
                double[] body = new double[64];                        // the same special values in a vector body
                body[0] = Double.POSITIVE_INFINITY;
                body[1] = Double.NEGATIVE_INFINITY;
                body[2] = Double.NaN;
                body[3] = 30;
                double[] vb = Elementwise.unary(UnaryOp.ERF, Tensor.fromDoubles(t, body, 64), 0, 0).toDoubleArray();
                assertEquals(1, vb[0], t + ": erf(+inf) in a vector");
                assertEquals(-1, vb[1], t + ": erf(-inf) in a vector");
                assertTrue(Double.isNaN(vb[2]));
                assertEquals(1, vb[3]);
                double[] sp = Elementwise.unary(UnaryOp.ERF, Tensor.fromDoubles(t, new double[]{Double.NaN,
                        Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY, 7, -30, 1e-20}, 6), 0, 0).toDoubleArray();
                assertTrue(Double.isNaN(sp[0]));
                assertEquals(1, sp[1]);
                assertEquals(-1, sp[2]);
                assertEquals(1, sp[3]);
                assertEquals(-1, sp[4]);
                assertEquals(1.1283791670955126e-20, sp[5], 1e-26);
            }
        }
    }

    @Test
    void integerDtypesKeepTheirTypeForRoundingAndSign() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.fromArray(new long[]{-5, 0, 7, Long.MIN_VALUE}, 4);
            Tensor sign = Elementwise.unary(UnaryOp.SIGN, x, 0, 0);
            assertEquals(DType.I64, sign.dtype());
            assertEquals(java.util.Arrays.toString(new long[]{-1, 0, 1, -1}), java.util.Arrays.toString(sign.toLongArray()));
            for (UnaryOp op : new UnaryOp[]{UnaryOp.FLOOR, UnaryOp.CEIL, UnaryOp.ROUND}) {
                Tensor r = Elementwise.unary(op, Tensor.fromArray(new int[]{-3, 4}, 2), 0, 0);
                assertEquals(DType.I32, r.dtype());
                assertEquals("[-3, 4]", java.util.Arrays.toString(r.toIntArray()));
            }
        }
    }

    @Test
    void erfGradientMatchesFiniteDifferences() {
        try (Scope s = Scope.open()) {
            Generator g = new Generator(11);
            GradCheck.check("erf", a -> Elementwise.unary(UnaryOp.ERF, a[0], 0, 0), Tensor.uniform(g, -2, 2, DType.F64, 3, 7));
            GradCheck.check("floor", a -> Elementwise.unary(UnaryOp.FLOOR, a[0], 0, 0).add(a[0]),
                    Tensor.uniform(g, 0.1, 0.9, DType.F64, 5));
        }
    }
}
