package dev.kiln.backend.cpu;

import dev.kiln.backend.Backends;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.ByteOrder;
import java.util.concurrent.atomic.AtomicLong;

/**
 * F32 convolution, max pooling and global average pooling on channel-blocked activations,
 * NCHW16c: a tensor [N, C/16, H, W, 16] holds channel c of pixel (h, w) at [n, c/16, h, w, c%16],
 * so one pixel's 16 channels are one 512-bit vector. A conv's output tile (up to 7 pixels of an
 * output row x 32 output channels) is then stored as whole vectors, with bias, residual and ReLU
 * applied in registers: no transposition back to planes, no pass after the conv, and each input
 * pixel's channels share a cache line (the planar kernels, {@link ConvImplicit} and the GEMM
 * routes, read one value per plane and write [channel][pixel] rows through a buffer). The ONNX
 * importer moves whole chains of convolutions into this layout (dev.kiln.onnx.BlockedLayout).
 *
 * <pre>
 * y[n, o/16, oh, ow, o%16] = act(bias[o] + sum over c, ki, kj of w[o, c, ki, kj] * x(n, c, oh*sh - ph + ki, ow*sw - pw + kj) + res)
 *     summed in the order: input block c/16, kernel row ki, kernel column kj, channel c%16 (from the bias);
 *     pixels outside the image count as 0 (rows outside are skipped)
 * </pre>
 * The input may also be planar NCHW (the first conv of a network, e.g. 3 channels): it is then
 * padded once and read plane by plane (blocks of min(C, 16) channels). Output channels must be a
 * multiple of 32, blocked input channels a multiple of 16. Work units are rows of 32 output channels:
 * when an image's input is larger than the weights, all channel groups of one output row run back
 * to back (its input rows stay in cache), else one group's weights serve every row of every image
 * of the batch before the next group's are read.
 *
 * <p>native/cpu/conv_nchwc.c runs the units where libkiln_cpu.so is loaded and the CPU has
 * AVX-512; {@link #units} is its Vector API twin (the same fma per element in the same order, so
 * the same bits; tests compare both with a float64 reference). Why native: the Java loop pays a
 * bounds check per broadcast and cannot keep the fourteen accumulators, two weight vectors and
 * the broadcast in registers across the unrolled channel loop (see {@link ConvImplicit}'s note:
 * 83-95 against 111-112 GFLOP/s per Zen 4 core for the same tile).
 */
public final class ConvBlocked {
    private ConvBlocked() {}

    /** Channels per block (one 512-bit vector of floats). */
    public static final int B = 16;
    /** Output channels per work unit (two blocks). */
    public static final int OG = 32;
    static final int PIECES = Integer.getInteger("kiln.conv.blockedPieces", 4);
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_512;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final float[] ZEROS = new float[B];

    private static final MethodHandle NATIVE = NativeCpu.cpuSupports("kiln_cpu_has_avx512f") ? function() : null;

    private static MethodHandle function() {
        try {
            return NativeCpu.function("kiln_f32_conv_nchwc", FunctionDescriptor.ofVoid(ValueLayout.ADDRESS, ValueLayout.ADDRESS,
                    ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.ADDRESS,
                    ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG), true);
        } catch (IllegalStateException e) {
            return null;   // an older library without the symbol
        }
    }

    /** Whether the native units run (tests switch them off to compare with the Java twin). */
    static volatile boolean useNative = true;

    /**
     * Whether the blocked layout pays here: the native kernel is loaded, the CPU has AVX-512, and
     * {@code kiln.conv.blocked} is not false. (The Java twin is correct everywhere but no faster
     * than the planar kernels, so the importer keeps planar convs without the native kernel.)
     */
    public static boolean available() {
        return NATIVE != null && !CpuConfig.scalar() && !"false".equalsIgnoreCase(System.getProperty("kiln.conv.blocked", "true"));
    }

    /** Blocked [N, C/16, H, W, 16] F32 from planar [N, C, H, W] (C a multiple of 16). */
    public static Tensor toBlocked(Tensor x) {
        requireF32(x, 4, "toBlocked");
        int n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
        if (c % B != 0) throw new IllegalArgumentException("blocked layout: " + c + " channels are not a multiple of " + B);
        Tensor y = Tensor.uninitialized(Backends.cpu(), DType.F32, n, c / B, h, w, B);
        try (Tensor xc = x.contiguous()) {
            reorder(xc, y, n * (c / B), h * w, true);
        }
        return y;
    }

    /** Planar [N, C, H, W] F32 from blocked [N, C/16, H, W, 16]. */
    public static Tensor toPlanar(Tensor x) {
        requireBlocked(x, "toPlanar");
        int n = x.size(0), cb = x.size(1), h = x.size(2), w = x.size(3);
        Tensor y = Tensor.uninitialized(Backends.cpu(), DType.F32, n, cb * B, h, w);
        try (Tensor xc = x.contiguous()) {
            reorder(xc, y, n * cb, h * w, false);
        }
        return y;
    }

    /** Lane l of pixel p sits at p * 16 + l in a block and at l * hw + p in its 16 planes. */
    private static final int[] LANE_STRIDE = java.util.stream.IntStream.range(0, B).map(i -> i * B).toArray();

    /**
     * Each of the blocks (16 planes of hw pixels, contiguous in both tensors) transposed between the
     * planar [16][hw] and the blocked [hw][16] order (toBlocked: planar to blocked), through heap
     * copies: a gather of 16 pixels' lane l per vector, or a scatter back.
     */
    private static void reorder(Tensor from, Tensor to, int blocks, int hw, boolean toBlocked) {
        MemorySegment fs = from.segment(), ts = to.segment();
        long fo = from.offset(), tOff = to.offset(), per = (long) hw * B;
        Parallel.forRange(blocks, per, (s, e) -> {
            float[] src = new float[(int) per], dst = new float[(int) per];
            for (int u = s; u < e; u++) {
                MemorySegment.copy(fs, Storage.F32, (fo + u * per) * 4, src, 0, (int) per);
                int p = 0;
                if (toBlocked) {
                    for (; p + B <= hw; p += B)           // 16 pixels: per lane l a vector over the pixels, scattered to the blocked rows
                        for (int l = 0; l < B; l++) FloatVector.fromArray(S, src, l * hw + p).intoArray(dst, p * B + l, LANE_STRIDE, 0);
                    for (; p < hw; p++) for (int l = 0; l < B; l++) dst[p * B + l] = src[l * hw + p];
                } else {
                    for (; p + B <= hw; p += B)
                        for (int l = 0; l < B; l++) FloatVector.fromArray(S, src, p * B + l, LANE_STRIDE, 0).intoArray(dst, l * hw + p);
                    for (; p < hw; p++) for (int l = 0; l < B; l++) dst[l * hw + p] = src[p * B + l];
                }
                MemorySegment.copy(dst, 0, ts, Storage.F32, (tOff + u * per) * 4, (int) per);
            }
        });
    }

    /**
     * act(conv2d(x, w, bias) + residual) in the blocked layout: x blocked [N, C/16, H, W, 16] or
     * planar [N, C, H, W] (C below 16 or a multiple of 16), w [O, C, kh, kw] (O a multiple of 32),
     * bias [O] or null, residual blocked like the output or null; groups 1, dilation 1, symmetric
     * padding. Returns blocked [N, O/16, OH, OW, 16].
     */
    public static Tensor conv(Tensor x, Tensor w, Tensor bias, int sh, int sw, int ph, int pw, Tensor residual, boolean relu) {
        return conv(x, w, bias, sh, sw, ph, pw, residual, relu, null);
    }

    /**
     * A QDQ model's QuantizeLinear -> DequantizeLinear with one scale and zero point, codes in
     * [qmin, qmax]: {@code (saturate(rint(v / scale) + zp) - zp) * scale}.
     */
    public record FakeQuant(float scale, float zp, float qmin, float qmax) {}

    /**
     * fq applied to each lane, as the two reference ops compute it: v / scale in float, clamped just
     * outside the code range (rint and saturation then give what they give unclamped), rounded to
     * even by adding and subtracting 1.5 * 2^23, plus zp, saturated; a NaN lane becomes code 0.
     * native/cpu/conv_nchwc.c's fake_quant does the same operations.
     */
    public static FloatVector fakeQuant(FloatVector v, FakeQuant fq) {
        FloatVector q = v.div(fq.scale());
        jdk.incubator.vector.VectorMask<Float> nan = q.test(jdk.incubator.vector.VectorOperators.IS_NAN);
        q = q.max(fq.qmin() - fq.zp() - 1).min(fq.qmax() - fq.zp() + 1).add(MAGIC).sub(MAGIC).add(fq.zp()).max(fq.qmin()).min(fq.qmax());
        return q.blend(0f, nan).sub(fq.zp()).mul(fq.scale());
    }

    /** 1.5 * 2^23 (see {@link #fakeQuant}). */
    private static final float MAGIC = 12582912f;

    /** The conv as {@link #conv(Tensor, Tensor, Tensor, int, int, int, int, Tensor, boolean)}, its output then fake-quantized by fq (null: not). */
    public static Tensor conv(Tensor x, Tensor w, Tensor bias, int sh, int sw, int ph, int pw, Tensor residual, boolean relu, FakeQuant fq) {
        boolean planar = x.dim() == 4;
        if (!planar) requireBlocked(x, "conv");
        else requireF32(x, 4, "conv");
        requireF32(w, 4, "conv weight");
        int n = x.size(0), c = planar ? x.size(1) : x.size(1) * B, h = x.size(2), wd = x.size(3);
        int o = w.size(0), kh = w.size(2), kw = w.size(3);
        if (w.size(1) != c) throw new IllegalArgumentException("blocked conv: weight " + java.util.Arrays.toString(w.shape()) + " does not match " + c + " input channels");
        if (o % OG != 0) throw new IllegalArgumentException("blocked conv: " + o + " output channels are not a multiple of " + OG);
        if (planar && c > B && c % B != 0) throw new IllegalArgumentException("blocked conv: planar input of " + c + " channels (needs < 16 or a multiple of 16)");
        if (sh < 1 || sw < 1 || ph < 0 || pw < 0) throw new IllegalArgumentException("blocked conv: bad stride or padding");
        int oh = (h + 2 * ph - kh) / sh + 1, ow = (wd + 2 * pw - kw) / sw + 1;
        if (oh < 1 || ow < 1) throw new IllegalArgumentException("blocked conv: kernel " + kh + "x" + kw + " larger than the padded input " + h + "x" + wd);
        if (bias != null && (bias.numel() != o)) throw new IllegalArgumentException("blocked conv: bias of " + bias.numel() + " values for " + o + " channels");
        int[] ys = {n, o / B, oh, ow, B};
        if (residual != null && (!java.util.Arrays.equals(residual.shape(), ys) || residual.dtype() != DType.F32))
            throw new IllegalArgumentException("blocked conv: residual " + java.util.Arrays.toString(residual.shape()) + " does not match the output " + java.util.Arrays.toString(ys));
        int cib = planar ? Math.min(c, B) : B;
        boolean constant = kept(w);
        Packed packed = packed(w, cib);
        MemorySegment wp = packed.segment();
        float[] b = bias == null ? null : bias.toFloatArray();
        Tensor xin = planar ? padPlanes(x, ph, pw) : x.contiguous();
        Tensor res = residual == null ? null : residual.contiguous();
        Tensor y = Tensor.uninitialized(Backends.cpu(), DType.F32, ys);
        try {
            int hp = planar ? h + 2 * ph : h, wpd = planar ? wd + 2 * pw : wd;
            long plane = (long) hp * wpd;
            Geometry g = new Geometry((long) c * plane,
                    planar ? cib * plane : plane * B, planar ? plane : 1, planar ? wpd : (long) wd * B, planar ? 1 : B,
                    cib, c / cib, hp, wpd, (long) o * oh * ow, o / OG, oh, ow, kh, kw, sh, sw, planar ? 0 : ph, planar ? 0 : pw,
                    relu, (long) c * h * wd > (long) o * c * kh * kw, fq, n);
            long[] params = g.params();
            long units = (long) n * g.og * g.oh, macs = (long) OG * c * kh * kw * ow;
            // pieces of whole units claimed by the threads in turn (a core slowed by the host then
            // takes fewer); a small conv runs on the caller
            int threads = CpuConfig.threads();
            int pieces = (int) Math.min(units, Math.max(1, Math.min((long) PIECES * threads, units * macs / (1 << 18))));
            long per = (units + pieces - 1) / pieces;
            AtomicLong next = new AtomicLong();
            int workers = Math.min(threads, pieces);
            Parallel.forChunks(workers, workers, (s, e) -> {
                for (long k; (k = next.getAndIncrement()) < pieces; ) {
                    long u0 = k * per, u1 = Math.min(units, u0 + per);
                    if (u0 < u1) run(g, params, xin, wp, b, res, y, u0, u1);
                }
            });
        } catch (RuntimeException | Error e) {
            y.close();
            throw e;
        } finally {
            if (xin != x) xin.close();
            if (res != null && res != residual) res.close();
            if (!constant) packed.close();
        }
        return y;
    }

    /** Strides (floats) and sizes of one conv, as native/cpu/conv_nchwc.c takes them (see there). */
    record Geometry(long xim, long xcb, long xci, long xrow, long xpix, int cib, int cb, int h, int w, long yim,
                    int og, int oh, int ow, int kh, int kw, int sh, int sw, int ph, int pw, boolean relu, boolean rowMajor, FakeQuant fq, int images) {
        long[] params() {
            return new long[]{xim, xcb, xci, xrow, xpix, cib, cb, h, w, yim, og, oh, ow, kh, kw, sh, sw, ph, pw, relu ? 1 : 0, rowMajor ? 1 : 0,
                    fq == null ? 0 : 1, fq == null ? 0 : Float.floatToRawIntBits(fq.scale()), fq == null ? 0 : Float.floatToRawIntBits(fq.zp()),
                    fq == null ? 0 : Float.floatToRawIntBits(fq.qmin()), fq == null ? 0 : Float.floatToRawIntBits(fq.qmax()), images};
        }
    }

    /** Units [u0, u1): the native kernel (params: g's, see {@link Geometry#params}) or the Vector API twin. */
    private static void run(Geometry g, long[] params, Tensor x, MemorySegment wp, float[] b, Tensor res, Tensor y, long u0, long u1) {
        if (NATIVE != null && useNative) {
            try {
                MemorySegment bs = b == null ? MemorySegment.NULL : MemorySegment.ofArray(b), rs = res == null ? MemorySegment.NULL : at(res);
                NATIVE.invokeExact(at(x), wp, bs, rs, at(y), MemorySegment.ofArray(ZEROS), MemorySegment.ofArray(params), u0, u1);
            } catch (Throwable t) {
                throw new IllegalStateException("blocked conv: native kernel failed: " + t, t);
            }
        } else {
            units(g, x.segment(), x.offset(), wp, b, res == null ? null : res.segment(), res == null ? 0 : res.offset(), y.segment(), y.offset(), u0, u1);
        }
    }

    private static MemorySegment at(Tensor t) { return t.segment().asSlice(t.offset() * Float.BYTES); }

    /** The Vector API twin of kiln_f32_conv_nchwc: units [u0, u1), the same fmas in the same order. */
    static void units(Geometry g, MemorySegment x, long xo, MemorySegment wp, float[] b, MemorySegment res, long ro,
                      MemorySegment y, long yo, long u0, long u1) {
        FloatVector zero = FloatVector.zero(S);
        FloatVector[] c0 = new FloatVector[7], c1 = new FloatVector[7];
        long[] xp = new long[7];
        long wtap = (long) g.cib * OG, wGroup = (long) g.cb * g.kh * g.kw * wtap, plane = (long) g.oh * g.ow * B;
        for (long u = u0; u < u1; u++) {
            int n, og, oh;
            if (g.rowMajor) {            // as native/cpu/conv_nchwc.c's unit()
                long per = (long) g.og * g.oh, r = u % per;
                n = (int) (u / per);
                og = (int) (r % g.og);
                oh = (int) (r / g.og);
            } else {
                long per = (long) g.images * g.oh, r = u % per;
                og = (int) (u / per);
                n = (int) (r / g.oh);
                oh = (int) (r % g.oh);
            }
            long xn = xo + n * g.xim, y0 = yo + n * g.yim + 2L * og * plane + (long) oh * g.ow * B, y1 = y0 + plane;
            long r0 = ro + n * g.yim + 2L * og * plane + (long) oh * g.ow * B, r1 = r0 + plane;
            FloatVector b0 = b == null ? zero : FloatVector.fromArray(S, b, OG * og), b1 = b == null ? zero : FloatVector.fromArray(S, b, OG * og + B);
            for (int ow0 = 0; ow0 < g.ow; ow0 += 7) {
                int mr = Math.min(7, g.ow - ow0);
                for (int p = 0; p < mr; p++) {
                    c0[p] = b0;
                    c1[p] = b1;
                }
                int wk = (int) (og * wGroup);
                for (int c = 0; c < g.cb; c++) {
                    for (int ki = 0; ki < g.kh; ki++) {
                        int ih = oh * g.sh - g.ph + ki;
                        if (ih < 0 || ih >= g.h) {
                            wk += (int) (g.kw * wtap);
                            continue;
                        }
                        for (int kj = 0; kj < g.kw; kj++, wk += (int) wtap) {
                            for (int p = 0; p < mr; p++) {
                                int iw = (ow0 + p) * g.sw - g.pw + kj;
                                xp[p] = iw >= 0 && iw < g.w ? xn + c * g.xcb + ih * g.xrow + iw * g.xpix : -1;
                            }
                            for (int ci = 0; ci < g.cib; ci++) {
                                long wa = 4L * (wk + ci * OG);
                                FloatVector w0 = FloatVector.fromMemorySegment(S, wp, wa, LE), w1 = FloatVector.fromMemorySegment(S, wp, wa + 4 * B, LE);
                                for (int p = 0; p < mr; p++) {
                                    float xv = xp[p] < 0 ? 0f : x.getAtIndex(Storage.F32, xp[p] + ci * g.xci);
                                    FloatVector v = FloatVector.broadcast(S, xv);
                                    c0[p] = v.fma(w0, c0[p]);
                                    c1[p] = v.fma(w1, c1[p]);
                                }
                            }
                        }
                    }
                }
                for (int p = 0; p < mr; p++) {
                    long o = (long) (ow0 + p) * B;
                    FloatVector v0 = c0[p], v1 = c1[p];
                    if (res != null) {
                        v0 = v0.add(FloatVector.fromMemorySegment(S, res, (r0 + o) * 4, LE));
                        v1 = v1.add(FloatVector.fromMemorySegment(S, res, (r1 + o) * 4, LE));
                    }
                    if (g.relu) {
                        v0 = v0.blend(zero, v0.lt(zero));
                        v1 = v1.blend(zero, v1.lt(zero));
                    }
                    if (g.fq != null) {
                        v0 = fakeQuant(v0, g.fq);
                        v1 = fakeQuant(v1, g.fq);
                    }
                    v0.intoMemorySegment(y, (y0 + o) * 4, LE);
                    v1.intoMemorySegment(y, (y1 + o) * 4, LE);
                }
            }
        }
    }

    private record Key(long off, int cib) {}

    /**
     * A weight packed as wp[og][c/cib][ki][kj][c%cib][32], off the heap on 2 MiB pages
     * ({@link WeightSlab}: a model's convs stream their weights from DRAM once per inference);
     * closed with the weight it came from.
     */
    record Packed(WeightSlab.Piece piece) implements AutoCloseable {
        MemorySegment segment() { return piece.segment; }
        @Override public void close() { piece.close(); }
    }

    /** w packed (see {@link Packed}); kept with a constant weight's storage, else made for this call (the caller closes it then). */
    static Packed packed(Tensor w, int cib) {
        return kept(w) ? w.storage().derived(new Key(w.offset(), cib), k -> pack(w, cib)) : pack(w, cib);
    }

    /** Whether w's packed copy is kept with its storage (a constant F32 weight) rather than made per call. */
    private static boolean kept(Tensor w) { return w.isContiguous() && w.storage().isConstant() && w.dtype() == DType.F32; }

    private static Packed pack(Tensor w, int cib) {
        int o = w.size(0), c = w.size(1), kh = w.size(2), kw = w.size(3), cb = c / cib;
        float[] wf = w.contiguous().toFloatArray();
        float[] p = new float[o * c * kh * kw];
        for (int oc = 0; oc < o; oc++)
            for (int ic = 0; ic < c; ic++)
                for (int ki = 0; ki < kh; ki++)
                    for (int kj = 0; kj < kw; kj++)
                        p[(int) (((((long) (oc / OG) * cb + ic / cib) * kh + ki) * kw + kj) * cib * OG + (ic % cib) * OG + oc % OG)] =
                                wf[((oc * c + ic) * kh + ki) * kw + kj];
        Packed packed = new Packed(WeightSlab.allocate(4L * p.length));
        MemorySegment.copy(p, 0, packed.segment(), Storage.F32, 0, p.length);
        return packed;
    }

    /** x [N, C, H, W] with a zero border of ph rows and pw columns (contiguous F32). */
    private static Tensor padPlanes(Tensor x, int ph, int pw) {
        if (ph == 0 && pw == 0) return x.contiguous();
        int n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3), hp = h + 2 * ph, wp = w + 2 * pw;
        Tensor y = Tensor.zeros(DType.F32, n, c, hp, wp);
        MemorySegment xs = x.segment(), ys = y.segment();
        long[] st = x.strides();
        Parallel.forRange(n * c, (long) hp * wp, (s, e) -> {
            for (int u = s; u < e; u++) {
                long src = x.offset() + (u / c) * st[0] + (u % c) * st[1], dst = (long) u * hp * wp + (long) ph * wp + pw;
                for (int i = 0; i < h; i++)
                    if (st[3] == 1) MemorySegment.copy(xs, (src + i * st[2]) * 4, ys, (dst + (long) i * wp) * 4, 4L * w);
                    else for (int j = 0; j < w; j++) ys.setAtIndex(Storage.F32, dst + (long) i * wp + j, xs.getAtIndex(Storage.F32, src + i * st[2] + j * st[3]));
            }
        });
        return y;
    }

    /** Max pooling of blocked x (pixels outside the image are skipped; NaN propagates). */
    public static Tensor maxPool(Tensor x, int kh, int kw, int sh, int sw, int ph, int pw) {
        requireBlocked(x, "maxPool");
        int n = x.size(0), cb = x.size(1), h = x.size(2), w = x.size(3);
        int oh = (h + 2 * ph - kh) / sh + 1, ow = (w + 2 * pw - kw) / sw + 1;
        if (oh < 1 || ow < 1 || ph >= kh || pw >= kw) throw new IllegalArgumentException("blocked max pool: kernel " + kh + "x" + kw + " does not fit " + h + "x" + w);
        Tensor xc = x.contiguous();
        Tensor y = Tensor.uninitialized(Backends.cpu(), DType.F32, n, cb, oh, ow, B);
        MemorySegment xs = xc.segment(), ys = y.segment();
        long xo = xc.offset();
        try {
            Parallel.forRange(n * cb * oh, (long) ow * kh * kw * B, (s, e) -> {
                for (int u = s; u < e; u++) {
                    int plane = u / oh, i = u % oh;
                    long xb = xo + (long) plane * h * w * B, yb = ((long) plane * oh + i) * ow * B;
                    for (int j = 0; j < ow; j++) {
                        FloatVector m = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
                        for (int ki = 0; ki < kh; ki++) {
                            int ih = i * sh - ph + ki;
                            if (ih < 0 || ih >= h) continue;
                            for (int kj = 0; kj < kw; kj++) {
                                int iw = j * sw - pw + kj;
                                if (iw < 0 || iw >= w) continue;
                                FloatVector v = FloatVector.fromMemorySegment(S, xs, (xb + ((long) ih * w + iw) * B) * 4, LE);
                                m = m.max(v);
                            }
                        }
                        m.intoMemorySegment(ys, (yb + (long) j * B) * 4, LE);
                    }
                }
            });
        } finally {
            if (xc != x) xc.close();
        }
        return y;
    }

    /** Mean over H and W of blocked x: planar [N, C, 1, 1] (the blocked and planar layouts agree there). */
    public static Tensor globalAveragePool(Tensor x) {
        requireBlocked(x, "globalAveragePool");
        int n = x.size(0), cb = x.size(1), h = x.size(2), w = x.size(3);
        Tensor xc = x.contiguous();
        Tensor y = Tensor.uninitialized(Backends.cpu(), DType.F32, n, cb * B, 1, 1);
        MemorySegment xs = xc.segment(), ys = y.segment();
        long xo = xc.offset(), hw = (long) h * w;
        float inv = 1f / hw;
        try {
            Parallel.forRange(n * cb, hw * B, (s, e) -> {
                for (int u = s; u < e; u++) {
                    long xb = xo + u * hw * B;
                    FloatVector acc = FloatVector.zero(S);
                    for (long p = 0; p < hw; p++) acc = acc.add(FloatVector.fromMemorySegment(S, xs, (xb + p * B) * 4, LE));
                    acc.mul(inv).intoMemorySegment(ys, (long) u * B * 4, LE);
                }
            });
        } finally {
            if (xc != x) xc.close();
        }
        return y;
    }

    private static void requireF32(Tensor t, int rank, String what) {
        if (t.dtype() != DType.F32 || t.dim() != rank)
            throw new IllegalArgumentException("blocked " + what + ": needs F32 of rank " + rank + ", got " + t.dtype() + " " + java.util.Arrays.toString(t.shape()));
    }

    private static void requireBlocked(Tensor t, String what) {
        requireF32(t, 5, what);
        if (t.size(4) != B) throw new IllegalArgumentException("blocked " + what + ": last dim must be " + B + ", got " + java.util.Arrays.toString(t.shape()));
    }
}
