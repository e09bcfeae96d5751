package dev.kiln.onnx.ops;

import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.OnnxException;
import dev.kiln.onnx.Value;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static dev.kiln.onnx.ops.NnTestSupport.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Conv and ConvTranspose against direct N-d float64 reference loops on odd shapes. */
class NnConvTest {
    private final Random rnd = new Random(7);

    /** Reference Conv: x [N,C,sp...], w [M,C/g,k...], explicit pads -> y [N,M,out...]. */
    static double[] refConv(double[] x, int[] xs, double[] w, int[] ws, double[] b, int g,
                            int[] st, int[] dil, int[] pb, int[] out) {
        int r = xs.length - 2, n = xs[0], c = xs[1], m = ws[0], cg = c / g;
        int[] ys = new int[r + 2];
        ys[0] = n;
        ys[1] = m;
        System.arraycopy(out, 0, ys, 2, r);
        double[] y = new double[numel(ys)];
        int[] yc = new int[r + 2];
        do {
            int oc = yc[1], grp = oc / (m / g);
            double acc = b == null ? 0 : b[oc];
            for (int ci = 0; ci < cg; ci++) {
                int[] kc = new int[r + 2], ks = ws.clone();
                ks[0] = 1;
                ks[1] = 1;
                do {
                    int[] xc = new int[r + 2];
                    xc[0] = yc[0];
                    xc[1] = grp * cg + ci;
                    boolean in = true;
                    for (int a = 0; a < r; a++) {
                        xc[a + 2] = yc[a + 2] * st[a] - pb[a] + kc[a + 2] * dil[a];
                        in &= xc[a + 2] >= 0 && xc[a + 2] < xs[a + 2];
                    }
                    if (!in) continue;
                    int[] wc = kc.clone();
                    wc[0] = oc;
                    wc[1] = ci;
                    acc += x[flat(xc, xs)] * w[flat(wc, ws)];
                } while (next(kc, ks));
            }
            y[flat(yc, ys)] = acc;
        } while (next(yc, ys));
        return y;
    }

    private void checkConv(ElemType t, int[] xs, int[] ws, boolean bias, int g, int[] st, int[] dil, int[] pads,
                           String autoPad, double tol) {
        int r = xs.length - 2;
        double[] x = rand(rnd, numel(xs)), w = rand(rnd, numel(ws)), b = bias ? rand(rnd, ws[0]) : null;
        int[] pb = new int[r], out = new int[r];
        for (int a = 0; a < r; a++) {
            pb[a] = pads[a];
            int span = (ws[a + 2] - 1) * dil[a] + 1;
            out[a] = (xs[a + 2] + pads[a] + pads[a + r] - span) / st[a] + 1;
        }
        Attrs at = attrs().ints("strides", st).ints("dilations", dil).i("group", g);
        if (autoPad == null) at.ints("pads", pads);
        else at.s("auto_pad", autoPad);
        Value y = run1("Conv", 11, at, typed(t, x, xs), typed(t, w, ws), bias ? typed(t, b, ws[0]) : null);
        int[] ys = new int[r + 2];
        ys[0] = xs[0];
        ys[1] = ws[0];
        System.arraycopy(out, 0, ys, 2, r);
        assertEquals(t, ((Value.TensorValue) y).type());
        assertClose(refConv(x, xs, w, ws, b, g, st, dil, pb, out), ys, y, tol);
    }

    @Test
    void conv2dOnTheEngine() {
        checkConv(ElemType.FLOAT, new int[]{2, 3, 7, 9}, new int[]{4, 3, 3, 2}, true, 1,
                new int[]{2, 1}, new int[]{1, 2}, new int[]{1, 1, 1, 1}, null, 1e-4);
        checkConv(ElemType.FLOAT, new int[]{1, 4, 6, 5}, new int[]{6, 2, 3, 3}, false, 2,
                new int[]{1, 2}, new int[]{1, 1}, new int[]{0, 2, 1, 0}, null, 1e-4);
        checkConv(ElemType.DOUBLE, new int[]{2, 3, 8, 7}, new int[]{6, 1, 3, 3}, true, 3,
                new int[]{1, 1}, new int[]{2, 1}, new int[]{2, 1, 2, 1}, null, 1e-9);
    }

    @Test
    void conv2dAutoPad() {
        // in 7x6, k 3x2, stride 2: out 4x3; total pads H = 3*2+3-7 = 2 -> (1,1); W = 2*2+2-6 = 0
        checkConv(ElemType.FLOAT, new int[]{1, 2, 7, 6}, new int[]{3, 2, 3, 2}, true, 1,
                new int[]{2, 2}, new int[]{1, 1}, new int[]{1, 0, 1, 0}, "SAME_UPPER", 1e-4);
        // in 6x5, k 2x2, stride 1: total 1 per axis; SAME_LOWER puts it first, SAME_UPPER last
        checkConv(ElemType.FLOAT, new int[]{1, 2, 6, 5}, new int[]{2, 2, 2, 2}, false, 1,
                new int[]{1, 1}, new int[]{1, 1}, new int[]{1, 1, 0, 0}, "SAME_LOWER", 1e-4);
        checkConv(ElemType.FLOAT, new int[]{1, 2, 6, 5}, new int[]{2, 2, 2, 2}, false, 1,
                new int[]{1, 1}, new int[]{1, 1}, new int[]{0, 0, 1, 1}, "SAME_UPPER", 1e-4);
        checkConv(ElemType.FLOAT, new int[]{1, 2, 6, 5}, new int[]{2, 2, 3, 2}, false, 1,
                new int[]{2, 1}, new int[]{1, 1}, new int[]{0, 0, 0, 0}, "VALID", 1e-4);
    }

    @Test
    void conv1dAnd3d() {
        checkConv(ElemType.FLOAT, new int[]{2, 3, 11}, new int[]{4, 3, 3}, true, 1,
                new int[]{2}, new int[]{2}, new int[]{2, 1}, null, 1e-4);
        checkConv(ElemType.FLOAT, new int[]{1, 4, 9}, new int[]{4, 1, 4}, false, 4,
                new int[]{1}, new int[]{1}, new int[]{1, 2}, null, 1e-4);
        checkConv(ElemType.FLOAT, new int[]{1, 2, 5, 4, 6}, new int[]{3, 2, 2, 3, 2}, true, 1,
                new int[]{1, 2, 2}, new int[]{2, 1, 1}, new int[]{1, 0, 1, 0, 1, 1}, null, 1e-4);
        checkConv(ElemType.DOUBLE, new int[]{1, 4, 4, 3, 5}, new int[]{4, 2, 2, 2, 2}, false, 2,
                new int[]{1, 1, 1}, new int[]{1, 1, 1}, new int[]{0, 0, 0, 0, 0, 0}, null, 1e-9);
    }

    @Test
    void conv2dFloat16ComputesInFloat32() {
        checkConv(ElemType.FLOAT16, new int[]{1, 2, 5, 5}, new int[]{2, 2, 3, 3}, true, 1,
                new int[]{1, 1}, new int[]{1, 1}, new int[]{1, 1, 1, 1}, null, 2e-2);
    }

    @Test
    void convRejectsMismatchedChannels() {
        OnnxException e = assertThrows(OnnxException.class, () -> run1("Conv", 11, attrs(),
                f32(new double[2 * 9], 1, 2, 3, 3), f32(new double[4], 1, 1, 2, 2)));
        assertEquals(true, e.getMessage().contains("group=1"), e.getMessage());
    }

    // ------------------------------------------------------------------ ConvTranspose

    /** Reference ConvTranspose as a gather: y[o] = sum over (i, k) with i*s + k*d - pb == o. */
    static double[] refConvT(double[] x, int[] xs, double[] w, int[] ws, double[] b, int g, int[] st, int[] dil,
                             int[] pb, int[] out) {
        int r = xs.length - 2, c = xs[1], mg = ws[1], m = mg * g, cg = c / g;
        int[] ys = new int[r + 2];
        ys[0] = xs[0];
        ys[1] = m;
        System.arraycopy(out, 0, ys, 2, r);
        double[] y = new double[numel(ys)];
        int[] yc = new int[r + 2];
        do {
            int oc = yc[1], grp = oc / mg;
            double acc = b == null ? 0 : b[oc];
            for (int ci = 0; ci < cg; ci++) {
                int[] kc = new int[r + 2], ks = ws.clone();
                ks[0] = 1;
                ks[1] = 1;
                do {
                    int[] xc = new int[r + 2];
                    xc[0] = yc[0];
                    xc[1] = grp * cg + ci;
                    boolean ok = true;
                    for (int a = 0; a < r && ok; a++) {
                        int num = yc[a + 2] + pb[a] - kc[a + 2] * dil[a];
                        ok = num >= 0 && num % st[a] == 0 && num / st[a] < xs[a + 2];
                        xc[a + 2] = ok ? num / st[a] : 0;
                    }
                    if (!ok) continue;
                    int[] wc = kc.clone();
                    wc[0] = grp * cg + ci;
                    wc[1] = oc % mg;
                    acc += x[flat(xc, xs)] * w[flat(wc, ws)];
                } while (next(kc, ks));
            }
            y[flat(yc, ys)] = acc;
        } while (next(yc, ys));
        return y;
    }

    private void checkConvT(int[] xs, int[] ws, int g, int[] st, int[] dil, int[] pads, int[] outPad, Attrs extra,
                            int[] wantOut, int[] wantPb) {
        int r = xs.length - 2;
        double[] x = rand(rnd, numel(xs)), w = rand(rnd, numel(ws)), b = rand(rnd, ws[1] * g);
        Attrs at = extra == null ? attrs().ints("pads", pads).ints("output_padding", outPad) : extra;
        at.ints("strides", st).ints("dilations", dil).i("group", g);
        Value y = run1("ConvTranspose", 11, at, f32(x, xs), f32(w, ws), f32(b, b.length));
        int[] ys = new int[r + 2];
        ys[0] = xs[0];
        ys[1] = ws[1] * g;
        System.arraycopy(wantOut, 0, ys, 2, r);
        assertClose(refConvT(x, xs, w, ws, b, g, st, dil, wantPb, wantOut), ys, y, 1e-4);
    }

    @Test
    void convTransposeMatchesReference() {
        // out = s*(in-1) + outPad + (k-1)*d + 1 - pads
        checkConvT(new int[]{2, 4, 3, 5}, new int[]{4, 3, 3, 2}, 2, new int[]{2, 3}, new int[]{1, 2},
                new int[]{1, 0, 0, 2}, new int[]{1, 0}, null, new int[]{2 * 2 + 1 + 3 - 1, 3 * 4 + 0 + 3 - 2}, new int[]{1, 0});
        checkConvT(new int[]{1, 2, 6}, new int[]{2, 3, 4}, 1, new int[]{3}, new int[]{1},
                new int[]{2, 1}, new int[]{2}, null, new int[]{3 * 5 + 2 + 4 - 3}, new int[]{2});
        checkConvT(new int[]{1, 2, 3, 2, 4}, new int[]{2, 2, 2, 3, 2}, 1, new int[]{2, 1, 2}, new int[]{1, 2, 1},
                new int[]{0, 1, 0, 1, 0, 0}, new int[]{0, 0, 1}, null, new int[]{5, 5, 9}, new int[]{0, 1, 0});
    }

    @Test
    void convTransposeOutputShapeAndSame() {
        // full = 2*(4-1) + 3 = 9 per axis; output_shape 10: total -1 -> pads (0, -1); 8: total 1 -> (1, 0)
        checkConvT(new int[]{1, 1, 4, 4}, new int[]{1, 2, 3, 3}, 1, new int[]{2, 2}, new int[]{1, 1}, null, null,
                attrs().ints("output_shape", 10, 8), new int[]{10, 8}, new int[]{0, 1});
        // SAME_UPPER: out = in*s = 8, total 1 -> begin 0
        checkConvT(new int[]{1, 1, 4, 4}, new int[]{1, 2, 3, 3}, 1, new int[]{2, 2}, new int[]{1, 1}, null, null,
                attrs().s("auto_pad", "SAME_UPPER"), new int[]{8, 8}, new int[]{0, 0});
        checkConvT(new int[]{1, 1, 4, 4}, new int[]{1, 2, 3, 3}, 1, new int[]{2, 2}, new int[]{1, 1}, null, null,
                attrs().s("auto_pad", "SAME_LOWER"), new int[]{8, 8}, new int[]{1, 1});
    }
}
