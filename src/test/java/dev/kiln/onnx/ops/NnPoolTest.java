package dev.kiln.onnx.ops;

import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.Value;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Random;

import static dev.kiln.onnx.ops.NnTestSupport.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** MaxPool / AveragePool / LpPool / global pools / MaxUnpool against N-d float64 reference loops. */
class NnPoolTest {
    private final Random rnd = new Random(11);

    /**
     * Reference pooling. kind 0 max, 1 avg (divisor: positions inside input+pads when includePad,
     * else inside the input), 2 L2. Returns {values, flat max indices}.
     */
    static double[][] refPool(int kind, double[] x, int[] xs, int[] k, int[] st, int[] dil, int[] pads, int[] out,
                              boolean includePad) {
        int r = xs.length - 2;
        int[] ys = xs.clone();
        System.arraycopy(out, 0, ys, 2, r);
        double[] y = new double[numel(ys)], idx = new double[y.length];
        int[] yc = new int[r + 2];
        do {
            double acc = kind == 0 ? Double.NEGATIVE_INFINITY : 0;
            int valid = 0, padded = 0, best = -1;
            int[] kc = new int[r];
            do {
                int[] xc = yc.clone();
                boolean in = true, inPad = true;
                for (int a = 0; a < r; a++) {
                    xc[a + 2] = yc[a + 2] * st[a] - pads[a] + kc[a] * dil[a];
                    in &= xc[a + 2] >= 0 && xc[a + 2] < xs[a + 2];
                    inPad &= xc[a + 2] < xs[a + 2] + pads[a + r];
                }
                if (inPad) padded++;
                if (!in) continue;
                double v = x[flat(xc, xs)];
                valid++;
                if (kind == 0 && v > acc) {
                    acc = v;
                    best = flat(xc, xs);
                } else if (kind == 1) acc += v;
                else if (kind == 2) acc += v * v;
            } while (next(kc, k));
            int o = flat(yc, ys);
            y[o] = kind == 0 ? acc : kind == 1 ? acc / (includePad ? padded : valid) : Math.sqrt(acc);
            idx[o] = best;
        } while (next(yc, ys));
        return new double[][]{y, idx};
    }

    private void check(String op, int kind, int[] xs, int[] k, int[] st, int[] dil, int[] pads, boolean ceil,
                       boolean includePad, int[] out) {
        int r = xs.length - 2;
        double[] x = rand(rnd, numel(xs));
        Attrs a = attrs().ints("kernel_shape", k).ints("strides", st).ints("pads", pads)
                .i("ceil_mode", ceil ? 1 : 0).i("count_include_pad", includePad ? 1 : 0);
        if (dil != null) a.ints("dilations", dil);
        else dil = ones(r);
        List<Value> y = run(op, 12, a, kind == 0 ? 2 : 1, f32(x, xs));
        double[][] want = refPool(kind, x, xs, k, st, dil, pads, out, includePad);
        int[] ys = xs.clone();
        System.arraycopy(out, 0, ys, 2, r);
        assertClose(want[0], ys, y.get(0), 1e-5);
        if (kind == 0) assertClose(want[1], ys, y.get(1), 0);
    }

    private static int[] ones(int r) {
        int[] v = new int[r];
        java.util.Arrays.fill(v, 1);
        return v;
    }

    @Test
    void maxPool2dOnTheEngineAndWithExplicitPads() {
        check("MaxPool", 0, new int[]{2, 3, 9, 8}, new int[]{3, 2}, new int[]{2, 2}, null, new int[]{1, 1, 1, 1}, false, false, new int[]{5, 5});
        // asymmetric pads and pads over half the kernel take the explicit -inf pad copy (no indices there)
        double[] x = rand(rnd, 2 * 7 * 6);
        Value y = run1("MaxPool", 12, attrs().ints("kernel_shape", 3, 3).ints("pads", 2, 0, 1, 2), f32(x, 1, 2, 7, 6));
        assertClose(refPool(0, x, new int[]{1, 2, 7, 6}, new int[]{3, 3}, new int[]{1, 1}, new int[]{1, 1},
                new int[]{2, 0, 1, 2}, new int[]{8, 6}, false)[0], new int[]{1, 2, 8, 6}, y, 1e-6);
        check("MaxPool", 0, new int[]{1, 2, 7, 7}, new int[]{3, 3}, new int[]{2, 2}, null, new int[]{0, 0, 0, 0}, true, false, new int[]{3, 3});
    }

    @Test
    void maxPoolDilated1dAnd3d() {
        check("MaxPool", 0, new int[]{1, 2, 8, 9}, new int[]{2, 3}, new int[]{1, 2}, new int[]{2, 2}, new int[]{1, 0, 1, 2}, false, false, new int[]{8, 4});
        check("MaxPool", 0, new int[]{2, 3, 13}, new int[]{3}, new int[]{2}, null, new int[]{1, 1}, false, false, new int[]{7});
        check("MaxPool", 0, new int[]{1, 2, 5, 6, 7}, new int[]{2, 3, 2}, new int[]{2, 1, 2}, null, new int[]{0, 1, 1, 1, 1, 0}, true, false, new int[]{3, 6, 4});
    }

    @Test
    void averagePoolCountsPadsOrNot() {
        for (boolean inc : new boolean[]{false, true}) {
            check("AveragePool", 1, new int[]{2, 3, 9, 8}, new int[]{3, 3}, new int[]{2, 2}, null, new int[]{1, 1, 1, 1}, false, inc, new int[]{5, 4});
            check("AveragePool", 1, new int[]{1, 2, 7, 6}, new int[]{3, 2}, new int[]{1, 1}, null, new int[]{2, 0, 1, 1}, false, inc, new int[]{8, 6});
            check("AveragePool", 1, new int[]{1, 2, 6, 6}, new int[]{3, 3}, new int[]{2, 2}, null, new int[]{1, 1, 1, 1}, true, inc, new int[]{4, 4});
            check("AveragePool", 1, new int[]{1, 2, 11}, new int[]{4}, new int[]{3}, null, new int[]{1, 2}, false, inc, new int[]{4});
            check("AveragePool", 1, new int[]{1, 1, 4, 5, 6}, new int[]{2, 2, 3}, new int[]{1, 2, 2}, null, new int[]{1, 0, 1, 0, 1, 1}, false, inc, new int[]{4, 3, 3});
        }
    }

    @Test
    void maxPoolIndicesStorageOrder() {
        double[] x = rand(rnd, 2 * 2 * 5 * 4);
        int[] xs = {2, 2, 5, 4};
        List<Value> y = run("MaxPool", 12, attrs().ints("kernel_shape", 2, 2).ints("strides", 2, 2).i("storage_order", 1), 2, f32(x, xs));
        double[] rowMajor = refPool(0, x, xs, new int[]{2, 2}, new int[]{2, 2}, new int[]{1, 1}, new int[]{0, 0, 0, 0}, new int[]{2, 2}, false)[1];
        long[] got = y.get(1).tensor().toLongArray();
        for (int i = 0; i < got.length; i++) {
            int f = (int) rowMajor[i], plane = f / 20, h = (f % 20) / 4, w = f % 4;
            assertEquals(plane * 20 + w * 5 + h, got[i], "index " + i);
        }
    }

    @Test
    void lpAndGlobalPools() {
        check("LpPool", 2, new int[]{1, 2, 6, 7}, new int[]{2, 3}, new int[]{2, 2}, null, new int[]{0, 1, 1, 0}, false, false, new int[]{3, 3});
        double[] x = rand(rnd, 2 * 3 * 4 * 5);
        int[] xs = {2, 3, 4, 5};
        double[] mean = new double[6], max = new double[6];
        for (int p = 0; p < 6; p++) {
            max[p] = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < 20; j++) {
                mean[p] += x[p * 20 + j] / 20;
                max[p] = Math.max(max[p], x[p * 20 + j]);
            }
        }
        assertClose(mean, new int[]{2, 3, 1, 1}, run1("GlobalAveragePool", 1, attrs(), f32(x, xs)), 1e-5);
        assertClose(max, new int[]{2, 3, 1, 1}, run1("GlobalMaxPool", 1, attrs(), f32(x, xs)), 0);
    }

    @Test
    void integerMaxPoolKeepsItsType() {
        double[] x = {3, 200, 7, 255, 1, 0, 9, 8, 4};
        Value.TensorValue y = run1("MaxPool", 12, attrs().ints("kernel_shape", 2, 2), typed(ElemType.UINT8, x, 1, 1, 3, 3));
        assertEquals(ElemType.UINT8, y.type());
        assertArrayEquals(new double[]{255, 200, 255, 8}, y.tensor().toDoubleArray());
    }

    @Test
    void maxUnpoolInvertsMaxPool() {
        double[] x = rand(rnd, 2 * 6 * 6);
        int[] xs = {1, 2, 6, 6};
        List<Value> p = run("MaxPool", 12, attrs().ints("kernel_shape", 2, 2).ints("strides", 2, 2), 2, f32(x, xs));
        Value u = run1("MaxUnpool", 11, attrs().ints("kernel_shape", 2, 2).ints("strides", 2, 2), p.get(0), p.get(1));
        double[] want = new double[x.length];
        double[] v = p.get(0).tensor().toDoubleArray();
        long[] idx = p.get(1).tensor().toLongArray();
        for (int i = 0; i < idx.length; i++) want[(int) idx[i]] = v[i];
        assertClose(want, xs, u, 0);
    }
}
