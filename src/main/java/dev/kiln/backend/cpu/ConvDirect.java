package dev.kiln.backend.cpu;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * Direct F32 conv2d for stride 1 (groups 1, T = C*kh*kw taps per output up to {@link #maxTaps}):
 * no column matrix, which for small channel counts costs as much as the GEMM itself:
 * <pre>
 * xpad [C, H+2ph, W+2pw] (+ slack): the image with a zero border, built once per image
 * out[o, oh, ow0:ow0+L] = bias[o] + sum_t w[o, t] * xpad[taps[t] + oh*Wp + ow0 : +L]
 *   taps[t] = c*Hp*Wp + ki*dh*Wp + kj*dw for t = (c*kh + ki)*kw + kj  (w packed by {@link #packWeights})
 * </pre>
 * Two vector strips of L output columns times 8 output channels are kept in registers (16
 * accumulators, each weight broadcast feeding two FMAs). A fused ReLU (ONNX Conv+Relu) is applied
 * to the accumulators before they are stored, saving a pass over the output. Work units (image, 8 output channels)
 * are spread over threads.
 */
final class ConvDirect {
    private ConvDirect() {}

    private static final VectorSpecies<Float> S = CpuConfig.F32;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    /**
     * Convs with up to this many taps per output (C*kh*kw) take this kernel instead of
     * {@link ConvImplicit}; property {@code kiln.conv.directMaxTaps} (0 = never). Few taps leave
     * the implicit GEMM's per-output transpose and its 32-channel panels (16 output channels fill
     * half of one) without enough work to pay for them. Measured on Zen 4, 2 threads, batch 32
     * (the training CNN's layers), this kernel vs the implicit GEMM: 1->16 @28 0.18-0.24 vs
     * 0.39-0.63 ms; 16->32 @14 0.53 vs 0.61-0.71 ms. ResNet-50's 3x3 layers (576 taps and up) are
     * faster on the implicit GEMM (64 @56, batch 1: 1.69 vs 2.69 ms).
     */
    static int maxTaps = Integer.getInteger("kiln.conv.directMaxTaps", 288);

    /** F32, stride 1, groups 1, not a plain 1x1 (that is a GEMM on the input as it is). */
    static boolean applies(ConvGeometry g, DType t) {
        return t == DType.F32 && g.sh() == 1 && g.sw() == 1 && g.groups() == 1 && !g.pointwise()
                && g.c() * g.kh() * g.kw() <= maxTaps;
    }

    /** out = conv2d(x, w, bias), with ReLU applied to the accumulators before they are stored when relu. */
    static void conv2d(Tensor x, Tensor w, Tensor bias, ConvGeometry g, Tensor out, boolean relu) {
        int hp = g.h() + 2 * g.ph(), wp = g.w() + 2 * g.pw();
        float[] wpk = packWeights(w, g);
        float[] b = bias == null ? new float[g.o()] : bias.toFloatArray();
        int[] taps = new int[g.c() * g.kh() * g.kw()];
        for (int c = 0, t = 0; c < g.c(); c++)
            for (int ki = 0; ki < g.kh(); ki++)
                for (int kj = 0; kj < g.kw(); kj++) taps[t++] = (c * hp + ki * g.dh()) * wp + kj * g.dw();
        long[] xs = x.strides();
        MemorySegment xseg = x.segment(), oseg = out.segment();
        Strips st = Strips.of(g, wp);
        // work units: (image, group of 8 output channels; the last group takes the O % 8 tail),
        // so that a single image still spreads over threads
        int groups = Math.max(1, g.o() / 8);
        CpuConv.onWorkers(g.n() * groups, 2 * g.macsPerImage() / groups, (s, e) -> {
            float[] xpad = new float[g.c() * hp * wp + S.length()], tmp = new float[g.h() * g.w()];
            int padded = -1;
            for (int u = s; u < e; u++) {
                int n = u / groups, k = u % groups;
                if (n != padded) pad(g, xseg, x.offset() + n * xs[0], xs, xpad, hp, wp, tmp);
                padded = n;
                int o1 = k == groups - 1 ? g.o() : 8 * (k + 1);
                image(g, st, xpad, taps, wpk, b, oseg, out.offset() + (long) n * g.o() * g.p(), 8 * k, o1, relu);
            }
        });
    }

    /**
     * The weight in blocks of 8 output channels, tap-major inside a block, so a block's inner loop
     * reads 8 consecutive floats per tap: wp[((o/8)*T + t)*8 + o%8] = w[o, t] (t = (c*kh + ki)*kw + kj;
     * the last block is zero-padded to 8).
     */
    private static float[] packWeights(Tensor w, ConvGeometry g) {
        int taps = g.c() * g.kh() * g.kw(), o = g.o();
        float[] wf = w.toFloatArray(); // [O, T] row-major
        float[] p = new float[((o + 7) / 8) * 8 * taps];
        for (int oc = 0; oc < o; oc++) {
            int blk = ((oc >> 3) * taps) * 8 + (oc & 7);
            for (int t = 0; t < taps; t++) p[blk + 8 * t] = wf[oc * taps + t];
        }
        return p;
    }

    /**
     * Copies image rows into the interior of xpad; the border stays zero (never written). A
     * contiguous plane is fetched with one segment copy into tmp (length H*W) and spread with
     * arraycopy: a segment copy per short row costs more than the row.
     */
    private static void pad(ConvGeometry g, MemorySegment x, long off, long[] xs, float[] xpad, int hp, int wp, float[] tmp) {
        int h = g.h(), w = g.w();
        for (int c = 0; c < g.c(); c++) {
            long plane = off + c * xs[1];
            int dst = (c * hp + g.ph()) * wp + g.pw();
            if (xs[3] == 1 && xs[2] == w) {
                MemorySegment.copy(x, Storage.F32, plane * 4, tmp, 0, h * w);
                for (int r = 0; r < h; r++) System.arraycopy(tmp, r * w, xpad, dst + r * wp, w);
                continue;
            }
            for (int r = 0; r < h; r++) {
                long src = plane + r * xs[2];
                if (xs[3] == 1) MemorySegment.copy(x, Storage.F32, src * 4, xpad, dst + r * wp, w);
                else for (int j = 0; j < w; j++) xpad[dst + r * wp + j] = x.getAtIndex(Storage.F32, src + j * xs[3]);
            }
        }
    }

    /**
     * The vector strips of one output plane, in row-major order: strip k covers output columns
     * [ow0, ow0 + L) of row oh, reading xpad from base[k] = oh*Wp + ow0 and writing at dst[k] =
     * oh*OW + ow0. A strip running past its row end spills into the next row, which is rewritten
     * later, so only strips spilling past the plane end (a suffix, from index full) need a mask.
     */
    record Strips(int[] base, int[] dst, int[] width, int full) {
        static Strips of(ConvGeometry g, int wp) {
            int l = S.length(), ow = g.ow(), per = (ow + l - 1) / l, n = g.oh() * per, full = n;
            int[] base = new int[n], dst = new int[n], width = new int[n];
            for (int oh = 0, k = 0; oh < g.oh(); oh++)
                for (int ow0 = 0; ow0 < ow; ow0 += l, k++) {
                    base[k] = oh * wp + ow0;
                    dst[k] = oh * ow + ow0;
                    width[k] = Math.min(l, ow - ow0);
                    if (dst[k] + l > g.p() && full == n) full = k;
                }
            return new Strips(base, dst, width, full);
        }
    }

    /** Output channels [o0, o1) of one image (at element offset outOff), strip by strip. */
    private static void image(ConvGeometry g, Strips st, float[] xpad, int[] taps, float[] wpk, float[] b,
                              MemorySegment out, long outOff, int o0, int o1, boolean relu) {
        int nt = taps.length, o8 = o0 + ((o1 - o0) & ~7), p = g.p(), full = st.full();
        int[] base = st.base(), dst = st.dst();
        for (int k = 0; k < full; k += 2) {
            long d = outOff + dst[k];
            if (k + 1 < full) {
                long d2 = outOff + dst[k + 1];
                for (int o = o0; o < o8; o += 8)
                    block8x2(xpad, base[k], base[k + 1], taps, wpk, o * nt, b, o, out, d + (long) o * p, d2 + (long) o * p, p, relu);
                for (int o = o8; o < o1; o++) {
                    block1(xpad, base[k], taps, wpk, w1(o, nt), b[o], out, d + (long) o * p, null, relu);
                    block1(xpad, base[k + 1], taps, wpk, w1(o, nt), b[o], out, d2 + (long) o * p, null, relu);
                }
            } else {
                for (int o = o0; o < o8; o += 8) block8(xpad, base[k], taps, wpk, o * nt, b, o, out, d + (long) o * p, p, relu);
                for (int o = o8; o < o1; o++) block1(xpad, base[k], taps, wpk, w1(o, nt), b[o], out, d + (long) o * p, null, relu);
            }
        }
        for (int k = full; k < base.length; k++) {
            VectorMask<Float> m = S.indexInRange(0, st.width()[k]);
            for (int o = o0; o < o1; o++) block1(xpad, base[k], taps, wpk, w1(o, nt), b[o], out, outOff + dst[k] + (long) o * p, m, relu);
        }
    }

    /** Index of output channel o's first weight in the packed layout (stride 8 per tap). */
    private static int w1(int o, int nt) { return (o & ~7) * nt + (o & 7); }

    /** Like {@link #block8} for two strips at once (16 accumulators: each weight broadcast feeds two FMAs). */
    private static void block8x2(float[] xp, int base, int base2, int[] taps, float[] w, int wb, float[] b, int o,
                                 MemorySegment out, long dst, long dst2, long p, boolean relu) {
        FloatVector a0 = FloatVector.broadcast(S, b[o]), a1 = FloatVector.broadcast(S, b[o + 1]);
        FloatVector a2 = FloatVector.broadcast(S, b[o + 2]), a3 = FloatVector.broadcast(S, b[o + 3]);
        FloatVector a4 = FloatVector.broadcast(S, b[o + 4]), a5 = FloatVector.broadcast(S, b[o + 5]);
        FloatVector a6 = FloatVector.broadcast(S, b[o + 6]), a7 = FloatVector.broadcast(S, b[o + 7]);
        FloatVector c0 = a0, c1 = a1, c2 = a2, c3 = a3, c4 = a4, c5 = a5, c6 = a6, c7 = a7;
        for (int t = 0; t < taps.length; t++) {
            FloatVector u = FloatVector.fromArray(S, xp, base + taps[t]);
            FloatVector v = FloatVector.fromArray(S, xp, base2 + taps[t]);
            int wi = wb + 8 * t;
            FloatVector k = FloatVector.broadcast(S, w[wi]);
            a0 = u.fma(k, a0); c0 = v.fma(k, c0);
            k = FloatVector.broadcast(S, w[wi + 1]);
            a1 = u.fma(k, a1); c1 = v.fma(k, c1);
            k = FloatVector.broadcast(S, w[wi + 2]);
            a2 = u.fma(k, a2); c2 = v.fma(k, c2);
            k = FloatVector.broadcast(S, w[wi + 3]);
            a3 = u.fma(k, a3); c3 = v.fma(k, c3);
            k = FloatVector.broadcast(S, w[wi + 4]);
            a4 = u.fma(k, a4); c4 = v.fma(k, c4);
            k = FloatVector.broadcast(S, w[wi + 5]);
            a5 = u.fma(k, a5); c5 = v.fma(k, c5);
            k = FloatVector.broadcast(S, w[wi + 6]);
            a6 = u.fma(k, a6); c6 = v.fma(k, c6);
            k = FloatVector.broadcast(S, w[wi + 7]);
            a7 = u.fma(k, a7); c7 = v.fma(k, c7);
        }
        if (relu) {
            FloatVector z = FloatVector.zero(S);
            a0 = a0.max(z); a1 = a1.max(z); a2 = a2.max(z); a3 = a3.max(z);
            a4 = a4.max(z); a5 = a5.max(z); a6 = a6.max(z); a7 = a7.max(z);
            c0 = c0.max(z); c1 = c1.max(z); c2 = c2.max(z); c3 = c3.max(z);
            c4 = c4.max(z); c5 = c5.max(z); c6 = c6.max(z); c7 = c7.max(z);
        }
        // strip 1 first: its spill past the row end is overwritten by strip 2 or a later row
        a0.intoMemorySegment(out, dst * 4, LE);
        a1.intoMemorySegment(out, (dst + p) * 4, LE);
        a2.intoMemorySegment(out, (dst + 2 * p) * 4, LE);
        a3.intoMemorySegment(out, (dst + 3 * p) * 4, LE);
        a4.intoMemorySegment(out, (dst + 4 * p) * 4, LE);
        a5.intoMemorySegment(out, (dst + 5 * p) * 4, LE);
        a6.intoMemorySegment(out, (dst + 6 * p) * 4, LE);
        a7.intoMemorySegment(out, (dst + 7 * p) * 4, LE);
        c0.intoMemorySegment(out, dst2 * 4, LE);
        c1.intoMemorySegment(out, (dst2 + p) * 4, LE);
        c2.intoMemorySegment(out, (dst2 + 2 * p) * 4, LE);
        c3.intoMemorySegment(out, (dst2 + 3 * p) * 4, LE);
        c4.intoMemorySegment(out, (dst2 + 4 * p) * 4, LE);
        c5.intoMemorySegment(out, (dst2 + 5 * p) * 4, LE);
        c6.intoMemorySegment(out, (dst2 + 6 * p) * 4, LE);
        c7.intoMemorySegment(out, (dst2 + 7 * p) * 4, LE);
    }

    /**
     * Output channels o..o+7 of one full strip; dst is the element offset of (o, oh, ow0), planes p
     * apart. The eight stores are written out: a vector passed to a helper that is not inlined
     * would be boxed (measured 5x slower for 9 taps).
     */
    private static void block8(float[] xp, int base, int[] taps, float[] w, int wb, float[] b, int o,
                               MemorySegment out, long dst, long p, boolean relu) {
        FloatVector a0 = FloatVector.broadcast(S, b[o]), a1 = FloatVector.broadcast(S, b[o + 1]);
        FloatVector a2 = FloatVector.broadcast(S, b[o + 2]), a3 = FloatVector.broadcast(S, b[o + 3]);
        FloatVector a4 = FloatVector.broadcast(S, b[o + 4]), a5 = FloatVector.broadcast(S, b[o + 5]);
        FloatVector a6 = FloatVector.broadcast(S, b[o + 6]), a7 = FloatVector.broadcast(S, b[o + 7]);
        for (int t = 0; t < taps.length; t++) {
            FloatVector v = FloatVector.fromArray(S, xp, base + taps[t]);
            int wi = wb + 8 * t;
            a0 = v.fma(FloatVector.broadcast(S, w[wi]), a0);
            a1 = v.fma(FloatVector.broadcast(S, w[wi + 1]), a1);
            a2 = v.fma(FloatVector.broadcast(S, w[wi + 2]), a2);
            a3 = v.fma(FloatVector.broadcast(S, w[wi + 3]), a3);
            a4 = v.fma(FloatVector.broadcast(S, w[wi + 4]), a4);
            a5 = v.fma(FloatVector.broadcast(S, w[wi + 5]), a5);
            a6 = v.fma(FloatVector.broadcast(S, w[wi + 6]), a6);
            a7 = v.fma(FloatVector.broadcast(S, w[wi + 7]), a7);
        }
        if (relu) {
            FloatVector z = FloatVector.zero(S);
            a0 = a0.max(z); a1 = a1.max(z); a2 = a2.max(z); a3 = a3.max(z);
            a4 = a4.max(z); a5 = a5.max(z); a6 = a6.max(z); a7 = a7.max(z);
        }
        a0.intoMemorySegment(out, dst * 4, LE);
        a1.intoMemorySegment(out, (dst + p) * 4, LE);
        a2.intoMemorySegment(out, (dst + 2 * p) * 4, LE);
        a3.intoMemorySegment(out, (dst + 3 * p) * 4, LE);
        a4.intoMemorySegment(out, (dst + 4 * p) * 4, LE);
        a5.intoMemorySegment(out, (dst + 5 * p) * 4, LE);
        a6.intoMemorySegment(out, (dst + 6 * p) * 4, LE);
        a7.intoMemorySegment(out, (dst + 7 * p) * 4, LE);
    }

    /** One output channel of one strip, stored under mask m (null: the whole vector). */
    private static void block1(float[] xp, int base, int[] taps, float[] w, int wb, float bias,
                               MemorySegment out, long dst, VectorMask<Float> m, boolean relu) {
        FloatVector a = FloatVector.broadcast(S, bias);
        for (int t = 0; t < taps.length; t++)
            a = FloatVector.fromArray(S, xp, base + taps[t]).fma(FloatVector.broadcast(S, w[wb + 8 * t]), a);
        if (relu) a = a.max(FloatVector.zero(S));
        if (m == null) a.intoMemorySegment(out, dst * 4, LE);
        else a.intoMemorySegment(out, dst * 4, LE, m);
    }
}
