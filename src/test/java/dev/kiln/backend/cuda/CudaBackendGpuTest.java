package dev.kiln.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.backend.Backend;
import dev.kiln.backend.Backends;
import dev.kiln.ops.BinaryOp;
import dev.kiln.ops.Conv2dParams;
import dev.kiln.ops.ReduceOp;
import dev.kiln.ops.UnaryOp;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;
import java.util.Arrays;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The CUDA backend against the CPU backend: every implemented op runs on both on the same seeded
 * inputs in [-2, 2] (shapes incl. 1, 7, 1025, 45x65, broadcast and transposed views) and must agree
 * to a normalized error max|gpu - cpu| / max(|cpu|, 1) < 1e-5 for f32 (1e-12 for f64); copies,
 * casts and comparisons must agree exactly. Tagged gpu; skips with the reason when CUDA is absent.
 */
@Tag("gpu")
class CudaBackendGpuTest {
    private static final double TOL_F32 = 1e-5;
    private static final int[][] SHAPES = {{1}, {7}, {1025}, {45, 65}, {3, 5, 7}};
    private static Backend cuda;
    private static final Backend CPU = Backends.cpu();

    @BeforeAll
    static void needsCuda() {
        if (!CudaAvailability.isAvailable()) System.out.println("CudaBackendGpuTest skipped: " + CudaAvailability.reason());
        Assumptions.assumeTrue(CudaAvailability.isAvailable(), CudaAvailability.reason());
        cuda = Backends.cuda();
    }

    // ---------------------------------------------------------------- helpers

    private static Tensor rand(long seed, DType t, int... shape) {
        return Tensor.uniform(new Generator(seed), -2, 2, t, shape);
    }

    private static Tensor gpu(Tensor host) {
        return host.to(cuda);
    }

    private static Tensor host(Tensor dev) {
        assertEquals("cuda", dev.backend().name());
        return dev.to(CPU);
    }

    /** Normalized error of a device result vs the CPU reference (NaN must match NaN). */
    private static void close(String what, Tensor cpuRef, Tensor devResult, double tol) {
        Tensor got = host(devResult);
        assertArrayEquals(cpuRef.shape(), got.shape(), what + ": shape");
        double[] r = cpuRef.toDoubleArray(), g = got.toDoubleArray();
        double scale = 1, err = 0;
        for (double v : r) if (Double.isFinite(v)) scale = Math.max(scale, Math.abs(v));
        for (int i = 0; i < r.length; i++) {
            if (Double.isNaN(r[i]) || Double.isNaN(g[i])) {
                assertTrue(Double.isNaN(r[i]) && Double.isNaN(g[i]), what + ": NaN mismatch at " + i + ": cpu " + r[i] + ", cuda " + g[i]);
                continue;
            }
            if (Double.isInfinite(r[i]) || Double.isInfinite(g[i])) {
                assertEquals(r[i], g[i], what + ": at " + i);
                continue;
            }
            err = Math.max(err, Math.abs(r[i] - g[i]) / scale);
        }
        assertTrue(err < tol, what + ": normalized error " + err + " >= " + tol);
    }

    private static void exact(String what, Tensor cpuRef, Tensor devResult) {
        Tensor got = host(devResult);
        assertArrayEquals(cpuRef.shape(), got.shape(), what + ": shape");
        if (cpuRef.dtype().isFloating()) {
            assertArrayEquals(cpuRef.toDoubleArray(), got.toDoubleArray(), what);
        } else {
            assertArrayEquals(cpuRef.toLongArray(), got.toLongArray(), what);
        }
    }

    private static double tol(DType t) {
        return t == DType.F64 ? 1e-12 : TOL_F32;
    }

    // ---------------------------------------------------------------- memory and copies

    @Test
    void roundTripsAndDeviceCopiesAreExact() {
        try (Scope s = Scope.open()) {
            for (DType t : new DType[] {DType.F32, DType.F64, DType.BF16, DType.F16, DType.I32, DType.I64, DType.I8, DType.BOOL}) {
                for (int[] shape : SHAPES) {
                    Tensor x = rand(1, DType.F32, shape).mul(40).to(t);
                    Tensor d = gpu(x);
                    assertEquals(cuda, d.backend());
                    exact("round trip " + t + Arrays.toString(shape), x, d);
                    exact("device clone " + t, x, d.clone());
                }
                Tensor m = rand(2, DType.F32, 45, 65).mul(40).to(t);
                Tensor md = gpu(m);
                exact("transposed contiguous " + t, m.t().contiguous(), md.t().contiguous());
                exact("transposed to host " + t, m.t().contiguous(), md.t());
                exact("strided slice " + t, m.slice(1, 1, 60, 3).contiguous(), md.slice(1, 1, 60, 3).contiguous());
                exact("expanded " + t, m.narrow(0, 3, 1).expand(7, 65).contiguous(), md.narrow(0, 3, 1).expand(7, 65).contiguous());
            }
        }
    }

    @Test
    void castsMatchTheCpu() {
        DType[] all = {DType.F32, DType.F64, DType.BF16, DType.F16, DType.I32, DType.I64, DType.I8, DType.BOOL};
        try (Scope s = Scope.open()) {
            Tensor base = rand(3, DType.F64, 45, 65).mul(100);
            for (DType from : all) {
                Tensor x = base.to(from);
                Tensor xd = gpu(x);
                for (DType to : all) {
                    if (to == from) continue;
                    exact("cast " + from + "->" + to, x.to(to), xd.to(to));
                    exact("strided cast " + from + "->" + to, x.t().to(to), xd.t().to(to));
                }
            }
        }
    }

    @Test
    void allocatorStaysFlatOver10kSteps() {
        CachingAllocator a = ((CudaBackend) cuda).allocator();
        for (int i = 0; i < 10; i++) Tensor.empty(cuda, DType.F32, 1000 + i).close();
        cuda.synchronize();
        long reserved = a.bytesReserved();
        long inUse = a.bytesInUse();
        for (int i = 0; i < 10_000; i++) {
            try (Tensor t = Tensor.empty(cuda, DType.F32, 1 + (i % 4096)); Tensor u = t.add(1.0)) {
                assertEquals(cuda, u.backend());
            }
        }
        cuda.synchronize();
        assertEquals(reserved, a.bytesReserved(), "reserved bytes stay flat: " + a.stats());
        assertTrue(a.bytesInUse() <= inUse, "no leak (the Cleaner may free older tensors meanwhile): " + a.stats());
    }

    @Test
    void allocateZeroFills() {
        try (Tensor t = Tensor.empty(cuda, DType.F32, 1025); Tensor h = t.to(CPU)) {
            for (float v : h.toFloatArray()) assertEquals(0f, v);
        }
    }

    // ---------------------------------------------------------------- elementwise

    @Test
    void unaryOpsMatchTheCpu() {
        try (Scope s = Scope.open()) {
            for (DType t : new DType[] {DType.F32, DType.F64}) {
                for (int[] shape : SHAPES) {
                    Tensor x = rand(4, t, shape);
                    Tensor xd = gpu(x);
                    for (UnaryOp op : UnaryOp.values()) {
                        double a = op == UnaryOp.CLAMP ? -0.5 : op == UnaryOp.POW_SCALAR ? 3 : 0;
                        double b = op == UnaryOp.CLAMP ? 1.25 : 0;
                        Tensor ref = Tensor.empty(CPU, t, shape);
                        CPU.unary(op, x, ref, a, b);
                        Tensor got = Tensor.empty(cuda, t, shape);
                        cuda.unary(op, xd, got, a, b);
                        close("unary " + op + " " + t + Arrays.toString(shape), ref, got, tol(t));
                    }
                }
                Tensor m = rand(5, t, 45, 65);
                Tensor md = gpu(m);
                close("tanh of transposed " + t, m.t().tanh(), md.t().tanh(), tol(t));
                close("exp of a slice " + t, m.slice(1, 2, 65, 2).exp(), md.slice(1, 2, 65, 2).exp(), tol(t));
            }
        }
    }

    @Test
    void binaryOpsMatchTheCpuWithBroadcasting() {
        try (Scope s = Scope.open()) {
            for (DType t : new DType[] {DType.F32, DType.F64}) {
                Tensor a = rand(6, t, 45, 65);
                Tensor[] others = {rand(7, t, 45, 65), rand(8, t, 65), rand(9, t, 45, 1), rand(10, t, 65, 45).t()};
                Tensor ad = gpu(a);
                for (Tensor b : others) {
                    Tensor bd = b.isContiguous() ? gpu(b) : gpu(b.t().contiguous()).t();
                    for (BinaryOp op : BinaryOp.values()) {
                        String what = "binary " + op + " " + t + " b " + Arrays.toString(b.shape());
                        Tensor aa = op == BinaryOp.POW ? a.abs() : a, aad = op == BinaryOp.POW ? ad.abs() : ad;
                        Tensor ref = binary(CPU, op, aa, b), got = binary(cuda, op, aad, bd);
                        if (op.isComparison()) exact(what, ref, got); else close(what, ref, got, tol(t));
                    }
                }
                close("transposed + transposed " + t, a.t().add(a.t()), ad.t().add(ad.t()), tol(t));
                close("scalar add " + t, a.add(1.5), ad.add(1.5), tol(t));
                for (int[] shape : SHAPES) {
                    Tensor x = rand(11, t, shape), y = rand(12, t, shape);
                    close("mul " + Arrays.toString(shape), x.mul(y), gpu(x).mul(gpu(y)), tol(t));
                }
            }
        }
    }

    private static Tensor binary(Backend be, BinaryOp op, Tensor a, Tensor b) {
        int[] shape = dev.kiln.tensor.Shape.broadcast("test", a.shape(), b.shape());
        Tensor out = Tensor.empty(be, op.isComparison() ? DType.BOOL : a.dtype(), shape);
        be.binary(op, a.expand(shape), b.expand(shape), out);
        return out;
    }

    @Test
    void reluBackwardMatchesTheCpu() {
        try (Scope s = Scope.open()) {
            for (DType t : new DType[] {DType.F32, DType.F64}) {
                for (int[] shape : SHAPES) {
                    Tensor g = rand(13, t, shape), x = rand(14, t, shape);
                    Tensor ref = Tensor.empty(CPU, t, shape), got = Tensor.empty(cuda, t, shape);
                    CPU.reluBackward(g, x, ref);
                    cuda.reluBackward(gpu(g), gpu(x), got);
                    exact("reluBackward " + t + Arrays.toString(shape), ref, got);
                }
                Tensor g = rand(15, t, 65, 45), x = rand(16, t, 65, 45);
                Tensor ref = Tensor.empty(CPU, t, 45, 65), got = Tensor.empty(cuda, t, 45, 65);
                CPU.reluBackward(g.t(), x.t(), ref);
                cuda.reluBackward(gpu(g).t(), gpu(x).t(), got);
                exact("reluBackward transposed " + t, ref, got);
            }
        }
    }

    // ---------------------------------------------------------------- row ops and reductions

    @Test
    void softmaxAndLogSoftmaxMatchTheCpu() {
        int[][] shapes = {{1}, {7}, {1025}, {45, 65}, {7, 1025}, {3, 5, 7}, {2, 5000}};
        try (Scope s = Scope.open()) {
            for (DType t : new DType[] {DType.F32, DType.F64}) {
                for (int[] shape : shapes) {
                    Tensor x = rand(17, t, shape);
                    Tensor xd = gpu(x);
                    for (int axis = 0; axis < shape.length; axis++) {
                        String what = t + Arrays.toString(shape) + " axis " + axis;
                        close("softmax " + what, x.softmax(axis), xd.softmax(axis), tol(t));
                        close("logSoftmax " + what, x.logSoftmax(axis), xd.logSoftmax(axis), tol(t));
                    }
                }
                Tensor m = rand(18, t, 65, 45);
                close("softmax of transposed " + t, m.t().softmax(1), gpu(m).t().softmax(1), tol(t));
            }
        }
    }

    @Test
    void layerNormMatchesTheCpu() {
        try (Scope s = Scope.open()) {
            for (DType t : new DType[] {DType.F32, DType.F64}) {
                int[][][] cases = {{{45, 65}, {65}}, {{7, 1025}, {1025}}, {{3, 5, 7}, {5, 7}}, {{1, 1}, {1}}, {{4, 8192}, {8192}}};
                for (int[][] c : cases) {
                    Tensor x = rand(19, t, c[0]), w = rand(20, t, c[1]), b = rand(21, t, c[1]);
                    String what = "layerNorm " + t + Arrays.toString(c[0]) + " over " + Arrays.toString(c[1]);
                    close(what, x.layerNorm(c[1], w, b, 1e-5), gpu(x).layerNorm(c[1], gpu(w), gpu(b), 1e-5), tol(t));
                    close(what + " no affine", x.layerNorm(c[1], null, null, 1e-5), gpu(x).layerNorm(c[1], null, null, 1e-5), tol(t));
                }
                Tensor m = rand(22, t, 65, 45);
                close("layerNorm of transposed " + t, m.t().layerNorm(new int[] {65}, null, null, 1e-5),
                        gpu(m).t().layerNorm(new int[] {65}, null, null, 1e-5), tol(t));
            }
        }
    }

    @Test
    void reductionsMatchTheCpu() {
        int[][][] cases = {{{1025}, {0}}, {{45, 65}, {1}}, {{45, 65}, {0}}, {{45, 65}, {0, 1}}, {{3, 5, 7}, {1, 2}},
                {{3, 5, 7}, {0, 1}}, {{3, 5, 7}, {2}}, {{3, 5, 7}, {0}}, {{3, 1, 7}, {1}}, {{3, 1, 7}, {0, 1}}, {{1, 7}, {0}},
                {{3, 5, 7}, {1}}, {{3, 5, 7}, {0, 2}}, {{2, 3, 4, 5}, {1, 3}}};
        try (Scope s = Scope.open()) {
            for (DType t : new DType[] {DType.F32, DType.F64}) {
                for (int[][] c : cases) {
                    Tensor x = rand(23, t, c[0]);
                    Tensor xd = gpu(x);
                    String what = t + Arrays.toString(c[0]) + " axes " + Arrays.toString(c[1]);
                    close("sum " + what, x.sum(c[1], true), xd.sum(c[1], true), tol(t));
                    close("mean " + what, x.mean(c[1], false), xd.mean(c[1], false), tol(t));
                    exact("max " + what, x.max(c[1], true), xd.max(c[1], true));
                }
                Tensor m = rand(24, t, 65, 45);
                close("sum of transposed " + t, m.t().sum(new int[] {1}, true), gpu(m).t().sum(new int[] {1}, true), tol(t));
                close("sum all " + t, m.sum(), gpu(m).sum(), tol(t));
            }
        }
    }

    // ---------------------------------------------------------------- gemm

    @Test
    void gemmMatchesTheCpu() {
        try (Scope s = Scope.open()) {
            for (DType t : new DType[] {DType.F32, DType.F64}) {
                int[][][] pairs = {{{45, 65}, {65, 7}}, {{1, 1025}, {1025, 1}}, {{7, 1}, {1, 1025}}, {{3, 45, 65}, {65, 7}},
                        {{3, 45, 65}, {3, 65, 7}}, {{1, 45, 65}, {4, 65, 7}}, {{128, 256}, {256, 64}}};
                for (int[][] p : pairs) {
                    Tensor a = rand(26, t, p[0]), b = rand(27, t, p[1]);
                    close("matmul " + t + Arrays.toString(p[0]) + "x" + Arrays.toString(p[1]), a.matmul(b), gpu(a).matmul(gpu(b)), tol(t));
                }
                Tensor a = rand(28, t, 65, 45), b = rand(29, t, 7, 65);
                Tensor ad = gpu(a), bd = gpu(b);
                close("matmul transposed views " + t, a.t().matmul(b.t()), ad.t().matmul(bd.t()), tol(t));
                Tensor sliced = rand(30, t, 45, 130);
                close("matmul strided slice " + t, sliced.slice(1, 0, 130, 2).matmul(b.t()),
                        gpu(sliced).slice(1, 0, 130, 2).matmul(bd.t()), tol(t));
                for (boolean ta : new boolean[] {false, true}) {
                    for (boolean tb : new boolean[] {false, true}) {
                        Tensor x = ta ? rand(31, t, 65, 45) : rand(31, t, 45, 65);
                        Tensor y = tb ? rand(32, t, 7, 65) : rand(32, t, 65, 7);
                        Tensor c0 = rand(33, t, 45, 7);
                        Tensor ref = c0.clone(), got = gpu(c0);
                        CPU.gemm(ta, tb, 0.75, x, y, -0.5, ref);
                        cuda.gemm(ta, tb, 0.75, gpu(x), gpu(y), -0.5, got);
                        close("gemm alpha/beta transA " + ta + " transB " + tb + " " + t, ref, got, tol(t));
                    }
                }
            }
        }
    }

    // ---------------------------------------------------------------- optimizers

    @Test
    void sgdAndAdamStepsMatchTheCpu() {
        try (Scope s = Scope.open()) {
            for (DType t : new DType[] {DType.F32, DType.F64}) {
                for (int n : new int[] {1, 7, 1025}) {
                    Tensor p = rand(34, t, n), buf = Tensor.zeros(t, n), pd = gpu(p), bufd = gpu(buf);
                    for (int step = 0; step < 3; step++) {
                        Tensor g = rand(35 + step, t, n);
                        CPU.sgdStep(p, g, buf, 0.1, 0.9, 0.1, 1e-2, true, step == 0);
                        cuda.sgdStep(pd, gpu(g), bufd, 0.1, 0.9, 0.1, 1e-2, true, step == 0);
                    }
                    close("sgd param " + t + " n " + n, p, pd, tol(t));
                    close("sgd buffer " + t + " n " + n, buf, bufd, tol(t));
                    for (boolean decoupled : new boolean[] {false, true}) {
                        Tensor q = rand(40, t, n), m = Tensor.zeros(t, n), v = Tensor.zeros(t, n);
                        Tensor qd = gpu(q), md = gpu(m), vd = gpu(v);
                        for (int step = 1; step <= 3; step++) {
                            Tensor g = rand(41 + step, t, n);
                            CPU.adamStep(q, g, m, v, 1e-2, 0.9, 0.999, 1e-8, 1e-2, decoupled, step);
                            cuda.adamStep(qd, gpu(g), md, vd, 1e-2, 0.9, 0.999, 1e-8, 1e-2, decoupled, step);
                        }
                        close("adam param decoupled " + decoupled + " " + t + " n " + n, q, qd, tol(t));
                        close("adam m " + t, m, md, tol(t));
                        close("adam v " + t, v, vd, tol(t));
                    }
                }
            }
        }
    }

    // ---------------------------------------------------------------- not yet implemented

    @Test
    void missingOpsThrowUnsupportedNamingTheOp() {
        try (Scope s = Scope.open()) {
            Tensor x = gpu(rand(50, DType.F32, 1, 1, 5, 5)), w = gpu(rand(51, DType.F32, 1, 1, 3, 3));
            Tensor out = Tensor.empty(cuda, DType.F32, 1, 1, 3, 3);
            UnaryOperator<String> msg = op -> "cuda: " + op + " not implemented yet";
            Conv2dParams p = new Conv2dParams(1, 1, 0, 0, 1, 1, 1);
            UnsupportedOperationException e = assertThrows(UnsupportedOperationException.class, () -> cuda.conv2d(x, w, null, p, out));
            assertEquals(msg.apply("conv2d"), e.getMessage());
            Tensor i64 = gpu(Tensor.zeros(DType.I64, 1, 1, 5, 5));
            e = assertThrows(UnsupportedOperationException.class, () -> cuda.gather(x, 3, i64, out));
            assertEquals(msg.apply("gather"), e.getMessage());
            Tensor xi = gpu(rand(52, DType.F32, 7).to(DType.I32)), yi = Tensor.empty(cuda, DType.I32, 7);
            e = assertThrows(UnsupportedOperationException.class, () -> cuda.unary(UnaryOp.EXP, xi, yi, 0, 0));
            assertEquals("cuda: unary EXP is implemented for float32/float64 only, got int32", e.getMessage());
            Tensor r = Tensor.empty(cuda, DType.F32, 1);
            e = assertThrows(UnsupportedOperationException.class, () -> cuda.reduce(ReduceOp.PROD, x.flatten(), new int[] {0}, r, 0));
            assertTrue(e.getMessage().contains("PROD"), e.getMessage());
        }
    }
}
