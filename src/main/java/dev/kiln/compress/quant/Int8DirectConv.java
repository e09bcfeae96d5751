package dev.kiln.compress.quant;

import dev.kiln.backend.cpu.CpuConfig;
import dev.kiln.backend.cpu.Parallel;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * Direct int8 convolution (stride 1, dilation 1, groups 1) for layers with a short reduction
 * (C kh kw small, e.g. the first conv of an image model), where unfolding the input for a GEMM
 * costs far more than the arithmetic. Its accumulators equal the unfold + GEMM path's (C kh kw
 * taps of x * w, the zero point outside the image), and the requantization epilogue runs on them
 * in place, writing the channels-first float output.
 *
 * <p>Per image: the input is copied once, as floats, into a zero-point-padded plane per channel;
 * then for each tap (c, ky, kx) one vector of consecutive padded positions is multiplied into the
 * accumulators of every output channel. Outputs are computed on the padded width (the
 * last kw - 1 columns of each row are discarded), so every tap is one contiguous stream. The
 * products and sums are integers below 2^24 (|x w| <= 16384, at most {@link #MAX_K} taps), so
 * float FMA is exact. {@link CpuConfig#scalar()} selects the scalar twin.
 */
final class Int8DirectConv {
    private Int8DirectConv() {}

    /** Largest reduction (C kh kw) this kernel takes: 1024 * 16384 < 2^24 keeps float sums exact. */
    static final int MAX_K = 1024;

    private static final VectorSpecies<Float> FS = VectorSpecies.of(float.class, CpuConfig.F32.vectorShape());

    /**
     * The layer's float output [n, o, oh, ow] for x [n, c, h, w] (int8, NCHW) and w [o, c, kh, kw]
     * (int8), padding (padH, padW) filled with the zero point z; oh = h + 2 padH - kh + 1, ow
     * likewise. The epilogue is {@link Int8Gemm#requantize}'s float path, y = act(scale[j] (acc -
     * zeroSum[j]) + add[j]), applied straight from the accumulators with the same roundings
     * (acc - zeroSum is an exact integer below 2^24 in float, then one multiply and one add).
     */
    static Tensor conv(byte[] x, int n, int c, int h, int w, byte[] wq, int o, int kh, int kw, int padH, int padW, byte z,
                       float[] scale, int[] zeroSum, float[] add, boolean relu) {
        if (c * kh * kw > MAX_K) throw new IllegalArgumentException("int8 direct conv: reduction " + c * kh * kw + " > " + MAX_K);
        int hp = h + 2 * padH, wp = w + 2 * padW, oh = hp - kh + 1, ow = wp - kw + 1;
        Tensor out = Tensor.zeros(DType.F32, n, o, oh, ow);
        MemorySegment dst = out.segment();
        long base = out.offset() * Float.BYTES;
        boolean scalar = CpuConfig.scalar();
        long cost = (long) o * c * kh * kw * oh * wp;
        Parallel.forRange(n, cost, (b0, b1) -> {
            int span = oh * wp, lanes = FS.length(), spanPad = (span + lanes - 1) / lanes * lanes;
            float[] xp = new float[c * hp * wp + kw + lanes];
            float[] acc = new float[o * spanPad], row = new float[ow];
            for (int b = b0; b < b1; b++) {
                pad(x, b, c, h, w, padH, padW, z, xp);
                Arrays.fill(acc, 0f);
                if (scalar) accumulateScalar(xp, c, hp, wp, wq, o, kh, kw, span, spanPad, acc);
                else accumulateVector(xp, c, hp, wp, wq, o, kh, kw, spanPad, acc);
                for (int j = 0; j < o; j++) {
                    float s = scale[j], zs = zeroSum[j], a = add[j];
                    for (int y = 0; y < oh; y++) {
                        int src = j * spanPad + y * wp, xx = 0;
                        if (!scalar)
                            for (; xx + lanes <= ow; xx += lanes) {
                                FloatVector v = FloatVector.fromArray(FS, acc, src + xx).sub(zs).mul(s).add(a);
                                (relu ? v.max(0f) : v).intoArray(row, xx);
                            }
                        for (; xx < ow; xx++) {
                            float v = (acc[src + xx] - zs) * s + a;
                            row[xx] = relu ? Math.max(v, 0) : v;
                        }
                        MemorySegment.copy(row, 0, dst, Storage.F32, base + (((long) (b * o + j) * oh + y) * ow) * Float.BYTES, ow);
                    }
                }
            }
        });
        return out;
    }

    /** Image b of x into xp as c float planes [hp, wp] with z around (and in the slack after them). */
    private static void pad(byte[] x, int b, int c, int h, int w, int padH, int padW, byte z, float[] xp) {
        int hp = h + 2 * padH, wp = w + 2 * padW;
        Arrays.fill(xp, z);
        for (int ch = 0; ch < c; ch++)
            for (int y = 0; y < h; y++) {
                int src = ((b * c + ch) * h + y) * w, dst = (ch * hp + y + padH) * wp + padW;
                for (int i = 0; i < w; i++) xp[dst + i] = x[src + i];
            }
    }

    private static void accumulateVector(float[] xp, int c, int hp, int wp, byte[] wq, int o, int kh, int kw, int spanPad, float[] acc) {
        int lanes = FS.length(), taps = kh * kw;
        for (int ch = 0; ch < c; ch++)
            for (int ky = 0; ky < kh; ky++)
                for (int kx = 0; kx < kw; kx++) {
                    int off = ch * hp * wp + ky * wp + kx, t = ch * taps + ky * kw + kx;
                    for (int i = 0; i < spanPad; i += lanes) {
                        FloatVector v = FloatVector.fromArray(FS, xp, off + i);
                        for (int j = 0, a = i; j < o; j++, a += spanPad) {
                            float wt = wq[j * c * taps + t];
                            v.fma(FloatVector.broadcast(FS, wt), FloatVector.fromArray(FS, acc, a)).intoArray(acc, a);
                        }
                    }
                }
    }

    /** The scalar twin: same sums in the same order. */
    private static void accumulateScalar(float[] xp, int c, int hp, int wp, byte[] wq, int o, int kh, int kw, int span, int spanPad,
                                         float[] acc) {
        int taps = kh * kw;
        for (int ch = 0; ch < c; ch++)
            for (int ky = 0; ky < kh; ky++)
                for (int kx = 0; kx < kw; kx++) {
                    int off = ch * hp * wp + ky * wp + kx, t = ch * taps + ky * kw + kx;
                    for (int j = 0; j < o; j++) {
                        float wt = wq[j * c * taps + t];
                        for (int i = 0; i < span; i++) acc[j * spanPad + i] += wt * xp[off + i];
                    }
                }
    }
}
