package dev.kiln.backend.cpu;

import dev.kiln.ops.BinaryOp;
import dev.kiln.ops.Elementwise;
import dev.kiln.ops.UnaryOp;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Elementwise kernels through the public Tensor API, against float64 references computed here:
 * every unary and binary op on F32 and F64, on shapes [1], [7], [1025], [45,65], 0-d and
 * non-contiguous views (transposed, sliced, expanded, permuted 3-d), with the vector and the
 * scalar path; integer dtypes; NaN / inf behaviour; accuracy of the vector math on dense grids;
 * multi-threaded results equal single-threaded.
 */
class ElementwiseTest {

    @AfterEach
    void restore() {
        CpuConfig.setScalar(false);
        CpuConfig.setThreads(Runtime.getRuntime().availableProcessors());
    }

    // ------------------------------------------------------------------ shared helpers (also used by ReduceTest)

    record Named(String name, Tensor t) {
        @Override public String toString() { return name; }
    }

    /** Seeded inputs in [lo, hi): plain shapes and non-contiguous views of the same values kind. */
    static List<Named> views(long seed, DType t, double lo, double hi) {
        Generator g = new Generator(seed);
        List<Named> v = new ArrayList<>();
        v.add(new Named("[1]", Tensor.uniform(g, lo, hi, t, 1)));
        v.add(new Named("[7]", Tensor.uniform(g, lo, hi, t, 7)));
        v.add(new Named("[1025]", Tensor.uniform(g, lo, hi, t, 1025)));
        v.add(new Named("[45,65]", Tensor.uniform(g, lo, hi, t, 45, 65)));
        v.add(new Named("0-d", Tensor.scalar(lo + (hi - lo) * g.nextUniform(), t)));
        v.add(new Named("transposed [65,45]", Tensor.uniform(g, lo, hi, t, 45, 65).t()));
        v.add(new Named("sliced [45,65] step 2", Tensor.uniform(g, lo, hi, t, 45, 130).slice(1, 0, 130, 2)));
        v.add(new Named("expanded [1,65]->[45,65]", Tensor.uniform(g, lo, hi, t, 1, 65).expand(45, 65)));
        v.add(new Named("permuted [6,4,5]", Tensor.uniform(g, lo, hi, t, 4, 5, 6).permute(2, 0, 1)));
        v.add(new Named("narrowed 3-d [3,4,37]", Tensor.uniform(g, lo, hi, t, 3, 4, 40).narrow(2, 2, 37)));
        return v;
    }

    static void assertClose(String what, double[] ref, double[] got, double atol, double rtol) {
        assertEquals(ref.length, got.length, what + ": length");
        for (int i = 0; i < ref.length; i++) {
            double r = ref[i], g = got[i];
            if (Double.isNaN(r) || Double.isNaN(g)) {
                assertTrue(Double.isNaN(r) && Double.isNaN(g), what + " at " + i + ": expected " + r + ", got " + g);
                continue;
            }
            if (Double.isInfinite(r) || Double.isInfinite(g)) {
                assertEquals(r, g, what + " at " + i);
                continue;
            }
            assertTrue(Math.abs(r - g) <= atol + rtol * Math.abs(r),
                    what + " at " + i + ": expected " + r + ", got " + g + " (err " + Math.abs(r - g) + ")");
        }
    }

    static double atol(DType t) { return t == DType.F64 ? 1e-14 : 1e-7; }
    static double rtol(DType t) { return t == DType.F64 ? 1e-12 : 1e-6; }

    /** Runs f with the vector path, then the scalar path, returning both results. */
    static Tensor[] bothPaths(Function<Tensor, Tensor> f, Tensor x) {
        Tensor v = f.apply(x);
        CpuConfig.setScalar(true);
        try {
            return new Tensor[]{v, f.apply(x)};
        } finally {
            CpuConfig.setScalar(false);
        }
    }

    // ------------------------------------------------------------------ references

    /** erf by its Taylor series (accurate to ~1e-15 for |z| <= 1.6). */
    static double erfTaylor(double z) {
        double sum = 0, term = z; // term = (-1)^n z^(2n+1) / n!
        for (int n = 0; n < 80; n++) {
            sum += term / (2 * n + 1);
            term *= -z * z / (n + 1);
            if (Math.abs(term) < 1e-18) break;
        }
        return 2 / Math.sqrt(Math.PI) * sum;
    }

    static double refUnary(UnaryOp op, double x, double a, double b) {
        return switch (op) {
            case NEG -> -x;
            case ABS -> Math.abs(x);
            case EXP -> Math.exp(x);
            case LOG -> Math.log(x);
            case SQRT -> Math.sqrt(x);
            case RSQRT -> 1 / Math.sqrt(x);
            case TANH -> Math.tanh(x);
            case SIGMOID -> 1 / (1 + Math.exp(-x));
            case RELU -> Double.isNaN(x) ? x : Math.max(x, 0);
            case GELU -> 0.5 * x * (1 + erfTaylor(x / Math.sqrt(2)));
            case GELU_TANH -> 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
            case SILU -> x / (1 + Math.exp(-x));
            case SIN -> Math.sin(x);
            case COS -> Math.cos(x);
            case POW_SCALAR -> Math.pow(x, a);
            case CLAMP -> Math.min(Math.max(x, a), b);
            case RECIPROCAL -> 1 / x;
            case SQUARE -> x * x;
            case ERF -> erfTaylor(x);
            case FLOOR -> Math.floor(x);
            case CEIL -> Math.ceil(x);
            case ROUND -> Math.rint(x);
            case SIGN -> Math.signum(x);
            case SOFTPLUS -> x > 20 ? x : Math.log(1 + Math.exp(x));   // as PyTorch writes it (threshold 20)
        };
    }

    static Tensor applyUnary(UnaryOp op, Tensor x, double a, double b) {
        return switch (op) {
            case NEG -> x.neg();
            case ABS -> x.abs();
            case EXP -> x.exp();
            case LOG -> x.log();
            case SQRT -> x.sqrt();
            case RSQRT -> x.rsqrt();
            case TANH -> x.tanh();
            case SIGMOID -> x.sigmoid();
            case RELU -> x.relu();
            case GELU -> x.gelu();
            case GELU_TANH -> x.geluTanh();
            case SILU -> x.silu();
            case SIN -> x.sin();
            case COS -> x.cos();
            case POW_SCALAR -> x.pow(a);
            case CLAMP -> x.clamp(a, b);
            case RECIPROCAL -> x.reciprocal();
            case SQUARE -> x.square();
            case ERF, FLOOR, CEIL, ROUND, SIGN, SOFTPLUS -> Elementwise.unary(op, x, 0, 0);
        };
    }

    /** Input range per op: positive for log/sqrt/rsqrt/reciprocal/non-integer powers. */
    private static double[] domain(UnaryOp op) {
        return switch (op) {
            case LOG, SQRT, RSQRT, RECIPROCAL -> new double[]{0.05, 2};
            case EXP -> new double[]{-10, 10};
            case SIN, COS -> new double[]{-20, 20};
            default -> new double[]{-2, 2};
        };
    }

    // ------------------------------------------------------------------ unary

    @Test
    void everyUnaryOpMatchesFloat64ReferenceOnAllViews() {
        for (DType t : new DType[]{DType.F32, DType.F64}) {
            for (UnaryOp op : UnaryOp.values()) {
                double a = op == UnaryOp.CLAMP ? -0.5 : 2.5, b = 0.7;
                double[] dom = op == UnaryOp.POW_SCALAR ? new double[]{0.05, 2} : domain(op);
                try (Scope s = Scope.open()) {
                    for (Named v : views(op.ordinal() * 31L + t.ordinal(), t, dom[0], dom[1])) {
                        Tensor[] r = bothPaths(x -> applyUnary(op, x, a, b), v.t());
                        double[] in = v.t().toDoubleArray();
                        double[] ref = new double[in.length];
                        for (int i = 0; i < in.length; i++) ref[i] = refUnary(op, in[i], a, b);
                        String what = op + " " + t + " " + v;
                        assertArrayEquals(v.t().shape(), r[0].shape(), what + ": shape");
                        assertEquals(t, r[0].dtype(), what + ": dtype");
                        assertClose(what + " vector", ref, r[0].toDoubleArray(), atol(t), rtol(t));
                        assertClose(what + " scalar", ref, r[1].toDoubleArray(), atol(t), rtol(t));
                    }
                }
            }
        }
    }

    @Test
    void powWithIntegerHalfAndNegativeExponents() {
        for (DType t : new DType[]{DType.F32, DType.F64}) {
            for (double e : new double[]{0, 1, 2, 3, 4, 5, -1, -2, -3, 0.5, -0.5, 1.5, -2.25, 7}) {
                boolean integral = e == Math.rint(e);
                try (Scope s = Scope.open()) {
                    Tensor x = Tensor.uniform(new Generator(7), integral ? -2 : 0.05, 2, t, 100);
                    Tensor[] r = bothPaths(v -> v.pow(e), x);
                    double[] in = x.toDoubleArray(), ref = new double[in.length];
                    for (int i = 0; i < in.length; i++) ref[i] = Math.pow(in[i], e);
                    double rt = t == DType.F32 ? 2e-6 : 1e-12;
                    assertClose("pow " + e + " " + t, ref, r[0].toDoubleArray(), atol(t), rt);
                    assertClose("pow " + e + " " + t + " scalar", ref, r[1].toDoubleArray(), atol(t), rt);
                }
            }
            try (Scope s = Scope.open()) { // negative base with a non-integer exponent, zero base
                Tensor x = Tensor.fromDoubles(t, new double[]{-2, -0.5, 0, 0, 1, Double.NaN, 4}, 7);
                assertClose("pow 1.5 specials " + t, new double[]{Double.NaN, Double.NaN, 0, 0, 1, Double.NaN, 8},
                        x.pow(1.5).toDoubleArray(), 1e-6, 1e-6);
                assertClose("pow -1.5 specials " + t, new double[]{Double.NaN, Double.NaN, Double.POSITIVE_INFINITY,
                        Double.POSITIVE_INFINITY, 1, Double.NaN, 0.125}, x.pow(-1.5).toDoubleArray(), 1e-6, 1e-6);
            }
        }
    }

    @Test
    void specialValuesFollowMathSemantics() {
        double[] xs = {Double.NaN, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY, 0.0, -0.0, 100, -100, 1e-40, -1e6, 1e6,
                88.7, 89, -87, -104, 1e-3, -1e-3, 0.625, -0.63};
        for (DType t : new DType[]{DType.F32, DType.F64}) {
            // 16 lanes of specials plus a tail, so both the vector body and the scalar tail see them
            double[] in = new double[xs.length * 3];
            for (int i = 0; i < in.length; i++) in[i] = xs[i % xs.length];
            try (Scope s = Scope.open()) {
                Tensor x = Tensor.fromDoubles(t, in, in.length);
                double[] xv = x.toDoubleArray();
                for (UnaryOp op : new UnaryOp[]{UnaryOp.EXP, UnaryOp.LOG, UnaryOp.TANH, UnaryOp.SIGMOID, UnaryOp.RELU,
                        UnaryOp.SILU, UnaryOp.SIN, UnaryOp.COS, UnaryOp.SQRT, UnaryOp.ABS, UnaryOp.GELU_TANH, UnaryOp.GELU}) {
                    double[] got = applyUnary(op, x, 0, 0).toDoubleArray();
                    for (int i = 0; i < xv.length; i++) {
                        double ref = t == DType.F32 ? (float) op.reference(xv[i], 0, 0) : op.reference(xv[i], 0, 0);
                        if (op == UnaryOp.EXP && t == DType.F32 && ref < 2e-38) ref = got[i] == 0 ? 0 : ref; // flush to zero allowed
                        if (op == UnaryOp.EXP && t == DType.F64 && ref < 5e-308) ref = got[i] == 0 ? 0 : ref;
                        String what = op + " " + t + " of " + xv[i];
                        if (Double.isNaN(ref)) assertTrue(Double.isNaN(got[i]), what + " should be NaN, got " + got[i]);
                        else assertEquals(ref, got[i], 2e-6 * Math.abs(ref) + 1e-30, what);
                    }
                }
            }
        }
    }

    @Test
    void geluMatchesMpmathGoldenValuesIncludingTails() {
        double[][] golden = {
                {-12.0, -2.1317785344932147972e-32}, {-9.5, -9.9697893215944771182e-21}, {-8.0, -4.9767684594174272988e-15},
                {-6.5, -2.6104003795084265754e-10}, {-5.0, -1.4332578593959695584e-6}, {-4.25, -0.000045426234543471286994},
                {-3.25, -0.0018753313877699928895}, {-2.75, -0.0081943488964000310743}, {-2.25, -0.027505063473850582093},
                {-1.75, -0.070103524511679908233}, {-1.25, -0.13206221708356907211}, {-0.75, -0.1699705142826511495},
                {-0.3125, -0.11791571297807591036}, {-0.046875, -0.022561238749113819454},
                {-6.103515625e-05, -0.00003051609194919409701}, {0.0, 0.0}, {6.103515625e-05, 0.00003051906430080590299},
                {0.046875, 0.024313761250886180546}, {0.3125, 0.19458428702192408964}, {0.75, 0.5800294857173488505},
                {1.25, 1.1179377829164309279}, {1.75, 1.6798964754883200918}, {2.25, 2.2224949365261494179},
                {2.75, 2.7418056511035999689}, {3.25, 3.2481246686122300071}, {4.25, 4.2499545737654565287},
                {5.0, 4.999998566742140604}, {6.5, 6.499999999738959962}};
        double[] xs = new double[golden.length], ref = new double[golden.length];
        for (int i = 0; i < golden.length; i++) {
            xs[i] = golden[i][0];
            ref[i] = golden[i][1];
        }
        for (DType t : new DType[]{DType.F32, DType.F64}) {
            try (Scope s = Scope.open()) {
                Tensor[] r = bothPaths(Tensor::gelu, Tensor.fromDoubles(t, xs, xs.length));
                double rt = t == DType.F32 ? 6e-7 : 2e-15;
                assertClose("gelu golden " + t, ref, r[0].toDoubleArray(), 0, rt);
                assertClose("gelu golden " + t + " scalar", ref, r[1].toDoubleArray(), 0, t == DType.F32 ? 1.2e-7 : 2e-15);
            }
        }
    }

    /** Dense-grid accuracy of the F32 vector math vs double: the numbers quoted in ElemVecF32. */
    @Test
    void float32VectorMathIsAccurateOnDenseGrids() {
        Object[][] cases = {
                {UnaryOp.EXP, -87.0, 88.0, 2e-7}, {UnaryOp.LOG, 1e-30, 1e30, 2e-7}, {UnaryOp.TANH, -12.0, 12.0, 3e-7},
                {UnaryOp.SIGMOID, -80.0, 80.0, 3e-7}, {UnaryOp.SILU, -80.0, 80.0, 3e-7}, {UnaryOp.GELU, -12.0, 12.0, 6e-7},
                {UnaryOp.GELU_TANH, -3.0, 3.0, 1.5e-6}, {UnaryOp.SIN, -100.0, 100.0, 2e-7}, {UnaryOp.COS, -100.0, 100.0, 2e-7},
                {UnaryOp.SQRT, 0.0, 1e6, 1e-7}, {UnaryOp.RSQRT, 1e-6, 1e6, 2e-7}};
        int n = 1 << 15;
        for (Object[] c : cases) {
            UnaryOp op = (UnaryOp) c[0];
            double lo = (double) c[1], hi = (double) c[2], bound = (double) c[3];
            float[] xs = new float[n];
            boolean logScale = op == UnaryOp.LOG || op == UnaryOp.RSQRT;
            for (int i = 0; i < n; i++)
                xs[i] = (float) (logScale ? lo * Math.pow(hi / lo, i / (n - 1.0)) : lo + (hi - lo) * i / (n - 1));
            try (Scope s = Scope.open()) {
                double[] got = applyUnary(op, Tensor.fromArray(xs, n), 0, 0).toDoubleArray();
                double worst = 0;
                for (int i = 0; i < n; i++) {
                    double ref = op.reference(xs[i], 0, 0);
                    if (op == UnaryOp.SIN || op == UnaryOp.COS) worst = Math.max(worst, Math.abs(got[i] - ref)); // absolute near zeros
                    else if (Math.abs(ref) > 1e-37) worst = Math.max(worst, Math.abs(got[i] - ref) / Math.abs(ref));
                }
                assertTrue(worst < bound, op + ": max error " + worst + " over [" + lo + ", " + hi + "] exceeds " + bound);
            }
        }
    }

    @Test
    void integerUnaryOpsKeepTheirTypeAndWrap() {
        long[] vals = {-128, -5, -1, 0, 1, 3, 127};
        for (DType t : new DType[]{DType.I8, DType.I32, DType.I64}) {
            try (Scope s = Scope.open()) {
                double[] dv = Arrays.stream(vals).asDoubleStream().toArray();
                Tensor x = Tensor.fromDoubles(t, dv, dv.length);
                assertEquals(t, x.neg().dtype());
                long[] neg = x.neg().toLongArray(), abs = x.abs().toLongArray(), relu = x.relu().toLongArray();
                long[] sq = x.square().toLongArray(), cl = x.clamp(-2, 2).toLongArray();
                for (int i = 0; i < vals.length; i++) {
                    long v = vals[i];
                    assertEquals(wrap(t, -v), neg[i], t + " neg " + v);
                    assertEquals(wrap(t, Math.abs(v)), abs[i], t + " abs " + v);
                    assertEquals(Math.max(v, 0), relu[i], t + " relu " + v);
                    assertEquals(wrap(t, v * v), sq[i], t + " square " + v);
                    assertEquals(Math.min(Math.max(v, -2), 2), cl[i], t + " clamp " + v);
                }
                // float ops on ints compute in float32
                Tensor e = x.exp();
                assertEquals(DType.F32, e.dtype());
                assertEquals(Math.exp(3), e.getDouble(5), 1e-5);
            }
        }
    }

    static long wrap(DType t, long v) {
        return switch (t) {
            case I8 -> (byte) v;
            case I32 -> (int) v;
            default -> v;
        };
    }

    @Test
    void multiThreadedLargeArraysEqualSingleThreaded() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.uniform(new Generator(3), -3, 3, DType.F32, 300_007);
            Tensor xt = Tensor.uniform(new Generator(4), -3, 3, DType.F32, 600, 501).t();
            Tensor y = Tensor.uniform(new Generator(5), -3, 3, DType.F32, 300_007);
            List<Function<Tensor, Tensor>> fs = List.of(Tensor::exp, Tensor::gelu, v -> v.pow(1.7), v -> v.add(y), v -> v.pow(y.abs()), v -> v.lt(y));
            for (Function<Tensor, Tensor> f : fs) {
                CpuConfig.setThreads(1);
                double[] one = f.apply(x).toDoubleArray();
                CpuConfig.setThreads(4);
                double[] four = f.apply(x).toDoubleArray();
                assertArrayEquals(one, four);
            }
            CpuConfig.setThreads(1);
            double[] one = xt.gelu().toDoubleArray();
            CpuConfig.setThreads(4);
            assertArrayEquals(one, xt.gelu().toDoubleArray());
        }
    }

    // ------------------------------------------------------------------ binary

    static double refBinary(BinaryOp op, double x, double y) {
        return switch (op) {
            case ADD -> x + y;
            case SUB -> x - y;
            case MUL -> x * y;
            case DIV -> x / y;
            case MAX -> Double.isNaN(x) || Double.isNaN(y) ? Double.NaN : Math.max(x, y);
            case MIN -> Double.isNaN(x) || Double.isNaN(y) ? Double.NaN : Math.min(x, y);
            case POW -> Math.pow(x, y);
            case EQ -> x == y ? 1 : 0;
            case NE -> x != y ? 1 : 0;
            case LT -> x < y ? 1 : 0;
            case LE -> x <= y ? 1 : 0;
            case GT -> x > y ? 1 : 0;
            case GE -> x >= y ? 1 : 0;
        };
    }

    static Tensor applyBinary(BinaryOp op, Tensor a, Tensor b) {
        return switch (op) {
            case ADD -> a.add(b);
            case SUB -> a.sub(b);
            case MUL -> a.mul(b);
            case DIV -> a.div(b);
            case MAX -> a.maximum(b);
            case MIN -> a.minimum(b);
            case POW -> a.pow(b);
            case EQ -> a.eq(b);
            case NE -> a.ne(b);
            case LT -> a.lt(b);
            case LE -> a.le(b);
            case GT -> a.gt(b);
            case GE -> a.ge(b);
        };
    }

    /** Operand pairs covering the row kinds: both contiguous, scalar, row/column broadcast, strided. */
    private static List<Named[]> pairs(long seed, DType t, double lo, double hi) {
        Generator g = new Generator(seed);
        List<Named[]> p = new ArrayList<>();
        p.add(pair("[1025] + [1025]", Tensor.uniform(g, lo, hi, t, 1025), Tensor.uniform(g, lo, hi, t, 1025)));
        p.add(pair("[45,65] + 0-d", Tensor.uniform(g, lo, hi, t, 45, 65), Tensor.scalar(lo + (hi - lo) * g.nextUniform(), t)));
        p.add(pair("0-d + [7]", Tensor.scalar(lo + (hi - lo) * g.nextUniform(), t), Tensor.uniform(g, lo, hi, t, 7)));
        p.add(pair("[45,65] + [65]", Tensor.uniform(g, lo, hi, t, 45, 65), Tensor.uniform(g, lo, hi, t, 65)));
        p.add(pair("[45,1] + [45,65]", Tensor.uniform(g, lo, hi, t, 45, 1), Tensor.uniform(g, lo, hi, t, 45, 65)));
        p.add(pair("[3,1] + [1,4]", Tensor.uniform(g, lo, hi, t, 3, 1), Tensor.uniform(g, lo, hi, t, 1, 4)));
        p.add(pair("transposed + contiguous", Tensor.uniform(g, lo, hi, t, 65, 45).t(), Tensor.uniform(g, lo, hi, t, 45, 65)));
        p.add(pair("sliced 3-d + [37]", Tensor.uniform(g, lo, hi, t, 3, 4, 74).slice(2, 0, 74, 2), Tensor.uniform(g, lo, hi, t, 37)));
        p.add(pair("[1] + [1]", Tensor.uniform(g, lo, hi, t, 1), Tensor.uniform(g, lo, hi, t, 1)));
        return p;
    }

    private static Named[] pair(String name, Tensor a, Tensor b) {
        return new Named[]{new Named(name, a), new Named(name, b)};
    }

    @Test
    void everyBinaryOpMatchesFloat64ReferenceWithBroadcasting() {
        for (DType t : new DType[]{DType.F32, DType.F64}) {
            for (BinaryOp op : BinaryOp.values()) {
                boolean pow = op == BinaryOp.POW;
                try (Scope s = Scope.open()) {
                    for (Named[] pr : pairs(op.ordinal() * 17L + t.ordinal(), t, pow ? 0.1 : -2, 2)) {
                        Tensor a = pr[0].t(), b = pr[1].t();
                        if (op == BinaryOp.DIV) b = b.abs().add(0.25);
                        Tensor bb = b;
                        Tensor[] r = bothPaths(x -> applyBinary(op, x, bb), a);
                        int[] shape = dev.kiln.tensor.Shape.broadcast("test", a.shape(), b.shape());
                        double[] av = a.expand(shape).toDoubleArray(), bv = b.expand(shape).toDoubleArray();
                        double[] ref = new double[av.length];
                        for (int i = 0; i < av.length; i++) ref[i] = refBinary(op, av[i], bv[i]);
                        String what = op + " " + t + " " + pr[0];
                        assertArrayEquals(shape, r[0].shape(), what + ": shape");
                        assertEquals(op.isComparison() ? DType.BOOL : t, r[0].dtype(), what + ": dtype");
                        double rt = pow && t == DType.F32 ? 2e-6 : rtol(t);
                        assertClose(what + " vector", ref, r[0].toDoubleArray(), atol(t), rt);
                        assertClose(what + " scalar", ref, r[1].toDoubleArray(), atol(t), rt);
                    }
                }
            }
        }
    }

    @Test
    void maxMinPropagateNaNAndComparisonsFollowIeee() {
        double n = Double.NaN;
        double[] a = {n, 1, n, 2, -0.0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, n, 5};
        double[] b = {1, n, n, 1, 0.0, 3, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 0, n};
        for (DType t : new DType[]{DType.F32, DType.F64}) {
            try (Scope s = Scope.open()) {
                Tensor x = Tensor.fromDoubles(t, a, a.length), y = Tensor.fromDoubles(t, b, b.length);
                for (boolean scalar : new boolean[]{false, true}) {
                    CpuConfig.setScalar(scalar);
                    double[] mx = x.maximum(y).toDoubleArray(), mn = x.minimum(y).toDoubleArray();
                    double[] eq = x.eq(y).toDoubleArray(), ne = x.ne(y).toDoubleArray(), lt = x.lt(y).toDoubleArray();
                    for (int i = 0; i < a.length; i++) {
                        String what = t + (scalar ? " scalar" : " vector") + " at " + i;
                        assertEquals(refBinary(BinaryOp.MAX, a[i], b[i]), mx[i], what + " max");
                        assertEquals(refBinary(BinaryOp.MIN, a[i], b[i]), mn[i], what + " min");
                        assertEquals(refBinary(BinaryOp.EQ, a[i], b[i]), eq[i], what + " eq");
                        assertEquals(refBinary(BinaryOp.NE, a[i], b[i]), ne[i], what + " ne");
                        assertEquals(refBinary(BinaryOp.LT, a[i], b[i]), lt[i], what + " lt");
                    }
                }
            }
        }
    }

    @Test
    void integerAndBoolBinaryOps() {
        long[] av = {-128, -7, 0, 5, 100, 127, 3}, bv = {1, 3, -2, 5, 100, -1, 127};
        for (DType t : new DType[]{DType.I8, DType.I32, DType.I64}) {
            try (Scope s = Scope.open()) {
                Tensor a = Tensor.fromDoubles(t, Arrays.stream(av).asDoubleStream().toArray(), av.length);
                Tensor b = Tensor.fromDoubles(t, Arrays.stream(bv).asDoubleStream().toArray(), bv.length);
                for (BinaryOp op : new BinaryOp[]{BinaryOp.ADD, BinaryOp.SUB, BinaryOp.MUL, BinaryOp.MAX, BinaryOp.MIN,
                        BinaryOp.EQ, BinaryOp.NE, BinaryOp.LT, BinaryOp.LE, BinaryOp.GT, BinaryOp.GE}) {
                    Tensor r = applyBinary(op, a, b);
                    assertEquals(op.isComparison() ? DType.BOOL : t, r.dtype(), op + " " + t);
                    long[] got = r.toLongArray();
                    for (int i = 0; i < av.length; i++) {
                        long x = av[i], y = bv[i];
                        long ref = switch (op) {
                            case ADD -> wrap(t, x + y);
                            case SUB -> wrap(t, x - y);
                            case MUL -> wrap(t, x * y);
                            case MAX -> Math.max(x, y);
                            case MIN -> Math.min(x, y);
                            default -> (long) refBinary(op, x, y);
                        };
                        assertEquals(ref, got[i], op + " " + t + " " + x + ", " + y);
                    }
                }
                // true division and pow of ints give float32
                assertEquals(DType.F32, a.div(b).dtype());
                assertEquals(-7 / 3.0, a.div(b).getDouble(1), 1e-6);
                // broadcast of an int scalar
                assertArrayEquals(new long[]{wrap(t, -126), -5, 2, 7, 102, wrap(t, 129), 5}, a.add(2).toLongArray());
            }
        }
        try (Scope s = Scope.open()) {
            Tensor p = Tensor.fromDoubles(DType.BOOL, new double[]{1, 1, 0, 0}, 4), q = Tensor.fromDoubles(DType.BOOL, new double[]{1, 0, 1, 0}, 4);
            assertArrayEquals(new long[]{1, 0, 0, 1}, p.eq(q).toLongArray());
            assertArrayEquals(new long[]{0, 1, 0, 0}, p.gt(q).toLongArray());
            assertArrayEquals(new long[]{2, 1, 1, 0}, p.add(q).toLongArray()); // bool arithmetic promotes to int
        }
    }

    // ------------------------------------------------------------------ where

    @Test
    void whereSelectsWithBroadcastingForAllDtypes() {
        for (DType t : new DType[]{DType.F32, DType.F64, DType.I8, DType.I32, DType.I64, DType.BF16}) {
            try (Scope s = Scope.open()) {
                Generator g = new Generator(11);
                Tensor c = Tensor.uniform(g, -1, 1, DType.F32, 45, 65).gt(Tensor.scalar(0));
                Tensor a = Tensor.uniform(g, -50, 50, t, 45, 65), b = Tensor.uniform(g, -50, 50, t, 65);
                Tensor ct = Tensor.uniform(g, -1, 1, DType.F32, 65, 45).gt(Tensor.scalar(0)).t();
                for (Tensor cond : new Tensor[]{c, ct}) {
                    for (boolean scalar : new boolean[]{false, true}) {
                        CpuConfig.setScalar(scalar);
                        Tensor r = Tensor.where(cond, a, b);
                        assertEquals(t, r.dtype());
                        double[] cv = cond.toDoubleArray(), av = a.toDoubleArray(), bv = b.expand(45, 65).toDoubleArray(), rv = r.toDoubleArray();
                        for (int i = 0; i < rv.length; i++)
                            assertEquals(cv[i] != 0 ? av[i] : bv[i], rv[i], t + " where at " + i);
                    }
                }
                // scalar branches and a 1-d condition broadcast over rows
                Tensor c1 = Tensor.fromDoubles(DType.BOOL, new double[]{1, 0, 1}, 3);
                Tensor r = Tensor.where(c1, Tensor.scalar(7, t), Tensor.zeros(t, 2, 3));
                assertArrayEquals(new double[]{7, 0, 7, 7, 0, 7}, r.toDoubleArray());
            }
        }
    }
}
