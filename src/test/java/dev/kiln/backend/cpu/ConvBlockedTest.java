package dev.kiln.backend.cpu;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The channel-blocked (NCHW16c) conv, max pool and global average pool against float64
 * references written out here, on odd shapes: planar and blocked inputs, strides 1 and 2, padding,
 * widths that leave partial 7-pixel tiles, batches, bias, residual and ReLU; the native kernel and
 * its Vector API twin bit for bit.
 */
class ConvBlockedTest {
    private static final Generator G = new Generator(11);

    /** n, c, h, w, o, k, stride, pad, planar input, bias, residual, relu. */
    private static final int[][] CASES = {
            {2, 3, 9, 11, 32, 3, 2, 1, 1, 1, 0, 1},     // a stem: 3 planar channels, stride 2
            {1, 3, 10, 10, 64, 7, 2, 3, 1, 1, 0, 1},    // 7x7 stem shape, small
            {1, 16, 8, 8, 64, 1, 1, 0, 1, 0, 0, 0},     // planar input of 16 channels, no bias
            {1, 32, 13, 10, 64, 3, 1, 1, 0, 1, 1, 1},   // blocked 3x3 with residual and ReLU
            {2, 16, 7, 7, 32, 5, 2, 2, 0, 1, 1, 0},     // 5x5 stride 2, residual without ReLU
            {1, 48, 5, 15, 96, 1, 2, 0, 0, 1, 0, 1},    // 1x1 stride 2, width 15: tiles of 7 + 1
            {1, 32, 4, 3, 32, 3, 1, 2, 0, 0, 0, 0},     // padding larger than the image's rows of pixels
            {2, 32, 12, 12, 64, 1, 1, 0, 0, 1, 1, 1},   // input larger than the weights: units row by row, batch 2
            {3, 16, 5, 6, 64, 3, 1, 1, 0, 1, 0, 1},     // weights larger: a channel group over the whole batch
    };

    @Test
    void convMatchesTheFloat64ReferenceAndTheTwin() {
        for (int[] k : CASES) {
            int n = k[0], c = k[1], h = k[2], w = k[3], o = k[4], ks = k[5], s = k[6], p = k[7];
            boolean planar = k[8] == 1, relu = k[11] == 1;
            Tensor x = Tensor.uniform(G, -1, 1, DType.F32, n, c, h, w);
            Tensor wt = Tensor.uniform(G, -0.5, 0.5, DType.F32, o, c, ks, ks);
            Tensor b = k[9] == 1 ? Tensor.uniform(G, -1, 1, DType.F32, o) : null;
            int oh = (h + 2 * p - ks) / s + 1, ow = (w + 2 * p - ks) / s + 1;
            Tensor r = k[10] == 1 ? Tensor.uniform(G, -1, 1, DType.F32, n, o, oh, ow) : null;
            double[] want = reference(x, wt, b, s, p, r, relu);
            Tensor xin = planar ? x : ConvBlocked.toBlocked(x), rin = r == null ? null : ConvBlocked.toBlocked(r);
            String what = java.util.Arrays.toString(k);
            float[] twin = run(xin, wt, b, s, p, rin, relu, false);
            assertClose(want, twin, what + " (Vector API)");
            if (ConvBlocked.available()) assertArrayEquals(twin, run(xin, wt, b, s, p, rin, relu, true), what + ": native and twin differ");
        }
    }

    /** The kernel's output as planar floats. */
    private static float[] run(Tensor x, Tensor w, Tensor b, int s, int p, Tensor r, boolean relu, boolean nativeKernel) {
        boolean was = ConvBlocked.useNative;
        ConvBlocked.useNative = nativeKernel;
        try (Tensor y = ConvBlocked.conv(x, w, b, s, s, p, p, r, relu); Tensor pl = ConvBlocked.toPlanar(y)) {
            return pl.toFloatArray();
        } finally {
            ConvBlocked.useNative = was;
        }
    }

    private static double[] reference(Tensor x, Tensor w, Tensor b, int s, int p, Tensor r, boolean relu) {
        int n = x.size(0), c = x.size(1), h = x.size(2), wd = x.size(3), o = w.size(0), k = w.size(2);
        int oh = (h + 2 * p - k) / s + 1, ow = (wd + 2 * p - k) / s + 1;
        double[] xs = x.toDoubleArray(), ws = w.toDoubleArray(), bs = b == null ? null : b.toDoubleArray(), rs = r == null ? null : r.toDoubleArray();
        double[] y = new double[n * o * oh * ow];
        for (int ni = 0; ni < n; ni++)
            for (int oc = 0; oc < o; oc++)
                for (int i = 0; i < oh; i++)
                    for (int j = 0; j < ow; j++) {
                        double acc = bs == null ? 0 : bs[oc];
                        for (int ic = 0; ic < c; ic++)
                            for (int ki = 0; ki < k; ki++)
                                for (int kj = 0; kj < k; kj++) {
                                    int ih = i * s - p + ki, iw = j * s - p + kj;
                                    if (ih >= 0 && ih < h && iw >= 0 && iw < wd)
                                        acc += xs[((ni * c + ic) * h + ih) * wd + iw] * ws[((oc * c + ic) * k + ki) * k + kj];
                                }
                        int at = ((ni * o + oc) * oh + i) * ow + j;
                        if (rs != null) acc += rs[at];
                        y[at] = relu ? Math.max(acc, 0) : acc;
                    }
        return y;
    }

    private static void assertClose(double[] want, float[] got, String what) {
        assertEquals(want.length, got.length, what);
        for (int i = 0; i < want.length; i++)
            assertEquals(want[i], got[i], 1e-5 * (1 + Math.abs(want[i])) * 10, what + " [" + i + "]");
    }

    /**
     * A fused fake quantization (a QDQ model's QuantizeLinear -> DequantizeLinear after the conv) gives
     * the bits of the conv's output quantized and dequantized as ONNX defines it, native and twin.
     */
    @Test
    void fusedFakeQuantIsTheQdqOfTheOutput() {
        Tensor x = ConvBlocked.toBlocked(Tensor.uniform(G, -1, 1, DType.F32, 1, 32, 6, 9));
        Tensor w = Tensor.uniform(G, -0.5, 0.5, DType.F32, 64, 32, 3, 3), b = Tensor.uniform(G, -1, 1, DType.F32, 64);
        for (ConvBlocked.FakeQuant fq : new ConvBlocked.FakeQuant[]{new ConvBlocked.FakeQuant(0.05f, 0f, 0f, 255f), new ConvBlocked.FakeQuant(0.02f, 3f, -128f, 127f)}) {
            for (boolean nativeKernel : ConvBlocked.available() ? new boolean[]{true, false} : new boolean[]{false}) {
                boolean was = ConvBlocked.useNative;
                ConvBlocked.useNative = nativeKernel;
                try (Tensor plain = ConvBlocked.conv(x, w, b, 1, 1, 1, 1, null, true); Tensor fused = ConvBlocked.conv(x, w, b, 1, 1, 1, 1, null, true, fq)) {
                    float[] p = plain.toFloatArray(), f = fused.toFloatArray();
                    for (int i = 0; i < p.length; i++) {
                        double q = Math.rint(p[i] / fq.scale()) + fq.zp();
                        float want = (float) (((long) Math.max(fq.qmin(), Math.min(fq.qmax(), q)) - (double) fq.zp()) * fq.scale());
                        assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(f[i]), (nativeKernel ? "native" : "twin") + " " + fq + " at " + i);
                    }
                } finally {
                    ConvBlocked.useNative = was;
                }
            }
        }
    }

    @Test
    void reordersRoundTripExactly() {
        Tensor x = Tensor.uniform(G, -1, 1, DType.F32, 2, 32, 3, 5);
        try (Tensor b = ConvBlocked.toBlocked(x); Tensor back = ConvBlocked.toPlanar(b)) {
            assertArrayEquals(new int[]{2, 2, 3, 5, 16}, b.shape());
            float[] xs = x.toFloatArray(), bs = b.toFloatArray();
            assertEquals(xs[((1 * 32 + 21) * 3 + 2) * 5 + 4], bs[((((1 * 2 + 1) * 3 + 2) * 5 + 4) * 16) + 5]);  // n1, c21 = block 1 lane 5, (2, 4)
            assertArrayEquals(xs, back.toFloatArray());
        }
        // a strided (transposed) planar input reorders by its strides
        Tensor t = Tensor.uniform(G, -1, 1, DType.F32, 1, 16, 4, 6);
        try (Tensor tt = t.transpose(2, 3); Tensor b = ConvBlocked.toBlocked(tt); Tensor back = ConvBlocked.toPlanar(b); Tensor want = tt.contiguous()) {
            assertArrayEquals(want.toFloatArray(), back.toFloatArray());
        }
    }

    @Test
    void maxPoolAndGlobalAverageMatchTheReference() {
        int n = 2, c = 32, h = 9, w = 10, k = 3, s = 2, p = 1;
        Tensor x = Tensor.uniform(G, -1, 1, DType.F32, n, c, h, w);
        double[] xs = x.toDoubleArray();
        int oh = (h + 2 * p - k) / s + 1, ow = (w + 2 * p - k) / s + 1;
        try (Tensor b = ConvBlocked.toBlocked(x); Tensor m = ConvBlocked.maxPool(b, k, k, s, s, p, p); Tensor mp = ConvBlocked.toPlanar(m);
             Tensor g = ConvBlocked.globalAveragePool(b)) {
            float[] got = mp.toFloatArray();
            for (int q = 0; q < n * c; q++)
                for (int i = 0; i < oh; i++)
                    for (int j = 0; j < ow; j++) {
                        double best = Double.NEGATIVE_INFINITY;
                        for (int ki = 0; ki < k; ki++)
                            for (int kj = 0; kj < k; kj++) {
                                int ih = i * s - p + ki, iw = j * s - p + kj;
                                if (ih >= 0 && ih < h && iw >= 0 && iw < w) best = Math.max(best, xs[(q * h + ih) * w + iw]);
                            }
                        assertEquals(best, got[(q * oh + i) * ow + j], 0.0);
                    }
            assertArrayEquals(new int[]{n, c, 1, 1}, g.shape());
            float[] avg = g.toFloatArray();
            for (int q = 0; q < n * c; q++) {
                double sum = 0;
                for (int i = 0; i < h * w; i++) sum += xs[q * h * w + i];
                assertEquals(sum / (h * w), avg[q], 1e-6);
            }
        }
    }

    @Test
    void badShapesAreOneLineErrors() {
        Tensor x = ConvBlocked.toBlocked(Tensor.zeros(DType.F32, 1, 16, 4, 4));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ConvBlocked.conv(x, Tensor.zeros(DType.F32, 48, 16, 1, 1), null, 1, 1, 0, 0, null, false));
        assertTrue(e.getMessage().contains("48 output channels are not a multiple of 32"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> ConvBlocked.conv(x, Tensor.zeros(DType.F32, 32, 8, 1, 1), null, 1, 1, 0, 0, null, false));
        assertTrue(e.getMessage().contains("does not match 16 input channels"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> ConvBlocked.toBlocked(Tensor.zeros(DType.F32, 1, 20, 2, 2)));
        assertTrue(e.getMessage().contains("20 channels are not a multiple of 16"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> ConvBlocked.conv(x, Tensor.zeros(DType.F32, 32, 16, 7, 7), null, 1, 1, 0, 0, null, false));
        assertTrue(e.getMessage().contains("larger than the padded input"), e.getMessage());
    }
}
