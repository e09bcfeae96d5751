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
 * then blocks of 4 output channels x 2 vectors of consecutive padded positions accumulate over
 * every tap (c, ky, kx) in registers. Outputs are computed on the padded width (the
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
     * (int8 values held as floats), padding (padH, padW) filled with the zero point z; oh = h + 2 padH - kh + 1, ow
     * likewise. The epilogue is {@link Int8Gemm#requantize}'s float path, y = act(scale[j] (acc -
     * zeroSum[j]) + add[j]), applied straight from the accumulators with the same roundings
     * (acc - zeroSum is an exact integer below 2^24 in float, then one multiply and one add).
     */
    static Tensor conv(byte[] x, int n, int c, int h, int w, float[] wq, int o, int kh, int kw, int padH, int padW, byte z,
                       float[] scale, int[] zeroSum, float[] add, boolean relu) {
        if (c * kh * kw > MAX_K) throw new IllegalArgumentException("int8 direct conv: reduction " + c * kh * kw + " > " + MAX_K);
        int hp = h + 2 * padH, wp = w + 2 * padW, oh = hp - kh + 1, ow = wp - kw + 1;
        Tensor out = Tensor.zeros(DType.F32, n, o, oh, ow);
        MemorySegment dst = out.segment();
        long base = out.offset() * Float.BYTES;
        boolean scalar = CpuConfig.scalar();
        long cost = (long) o * c * kh * kw * oh * wp;
        int taps = c * kh * kw;
        int[] off = new int[taps];              // each tap's offset in the padded planes
        for (int ch = 0, t = 0; ch < c; ch++)
            for (int ky = 0; ky < kh; ky++)
                for (int kx = 0; kx < kw; kx++, t++) off[t] = ch * hp * wp + ky * wp + kx;
        Parallel.forRange(n, cost, (b0, b1) -> {
            int span = oh * wp, lanes = FS.length(), spanPad = (span + lanes - 1) / lanes * lanes;
            float[] xp = new float[c * hp * wp + kw + lanes];
            float[] acc = new float[o * spanPad], img = new float[o * oh * ow];
            for (int b = b0; b < b1; b++) {
                pad(x, b, c, h, w, padH, padW, z, xp);
                if (scalar) {
                    Arrays.fill(acc, 0f);
                    accumulateScalar(xp, off, wq, o, span, spanPad, acc);
                } else {
                    accumulateVector(xp, off, wq, o, spanPad, acc);   // writes every entry
                }
                for (int j = 0; j < o; j++) {
                    float s = scale[j], zs = zeroSum[j], a = add[j];
                    if (scalar) {
                        for (int y = 0; y < oh; y++)
                            for (int xx = 0, src = j * spanPad + y * wp, row = (j * oh + y) * ow; xx < ow; xx++) {
                                float v = (acc[src + xx] - zs) * s + a;
                                img[row + xx] = relu ? Math.max(v, 0) : v;
                            }
                        continue;
                    }
                    // the whole padded-width plane in vectors (in place), then its rows without the pad columns
                    for (int i = j * spanPad, end = i + spanPad; i < end; i += lanes) {
                        FloatVector v = FloatVector.fromArray(FS, acc, i).sub(zs).mul(s).add(a);
                        (relu ? v.max(0f) : v).intoArray(acc, i);
                    }
                    for (int y = 0; y < oh; y++) System.arraycopy(acc, j * spanPad + y * wp, img, (j * oh + y) * ow, ow);
                }
                MemorySegment.copy(img, 0, dst, Storage.F32, base + (long) b * img.length * Float.BYTES, img.length);
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

    /**
     * acc[j][i] = sum over taps t of w[j][t] * xp[off(t) + i]: register-blocked over 4 output
     * channels x 2 vectors of positions (8 accumulators that stay in registers across every tap),
     * with 1 x 1 blocks for the remainders. The taps are summed in the same order as the scalar
     * twin; every partial sum is an exact integer, so the results are equal.
     */
    private static void accumulateVector(float[] xp, int[] off, float[] wf, int o, int spanPad, float[] acc) {
        int lanes = FS.length(), taps = off.length;
        int j = 0;
        for (; j + 4 <= o; j += 4) {
            int i = 0;
            for (; i + 2 * lanes <= spanPad; i += 2 * lanes) block4x2(xp, off, wf, taps, j, i, spanPad, acc);
            for (; i < spanPad; i += lanes)
                for (int jj = j; jj < j + 4; jj++) block1x1(xp, off, wf, taps, jj, i, spanPad, acc);
        }
        for (; j < o; j++)
            for (int i = 0; i < spanPad; i += lanes) block1x1(xp, off, wf, taps, j, i, spanPad, acc);
    }

    private static void block4x2(float[] xp, int[] off, float[] wf, int taps, int j, int i, int spanPad, float[] acc) {
        int lanes = FS.length();
        FloatVector z = FloatVector.zero(FS);
        FloatVector a00 = z, a01 = z, a10 = z, a11 = z, a20 = z, a21 = z, a30 = z, a31 = z;
        int w0 = j * taps, w1 = w0 + taps, w2 = w1 + taps, w3 = w2 + taps;
        for (int t = 0; t < taps; t++) {
            int p = off[t] + i;
            FloatVector v0 = FloatVector.fromArray(FS, xp, p), v1 = FloatVector.fromArray(FS, xp, p + lanes);
            FloatVector b = FloatVector.broadcast(FS, wf[w0 + t]);
            a00 = v0.fma(b, a00); a01 = v1.fma(b, a01);
            b = FloatVector.broadcast(FS, wf[w1 + t]);
            a10 = v0.fma(b, a10); a11 = v1.fma(b, a11);
            b = FloatVector.broadcast(FS, wf[w2 + t]);
            a20 = v0.fma(b, a20); a21 = v1.fma(b, a21);
            b = FloatVector.broadcast(FS, wf[w3 + t]);
            a30 = v0.fma(b, a30); a31 = v1.fma(b, a31);
        }
        int r = j * spanPad + i;
        a00.intoArray(acc, r); a01.intoArray(acc, r + lanes); r += spanPad;
        a10.intoArray(acc, r); a11.intoArray(acc, r + lanes); r += spanPad;
        a20.intoArray(acc, r); a21.intoArray(acc, r + lanes); r += spanPad;
        a30.intoArray(acc, r); a31.intoArray(acc, r + lanes);
    }

    private static void block1x1(float[] xp, int[] off, float[] wf, int taps, int j, int i, int spanPad, float[] acc) {
        FloatVector a = FloatVector.zero(FS);
        int w0 = j * taps;
        for (int t = 0; t < taps; t++) a = FloatVector.fromArray(FS, xp, off[t] + i).fma(FloatVector.broadcast(FS, wf[w0 + t]), a);
        a.intoArray(acc, j * spanPad + i);
    }

    /** The scalar twin: same sums in the same order. */
    private static void accumulateScalar(float[] xp, int[] off, float[] wf, int o, int span, int spanPad, float[] acc) {
        int taps = off.length;
        for (int t = 0; t < taps; t++)
            for (int j = 0; j < o; j++) {
                float wt = wf[j * taps + t];
                for (int i = 0; i < span; i++) acc[j * spanPad + i] += wt * xp[off[t] + i];
            }
    }
}
