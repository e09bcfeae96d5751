package dev.kiln.optable;

import dev.kiln.backend.Backend;
import dev.kiln.backend.Backends;
import dev.kiln.ops.BinaryOp;
import dev.kiln.ops.Elementwise;
import dev.kiln.ops.ReduceOp;
import dev.kiln.ops.Reductions;
import dev.kiln.ops.UnaryOp;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.*;

/**
 * One test body per op over every backend that can run here ({@link Backends#available}): each
 * elementwise op and reduction the op table says a backend has a kernel for, and the matrix product,
 * softmax, layer norm, convolution and pooling where the backend implements them, runs there on
 * F32 and F64 inputs of odd shapes against a float64 reference (the op's own, or sums written out
 * here). On a CPU-only machine this is the CPU; where CUDA is available the same body checks its
 * kernels, and an op the table marks as missing on a backend is skipped, not failed.
 */
class EveryBackendOpTest {
    private static final Map<String, OpTable.Row> ROWS = OpTable.rows().stream().collect(Collectors.toMap(OpTable.Row::op, r -> r, (a, b) -> a));

    private static boolean has(String backend, Enum<?> op, DType t) {
        OpTable.Row r = ROWS.get(OpTable.name(op));
        if (backend.equals("cpu")) return true;
        String k = t == DType.F64 ? r.cudaF64() : r.cudaF32();
        return backend.equals("cuda") && !k.equals("-") && !k.equals("not implemented");
    }

    private static double tol(DType t) { return t == DType.F32 ? 2e-6 : 1e-12; }

    private static Tensor on(Backend b, Tensor host) { return b == Backends.cpu() ? host : host.to(b); }

    private static double[] back(Tensor t) { return t.to(Backends.cpu()).toDoubleArray(); }

    @Test
    void unaryOps() {
        Generator g = new Generator(41);
        for (String name : Backends.available()) {
            Backend be = Backends.get(name, 0);
            for (UnaryOp op : UnaryOp.values())
                for (DType t : new DType[] {DType.F32, DType.F64}) {
                    if (!has(name, op, t)) continue;
                    boolean positive = switch (op) {
                        case LOG, SQRT, RSQRT, RECIPROCAL, POW_SCALAR -> true;
                        default -> false;
                    };
                    double a = op == UnaryOp.CLAMP ? -0.5 : 2.5, b = 0.7;
                    Tensor x = positive ? Tensor.uniform(g, 0.1, 3, t, 7, 13) : Tensor.uniform(g, -3, 3, t, 7, 13);
                    double[] xv = x.toDoubleArray(), y = back(Elementwise.unary(op, on(be, x), a, b));
                    for (int i = 0; i < xv.length; i++) {
                        double ref = op.reference(xv[i], a, b);
                        assertEquals(ref, y[i], tol(t) * Math.max(1, Math.abs(ref)), name + " " + op + " " + t + " of " + xv[i]);
                    }
                }
        }
    }

    @Test
    void binaryOps() {
        Generator g = new Generator(42);
        for (String name : Backends.available()) {
            Backend be = Backends.get(name, 0);
            for (BinaryOp op : BinaryOp.values())
                for (DType t : new DType[] {DType.F32, DType.F64}) {
                    if (!has(name, op, t)) continue;
                    boolean positive = op == BinaryOp.POW || op == BinaryOp.DIV;
                    Function<int[], Tensor> rnd = s -> positive ? Tensor.uniform(g, 0.5, 2, t, s) : Tensor.uniform(g, -2, 2, t, s);
                    Tensor a = rnd.apply(new int[] {5, 9}), b = rnd.apply(new int[] {9});   // broadcast over rows
                    double[] av = a.toDoubleArray(), bv = b.toDoubleArray();
                    double[] y = back(Elementwise.binary(op, on(be, a), on(be, b)).to(t));
                    for (int i = 0; i < av.length; i++) {
                        double ref = op.reference(av[i], bv[i % 9]);
                        assertEquals(ref, y[i], tol(t) * Math.max(1, Math.abs(ref)), name + " " + op + " " + t);
                    }
                }
        }
    }

    /** Whether backend has a kernel (or a composing default) for the Backend method named. */
    private static boolean hasMethod(String backend, String method) {
        OpTable.Row r = ROWS.get(method);
        if (backend.equals("cpu")) return r.cpuF32().startsWith("kernel");
        return backend.equals("cuda") && !r.cudaF32().equals("not implemented") && !r.cudaF32().equals("-");
    }

    @Test
    void matmulSoftmaxLayerNormConvAndPool() {
        Generator g = new Generator(44);
        for (String name : Backends.available()) {
            Backend be = Backends.get(name, 0);
            for (DType t : new DType[] {DType.F32, DType.F64}) {
                double tol = t == DType.F32 ? 2e-5 : 1e-11;
                if (hasMethod(name, "gemm")) {                        // 5x7 times 7x3
                    Tensor a = Tensor.uniform(g, -1, 1, t, 5, 7), b = Tensor.uniform(g, -1, 1, t, 7, 3);
                    double[] av = a.toDoubleArray(), bv = b.toDoubleArray(), y = back(on(be, a).matmul(on(be, b)));
                    for (int i = 0; i < 5; i++)
                        for (int j = 0; j < 3; j++) {
                            double s = 0;
                            for (int k = 0; k < 7; k++) s += av[i * 7 + k] * bv[k * 3 + j];
                            assertEquals(s, y[i * 3 + j], tol, name + " matmul " + t);
                        }
                }
                if (hasMethod(name, "softmax") || hasMethod(name, "layerNorm")) {
                    Tensor x = Tensor.uniform(g, -2, 2, t, 4, 9);
                    double[] v = x.toDoubleArray();
                    double[] sm = hasMethod(name, "softmax") ? back(on(be, x).softmax(1)) : null;
                    double[] ln = hasMethod(name, "layerNorm") ? back(on(be, x).layerNorm(new int[] {9}, null, null, 1e-5)) : null;
                    for (int r = 0; r < 4; r++) {
                        double mx = Double.NEGATIVE_INFINITY, z = 0, mean = 0, var = 0;
                        for (int c = 0; c < 9; c++) mx = Math.max(mx, v[r * 9 + c]);
                        for (int c = 0; c < 9; c++) { z += Math.exp(v[r * 9 + c] - mx); mean += v[r * 9 + c] / 9; }
                        for (int c = 0; c < 9; c++) var += (v[r * 9 + c] - mean) * (v[r * 9 + c] - mean) / 9;
                        for (int c = 0; c < 9; c++) {
                            if (sm != null) assertEquals(Math.exp(v[r * 9 + c] - mx) / z, sm[r * 9 + c], tol, name + " softmax " + t);
                            if (ln != null) assertEquals((v[r * 9 + c] - mean) / Math.sqrt(var + 1e-5), ln[r * 9 + c], 10 * tol, name + " layerNorm " + t);
                        }
                    }
                }
                if (hasMethod(name, "conv2d")) {                      // 1x2x5x6 input, 3 filters 2x3x3, stride 1, padding 1
                    Tensor x = Tensor.uniform(g, -1, 1, t, 1, 2, 5, 6), w = Tensor.uniform(g, -1, 1, t, 3, 2, 3, 3);
                    double[] xv = x.toDoubleArray(), wv = w.toDoubleArray();
                    double[] y = back(on(be, x).conv2d(on(be, w), null, dev.kiln.ops.Conv2dParams.of(1, 1)));
                    for (int o = 0; o < 3; o++)
                        for (int i = 0; i < 5; i++)
                            for (int j = 0; j < 6; j++) {
                                double s = 0;
                                for (int c = 0; c < 2; c++)
                                    for (int ki = 0; ki < 3; ki++)
                                        for (int kj = 0; kj < 3; kj++) {
                                            int ii = i + ki - 1, jj = j + kj - 1;
                                            if (ii >= 0 && ii < 5 && jj >= 0 && jj < 6) s += xv[(c * 5 + ii) * 6 + jj] * wv[((o * 2 + c) * 3 + ki) * 3 + kj];
                                        }
                                assertEquals(s, y[(o * 5 + i) * 6 + j], tol, name + " conv2d " + t);
                            }
                }
                if (hasMethod(name, "pool2d")) {                      // 2x2 max and average pooling, stride 2, on 1x2x4x6
                    Tensor x = Tensor.uniform(g, -1, 1, t, 1, 2, 4, 6);
                    double[] xv = x.toDoubleArray();
                    dev.kiln.ops.Pool2dParams p = dev.kiln.ops.Pool2dParams.of(2, 2, 0);
                    double[] mx = back(on(be, x).maxPool2d(p)), av = back(on(be, x).avgPool2d(p));
                    for (int c = 0; c < 2; c++)
                        for (int i = 0; i < 2; i++)
                            for (int j = 0; j < 3; j++) {
                                double m = Double.NEGATIVE_INFINITY, s = 0;
                                for (int di = 0; di < 2; di++)
                                    for (int dj = 0; dj < 2; dj++) {
                                        double e = xv[(c * 4 + 2 * i + di) * 6 + 2 * j + dj];
                                        m = Math.max(m, e);
                                        s += e / 4;
                                    }
                                assertEquals(m, mx[(c * 2 + i) * 3 + j], 0, name + " max pool " + t);
                                assertEquals(s, av[(c * 2 + i) * 3 + j], tol, name + " avg pool " + t);
                            }
                }
            }
        }
    }

    @Test
    void reductionsOverTheLastAxis() {
        Generator g = new Generator(43);
        for (String name : Backends.available()) {
            Backend be = Backends.get(name, 0);
            for (ReduceOp op : ReduceOp.values())
                for (DType t : new DType[] {DType.F32, DType.F64}) {
                    if (!has(name, op, t) || op == ReduceOp.ARGMAX || op == ReduceOp.ARGMIN) continue;
                    Tensor x = op == ReduceOp.PROD ? Tensor.uniform(g, 0.8, 1.2, t, 6, 11) : Tensor.uniform(g, -2, 2, t, 6, 11);
                    double[] v = x.toDoubleArray(), y = back(Reductions.reduce(op, on(be, x), new int[] {1}, false, 1));
                    for (int r = 0; r < 6; r++) {
                        double s = 0, sq = 0, p = 1, mx = Double.NEGATIVE_INFINITY, mn = Double.POSITIVE_INFINITY;
                        for (int c = 0; c < 11; c++) {
                            double e = v[r * 11 + c];
                            s += e;
                            p *= e;
                            mx = Math.max(mx, e);
                            mn = Math.min(mn, e);
                        }
                        double mean = s / 11, lse = 0;
                        for (int c = 0; c < 11; c++) {
                            sq += (v[r * 11 + c] - mean) * (v[r * 11 + c] - mean);
                            lse += Math.exp(v[r * 11 + c] - mx);
                        }
                        double ref = switch (op) {
                            case SUM -> s;
                            case MEAN -> mean;
                            case MAX -> mx;
                            case MIN -> mn;
                            case PROD -> p;
                            case VAR -> sq / 10;          // correction 1
                            case LOGSUMEXP -> mx + Math.log(lse);
                            default -> throw new AssertionError(op);
                        };
                        assertEquals(ref, y[r], 10 * tol(t) * Math.max(1, Math.abs(ref)), name + " " + op + " " + t + " row " + r);
                    }
                }
        }
    }
}
