package dev.kiln.onnx.ops;

import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.Value;
import org.junit.jupiter.api.Test;

import static dev.kiln.onnx.ops.NormTestKit.*;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** DFT / STFT vs the direct DFT sum; window and mel filter formulas. */
class SignalOpsTest {

    /** Direct DFT of complex x (interleaved re, im) of length n, zero-padded/truncated to len. */
    private static double[] naive(double[] x, int n, int len, boolean inverse) {
        double[] y = new double[2 * len];
        double sign = inverse ? 1 : -1;
        for (int k = 0; k < len; k++)
            for (int j = 0; j < Math.min(n, len); j++) {
                double a = sign * 2 * Math.PI * k * j / len, re = x[2 * j], im = x[2 * j + 1];
                y[2 * k] += (re * Math.cos(a) - im * Math.sin(a)) / (inverse ? len : 1);
                y[2 * k + 1] += (re * Math.sin(a) + im * Math.cos(a)) / (inverse ? len : 1);
            }
        return y;
    }

    @Test
    void dftOfComplexSignalsPowerOfTwoAndNot() {
        for (int n : new int[]{8, 6}) {
            double[] x = values(2 * n, n);
            Value y = op("DFT").in(f32(x, 1, n, 2)).run(0);
            assertShape(y, ElemType.FLOAT, 1, n, 2);
            assertClose(naive(x, n, n, false), y.tensor(), 1e-5);
            Value inv = op("DFT").i("inverse", 1).in(f32(x, 1, n, 2)).run(0);
            assertClose(naive(x, n, n, true), inv.tensor(), 1e-5);
        }
    }

    @Test
    void dftOnesidedRealInputAlongInnerAxisWithPadding() {
        int n = 5, cols = 2, len = 8;           // X [1, 5, 2, 1], DFT along axis 1 padded to 8
        double[] x = values(n * cols, 3);
        Value y = op("DFT").i("onesided", 1).in(f32(x, 1, n, cols, 1), i64(len)).run(0);
        assertShape(y, ElemType.FLOAT, 1, len / 2 + 1, cols, 2);
        double[] got = y.tensor().toDoubleArray();
        for (int c = 0; c < cols; c++) {
            double[] line = new double[2 * n];
            for (int j = 0; j < n; j++) line[2 * j] = x[j * cols + c];
            double[] want = naive(line, n, len, false);
            for (int k = 0; k <= len / 2; k++) {
                assertEquals(want[2 * k], got[(k * cols + c) * 2], 1e-5);
                assertEquals(want[2 * k + 1], got[(k * cols + c) * 2 + 1], 1e-5);
            }
        }
    }

    @Test
    void stftFramesWindowedSignal() {
        int length = 20, frame = 8, step = 4, frames = 4, bins = 5;
        double[] x = values(length, 4), window = values(frame, 5);
        Value y = op("STFT").in(f32(x, 1, length, 1), i64(step), f32(window, frame)).run(0);
        assertShape(y, ElemType.FLOAT, 1, frames, bins, 2);
        double[] want = new double[frames * bins * 2];
        for (int f = 0; f < frames; f++) {
            double[] seg = new double[2 * frame];
            for (int j = 0; j < frame; j++) seg[2 * j] = x[f * step + j] * window[j];
            System.arraycopy(naive(seg, frame, frame, false), 0, want, f * bins * 2, bins * 2);
        }
        assertClose(want, y.tensor(), 1e-5);
    }

    @Test
    void windowsPeriodicAndSymmetric() {
        int n = 7;
        double[] hann = new double[n], blackman = new double[n], hamming = new double[n];
        for (int i = 0; i < n; i++) {
            double t = 2 * Math.PI * i / n, ts = 2 * Math.PI * i / (n - 1);
            hann[i] = 0.5 - 0.5 * Math.cos(t);
            hamming[i] = 25.0 / 46 - 21.0 / 46 * Math.cos(ts);
            blackman[i] = 0.42 - 0.5 * Math.cos(t) + 0.08 * Math.cos(2 * t);
        }
        Value size = NormArrays.value(new long[]{n}, ElemType.INT32);
        assertClose(hann, op("HannWindow").in(size).run(0).tensor(), 1e-6);
        assertClose(hamming, op("HammingWindow").i("periodic", 0).in(size).run(0).tensor(), 1e-6);
        Value b = op("BlackmanWindow").i("output_datatype", ElemType.DOUBLE.code()).in(size).run(0);
        assertShape(b, ElemType.DOUBLE, n);
        assertClose(blackman, b.tensor(), 1e-12);
    }

    @Test
    void melWeightMatrixHasTriangularColumns() {
        Value m = op("MelWeightMatrix").in(NormArrays.value(new long[]{4}, ElemType.INT32),
                NormArrays.value(new long[]{64}, ElemType.INT32), NormArrays.value(new long[]{16000}, ElemType.INT32),
                scalar(0, ElemType.FLOAT), scalar(8000, ElemType.FLOAT)).run(0);
        assertShape(m, ElemType.FLOAT, 33, 4);
        double[] w = m.tensor().toDoubleArray();
        for (int c = 0; c < 4; c++) {
            double peak = 0;
            for (int r = 0; r < 33; r++) peak = Math.max(peak, w[r * 4 + c]);
            assertEquals(1.0, peak, 1e-6, "column " + c + " peaks at 1");
        }
    }
}
