package dev.kiln.compress.quant;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * Affine int8 quantization parameters: q = clamp(rint(x / scale) + zero, qmin, qmax) and
 * x ~ scale * (q - zero), per tensor ({@code axis == -1}, one scale/zero) or per channel along
 * {@code axis} (one scale/zero per index of that axis). Rounding is half to even ({@link Math#rint}).
 * <p>
 * Symmetric parameters have zero = 0 and the range [-127, 127] (so -x quantizes to -q and int8
 * products cannot reach -128 * -128); asymmetric parameters use [-128, 127] with a zero point
 * placing the real 0 exactly on an integer.
 * <p>
 * <b>uint8 activations.</b> An activation quantized as uint8 with (scale, z) in [0, 255] is stored
 * here as int8 q - 128 with zero point z - 128: the real values, the scale and every product
 * (q - z) are identical, so asymmetric int8 parameters <i>are</i> the uint8 scheme, shifted by
 * 128. {@link #toUint8Zero} converts the zero point for export.
 */
public record QParams(float[] scale, int[] zero, int axis, int qmin, int qmax) {
    public static final int QMIN = -128, QMAX = 127;

    public QParams {
        if (scale.length != zero.length || scale.length == 0)
            throw new IllegalArgumentException("quant: scale and zero must have the same non-zero length");
        if (axis == -1 && scale.length != 1) throw new IllegalArgumentException("quant: per-tensor parameters need one scale");
        for (float s : scale)
            if (!(s > 0) || Float.isInfinite(s)) throw new IllegalArgumentException("quant: scale must be positive and finite, got " + s);
    }

    public static QParams perTensor(float scale, int zero, int qmin, int qmax) {
        return new QParams(new float[]{scale}, new int[]{zero}, -1, qmin, qmax);
    }

    /** Parameters covering [min, max] (widened to include 0). */
    public static QParams fromRange(double min, double max, boolean symmetric) {
        float[] s = new float[1];
        int[] z = new int[1];
        rangeToParams(min, max, symmetric, s, z, 0);
        return new QParams(s, z, -1, symmetric ? -127 : QMIN, QMAX);
    }

    /** Per-channel parameters along axis from per-channel ranges. */
    public static QParams fromRanges(double[] min, double[] max, boolean symmetric, int axis) {
        float[] s = new float[min.length];
        int[] z = new int[min.length];
        for (int c = 0; c < min.length; c++) rangeToParams(min[c], max[c], symmetric, s, z, c);
        return new QParams(s, z, axis, symmetric ? -127 : QMIN, QMAX);
    }

    /** Per-channel symmetric parameters for a weight (axis 0 = output channel), from its max |w|. */
    public static QParams symmetricPerChannel(Tensor w, int axis) {
        double[][] mm = channelMinMax(w, axis);
        return fromRanges(mm[0], mm[1], true, axis);
    }

    private static void rangeToParams(double min, double max, boolean symmetric, float[] s, int[] z, int c) {
        min = Math.min(min, 0);
        max = Math.max(max, 0);
        if (symmetric) {
            double a = Math.max(-min, max);
            s[c] = (float) (a > 0 ? a / 127.0 : 1.0);
            z[c] = 0;
        } else {
            double range = max - min;
            s[c] = (float) (range > 0 ? range / 255.0 : 1.0);
            z[c] = (int) Math.max(QMIN, Math.min(QMAX, Math.rint(QMIN - min / s[c])));
        }
    }

    public boolean perChannel() { return axis >= 0; }
    public boolean symmetric() { return Arrays.stream(zero).allMatch(v -> v == 0); }
    public float scale0() { return scale[0]; }
    public int zero0() { return zero[0]; }

    /** The uint8 zero point of this (asymmetric int8) scheme: zero + 128. */
    public int toUint8Zero(int channel) { return zero[channel] + 128; }

    // ------------------------------------------------------------------ quantize / dequantize

    /** Quantizes a float tensor to I8 (same shape). */
    public Tensor quantize(Tensor x) {
        return QTensors.fromBytes(quantizeArray(x.toFloatArray(), x.shape()), x.shape());
    }

    /** Dequantizes an I8 tensor to F32. */
    public Tensor dequantize(Tensor q) {
        if (q.dtype() != DType.I8) throw new IllegalArgumentException("dequantize: need I8, got " + q.dtype());
        byte[] b = QTensors.bytes(q);
        float[] out = new float[b.length];
        int[] sh = q.shape();
        int inner = inner(sh), ch = channels(sh);
        for (int i = 0; i < b.length; i++) {
            int c = perChannel() ? (i / inner) % ch : 0;
            out[i] = scale[c] * (b[i] - zero[c]);
        }
        return Tensor.fromArray(out, sh.clone());
    }

    /** quantize then dequantize, as F32 (what fake quantization computes). */
    public float[] fakeQuantArray(float[] x, int[] shape) {
        int inner = inner(shape), ch = channels(shape);
        float[] out = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            int c = perChannel() ? (i / inner) % ch : 0;
            out[i] = scale[c] * (quantizeOne(x[i], c) - zero[c]);
        }
        return out;
    }

    /** quantize a row-major array of the given shape. */
    public byte[] quantizeArray(float[] x, int[] shape) {
        int inner = inner(shape), ch = channels(shape);
        byte[] out = new byte[x.length];
        if (!perChannel()) {
            float s = scale[0];
            int z = zero[0];
            for (int i = 0; i < x.length; i++) out[i] = (byte) clampRound(x[i] / s, z);
            return out;
        }
        for (int i = 0; i < x.length; i++) out[i] = (byte) quantizeOne(x[i], (i / inner) % ch);
        return out;
    }

    /** The quantized value of x in channel c. */
    public int quantizeOne(float x, int c) { return clampRound(x / scale[c], zero[c]); }

    /** True when x lies inside channel c's representable range (where the STE passes gradient). */
    public boolean inRange(float x, int c) {
        double lo = (double) scale[c] * (qmin - zero[c]), hi = (double) scale[c] * (qmax - zero[c]);
        return x >= lo && x <= hi;
    }

    private int clampRound(float v, int z) {
        double r = Math.rint(v) + z;
        return (int) Math.max(qmin, Math.min(qmax, r));
    }

    /** Number of elements after the channel axis (1 for per-tensor). */
    int inner(int[] shape) {
        if (!perChannel()) return 1;
        checkAxis(shape);
        int n = 1;
        for (int d = axis + 1; d < shape.length; d++) n *= shape[d];
        return n;
    }

    int channels(int[] shape) {
        if (!perChannel()) return 1;
        checkAxis(shape);
        return shape[axis];
    }

    private void checkAxis(int[] shape) {
        if (axis >= shape.length || shape[axis] != scale.length)
            throw new IllegalArgumentException("quant: per-channel axis " + axis + " with " + scale.length + " channels does not fit shape "
                    + Arrays.toString(shape));
    }

    /** Per-channel [min[], max[]] along axis (per-tensor when axis == -1: arrays of length 1). */
    public static double[][] channelMinMax(Tensor t, int axis) {
        float[] v = t.toFloatArray();
        int[] sh = t.shape();
        int ch = axis < 0 ? 1 : sh[axis], inner = 1;
        if (axis >= 0) for (int d = axis + 1; d < sh.length; d++) inner *= sh[d];
        double[] mn = new double[ch], mx = new double[ch];
        Arrays.fill(mn, Double.POSITIVE_INFINITY);
        Arrays.fill(mx, Double.NEGATIVE_INFINITY);
        for (int i = 0; i < v.length; i++) {
            int c = axis < 0 ? 0 : (i / inner) % ch;
            mn[c] = Math.min(mn[c], v[i]);
            mx[c] = Math.max(mx[c], v[i]);
        }
        for (int c = 0; c < ch; c++) if (mn[c] > mx[c]) { mn[c] = 0; mx[c] = 0; }
        return new double[][]{mn, mx};
    }

    @Override public String toString() {
        return "QParams(scale=" + Arrays.toString(scale) + ", zero=" + Arrays.toString(zero) + ", axis=" + axis + ", [" + qmin + ", " + qmax + "])";
    }

    /** Raw I8 helpers (off-heap bytes in and out). */
    static final class QTensors {
        private QTensors() {}

        static Tensor fromBytes(byte[] b, int[] shape) {
            Tensor t = Tensor.zeros(DType.I8, shape.clone());
            MemorySegment.copy(b, 0, t.segment(), ValueLayout.JAVA_BYTE, t.offset(), b.length);
            return t;
        }

        static byte[] bytes(Tensor q) {
            Tensor c = q.isContiguous() ? q : q.contiguous();
            byte[] b = new byte[Math.toIntExact(c.numel())];
            MemorySegment.copy(c.segment(), ValueLayout.JAVA_BYTE, c.offset(), b, 0, b.length);
            if (c != q) c.close();
            return b;
        }
    }
}
