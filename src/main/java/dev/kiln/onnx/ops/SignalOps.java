package dev.kiln.onnx.ops;

import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.Value;
import dev.kiln.tensor.Tensor;

import java.util.Arrays;
import java.util.List;

/**
 * ONNX signal ops: DFT, STFT, HannWindow / HammingWindow / BlackmanWindow and MelWeightMatrix,
 * computed in double precision ({@link SignalFft}). Complex values are a trailing dimension of 2
 * (real, imaginary); real inputs have a trailing dimension of 1.
 */
final class SignalOps {
    private SignalOps() {}

    static void register(OpRegistry r) {
        r.register("DFT", SignalOps::dft);
        r.register("STFT", SignalOps::stft);
        r.register("HannWindow", c -> window(c, 0.5, 0.5, 0));
        r.register("HammingWindow", c -> window(c, 25.0 / 46, 21.0 / 46, 0));
        r.register("BlackmanWindow", c -> window(c, 0.42, 0.5, 0.08));
        r.register("MelWeightMatrix", SignalOps::melWeightMatrix);
    }

    // ------------------------------------------------------------------ DFT

    private static List<Value> dft(OpCall call) {
        Tensor x = call.in(0);
        int[] s = x.shape();
        int rank = s.length;
        if (rank < 2 || (s[rank - 1] != 1 && s[rank - 1] != 2))
            throw call.error("input must end in a dimension of 1 (real) or 2 (complex), got shape " + Arrays.toString(s));
        long axisV = call.opset() >= 20 && call.has(2) ? (long) call.in(2).item() : call.attrInt("axis", 1);
        int axis = (int) (axisV < 0 ? axisV + rank : axisV);
        if (axis < 0 || axis >= rank - 1) throw call.error("axis " + axisV + " is not a signal axis of shape " + Arrays.toString(s));
        boolean inverse = call.attrInt("inverse", 0) != 0, onesided = call.attrInt("onesided", 0) != 0;
        int n = s[axis];
        int len = call.has(1) ? Math.toIntExact((long) call.in(1).item()) : n;
        if (len <= 0) throw call.error("dft_length must be positive, got " + len);
        if (onesided && s[rank - 1] == 2) throw call.error("onesided needs a real input (last dimension 1)");
        int outLen = onesided ? len / 2 + 1 : len;
        int outer = NormArrays.prod(s, 0, axis), inner = NormArrays.prod(s, axis + 1, rank - 1), c = s[rank - 1];
        double[] v = x.toDoubleArray();
        double[] y = new double[outer * outLen * inner * 2];
        double[] re = new double[len], im = new double[len];
        for (int o = 0; o < outer; o++) {
            for (int i = 0; i < inner; i++) {
                Arrays.fill(re, 0);
                Arrays.fill(im, 0);
                for (int j = 0; j < Math.min(n, len); j++) {
                    int at = ((o * n + j) * inner + i) * c;
                    re[j] = v[at];
                    if (c == 2) im[j] = v[at + 1];
                }
                SignalFft.transform(re, im, inverse);
                for (int j = 0; j < outLen; j++) {
                    int at = ((o * outLen + j) * inner + i) * 2;
                    y[at] = re[j];
                    y[at + 1] = im[j];
                }
            }
        }
        int[] os = s.clone();
        os[axis] = outLen;
        os[rank - 1] = 2;
        return List.of(NormArrays.value(y, call.type(0), os));
    }

    // ------------------------------------------------------------------ STFT

    private static List<Value> stft(OpCall call) {
        Tensor x = call.in(0);
        int[] s = x.shape();
        if (s.length != 3 || (s[2] != 1 && s[2] != 2))
            throw call.error("signal must be [batch, length, 1 or 2], got shape " + Arrays.toString(s));
        int step = Math.toIntExact((long) call.in(1).item());
        double[] window = call.has(2) ? call.in(2).toDoubleArray() : null;
        int frame = call.has(3) ? Math.toIntExact((long) call.in(3).item()) : window != null ? window.length : -1;
        if (frame <= 0) throw call.error("frame_length or window is required");
        if (window != null && window.length != frame)
            throw call.error("window has " + window.length + " values but frame_length is " + frame);
        if (step <= 0) throw call.error("frame_step must be positive, got " + step);
        boolean onesided = call.attrInt("onesided", 1) != 0;
        if (onesided && s[2] == 2) throw call.error("onesided needs a real signal (last dimension 1)");
        int batch = s[0], length = s[1], c = s[2];
        if (length < frame) throw call.error("signal length " + length + " is shorter than the frame length " + frame);
        int frames = (length - frame) / step + 1, bins = onesided ? frame / 2 + 1 : frame;
        double[] v = x.toDoubleArray();
        double[] y = new double[batch * frames * bins * 2];
        double[] re = new double[frame], im = new double[frame];
        for (int b = 0; b < batch; b++) {
            for (int f = 0; f < frames; f++) {
                for (int j = 0; j < frame; j++) {
                    int at = (b * length + f * step + j) * c;
                    double w = window == null ? 1 : window[j];
                    re[j] = v[at] * w;
                    im[j] = c == 2 ? v[at + 1] * w : 0;
                }
                SignalFft.transform(re, im, false);
                for (int k = 0; k < bins; k++) {
                    int at = ((b * frames + f) * bins + k) * 2;
                    y[at] = re[k];
                    y[at + 1] = im[k];
                }
            }
        }
        return List.of(NormArrays.value(y, call.type(0), batch, frames, bins, 2));
    }

    // ------------------------------------------------------------------ windows

    /** a0 - a1 cos(2 pi n / N) + a2 cos(4 pi n / N), N = size (periodic) or size - 1 (symmetric). */
    private static List<Value> window(OpCall call, double a0, double a1, double a2) {
        int size = Math.toIntExact((long) call.in(0).item());
        if (size < 0) throw call.error("size must be non-negative, got " + size);
        boolean periodic = call.attrInt("periodic", 1) != 0;
        double denom = periodic ? size : size - 1;
        double[] y = new double[size];
        for (int i = 0; i < size; i++) {
            double t = denom == 0 ? 0 : 2 * Math.PI * i / denom;
            y[i] = a0 - a1 * Math.cos(t) + a2 * Math.cos(2 * t);
        }
        return List.of(NormArrays.value(y, outputType(call), size));
    }

    private static ElemType outputType(OpCall call) {
        ElemType t = ElemType.fromCode((int) call.attrInt("output_datatype", 1));
        if (t.storage() == null) throw call.error("unsupported output_datatype " + t);
        return t;
    }

    // ------------------------------------------------------------------ MelWeightMatrix

    /**
     * [dft_length / 2 + 1, num_mel_bins] triangular filters between num_mel_bins + 2 points spaced
     * evenly on the mel scale (mel = 2595 log10(1 + hz / 700)), each point snapped down to a DFT bin,
     * following the ONNX reference (its mel step divides by num_mel_bins + 2).
     */
    private static List<Value> melWeightMatrix(OpCall call) {
        int mels = Math.toIntExact((long) call.in(0).item()), dftLength = Math.toIntExact((long) call.in(1).item());
        double rate = call.in(2).item(), lowHz = call.in(3).item(), highHz = call.in(4).item();
        if (mels <= 0 || dftLength <= 0 || rate <= 0)
            throw call.error("num_mel_bins, dft_length and sample_rate must be positive");
        int specBins = dftLength / 2 + 1;
        double lowMel = hzToMel(lowHz), highMel = hzToMel(highHz);
        double step = (highMel - lowMel) / (mels + 2);
        int[] bin = new int[mels + 2];
        for (int i = 0; i < bin.length; i++) {
            double hz = 700 * (Math.pow(10, (i * step + lowMel) / 2595) - 1);
            bin[i] = (int) Math.floor((dftLength + 1) * hz / rate);
        }
        double[] w = new double[specBins * mels];
        for (int m = 0; m < mels; m++) {
            int lo = bin[m], center = bin[m + 1], hi = bin[m + 2];
            if (center == lo) set(call, w, center, m, mels, specBins, 1);
            else for (int j = lo; j <= center; j++) set(call, w, j, m, mels, specBins, (double) (j - lo) / (center - lo));
            for (int j = center; j < hi; j++) set(call, w, j, m, mels, specBins, (double) (hi - j) / (hi - center));
        }
        return List.of(NormArrays.value(w, outputType(call), specBins, mels));
    }

    private static void set(OpCall call, double[] w, int row, int col, int mels, int rows, double v) {
        if (row < 0 || row >= rows) throw call.error("mel filter edge bin " + row + " is outside the " + rows + " spectrogram bins");
        w[row * mels + col] = v;
    }

    private static double hzToMel(double hz) {
        return 2595 * Math.log10(1 + hz / 700);
    }
}
