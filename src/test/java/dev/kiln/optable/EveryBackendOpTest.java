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
 * elementwise op and reduction the op table says a backend has a kernel for runs there on F32 and
 * F64 inputs of an odd shape, against the op's float64 reference (reductions: sums written out
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
