package dev.kiln.backend.cpu;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.concurrent.atomic.AtomicReference;

/**
 * F32 conv2d (groups 1, any kernel, stride, padding and dilation) as an implicit GEMM with the
 * output pixels as GEMM rows and the output channels as vector columns: no column matrix.
 * <pre>
 * xq [C, Hp, Wp]: the image with its zero border (Hp = H + 2 ph, Wp = W + 2 pw), built once per image
 * out[o, oh, ow] = bias[o] + sum_t w[o, t] * xq[tap[t] + base(oh, ow)]
 *     t = (c*kh + ki)*kw + kj,  tap[t] = (c*Hp + ki*dh)*Wp + kj*dw,  base(oh, ow) = oh*sh*Wp + ow*sw
 * </pre>
 * so every tap of every output pixel, whatever the stride, is one scalar at a fixed offset from the
 * pixel's base (the kernel broadcasts input values, so a stride needs no contiguous pixels). The micro-kernel keeps a tile of {@link #MR} output pixels x 2 vectors of
 * output channels (6 x 32 with 512-bit vectors, 6 x 16 with 256-bit) in twelve accumulators; per
 * tap it loads two weight vectors (packed [O/NR][T][NR], once per constant weight) and broadcasts
 * six input values: the same load-to-FMA ratio as the GEMM kernel, without building, writing and
 * re-packing the C*kh*kw x OH*OW column matrix that im2col + GEMM pays for, and without the
 * partly empty vectors that a pixel-vector kernel leaves on a 7- or 14-wide plane.
 *
 * <p>Work units are (NR output channels, a run of up to {@link #MAX_RUN} pixel tiles of the whole
 * batch's pixel list), claimed dynamically, so a single image spreads over the threads and a
 * weight panel serves several images (batch 8 of a 7x7 plane: 3 units per panel instead of 8). A unit walks the taps in
 * blocks of {@link #KC} (the block's weights stay in L1 while its tiles pass over them), keeping
 * its tiles' accumulators in a small [pixel][channel] buffer between blocks (started from the
 * bias); at the end one gather per channel and L pixels turns them into [channel][pixel] rows
 * (ReLU applied on the way), copied into out's planes. Each output is summed in tap order by one
 * unit, so the result does not depend on the thread count.
 *
 * <p>Measured on Zen 4, 2 threads, against ONNX Runtime 1.23.2 (MLAS) on single-conv models in
 * the same process (docs/BENCHMARKS.md, round 4): ResNet-50's 3x3 and 7x7 convs went from 1.11-1.52x
 * ORT's time (im2col + GEMM, and an earlier stride-1 pixel-vector kernel) to 0.96-1.21x. 1x1
 * convs stay on the GEMM: forcing them here ({@code kiln.conv.implicit=always}) was slower or
 * equal on 11 of ResNet-50's 12 1x1 shapes at batch 1 (same-process A/B; only 512->2048 at 7x7,
 * batch 8, gained: 6.5 -> 5.7 ms). With the native unit, 1x1 convs on output planes of at most
 * {@link #SMALL_PLANE} pixels come here (see there). The kernel has five unrolled variants (general, and 6 or 7
 * pixels at stride 1 or 2) because C2 merges bounds checks only for literal offsets.
 */
final class ConvImplicit {
    private ConvImplicit() {}

    private static final VectorSpecies<Float> S = CpuConfig.F32;
    private static final int L = S.length();
    private static final java.nio.ByteOrder LE = java.nio.ByteOrder.LITTLE_ENDIAN;
    /** Output channels per panel: two vectors. */
    static final int NR = 2 * L;
    /** Output pixels per tile (seven where the rows allow, see {@link Layout#of}). */
    static final int MR = 6;
    /** Whether seven-pixel tiles are used where they fit ({@code kiln.conv.sevenTiles}, default true). */
    static volatile boolean sevenTiles = !"false".equals(System.getProperty("kiln.conv.sevenTiles"));
    /** Taps per block: a block's weights (KC x NR floats, 16 KB with 512-bit vectors) stay in L1 while the unit's tiles pass over them. */
    static int KC = Integer.getInteger("kiln.conv.kc", 128);
    /** Most tiles per work unit (its accumulators: MAX_RUN x 6 or 7 x NR floats). */
    static final int MAX_RUN = 32;

    /**
     * Whether this kernel takes the conv ({@code kiln.conv.implicit}: "auto" (default), "always",
     * "never"). Auto: F32, groups 1, kernels larger than 1x1 (a 1x1 conv is a GEMM on the input as it is, or on its strided view).
     */
    static String mode = System.getProperty("kiln.conv.implicit", "auto");

    static boolean applies(ConvGeometry g, DType t) {
        if (t != DType.F32 || g.groups() != 1 || CpuConfig.scalar() || mode.equals("never")) return false;
        // the padded batch lives in one float[] indexed by int: larger inputs take im2col, image by image
        long padded = (long) g.n() * g.c() * (g.h() + 2L * g.ph()) * (g.w() + 2L * g.pw());
        if (padded > MAX_PADDED || (long) g.n() * g.p() > MAX_PADDED) return false;
        return mode.equals("always") || g.kh() * g.kw() > 1 || g.p() <= SMALL_PLANE && NATIVE_UNIT != null && useNative;
    }

    /**
     * Output planes up to this many pixels (ResNet-50's 7x7 stage) take this kernel for 1x1 convs
     * too, when the native unit runs: the GEMM's 32-pixel panels leave 15 of 64 columns empty at 49
     * pixels, while this kernel's 6/7-pixel tiles fit them. Same-process A/B on Zen 4, 2 threads,
     * batch 1 / 8: 512->2048 and 2048->512 at 7x7 and 1024->2048 stride 2 ran at 0.81-0.83x the
     * GEMM's time; 14x14 outputs were mixed (0.91-1.44x) and larger planes slower (1.1-2.2x).
     * {@code -Dkiln.conv.smallPlane=0} turns it off.
     */
    static final int SMALL_PLANE = Integer.getInteger("kiln.conv.smallPlane", 64);

    /** Most elements of the padded batch (and output pixels) this kernel takes: 2^30 (4 GB). */
    static final long MAX_PADDED = 1L << 30;

    private record Key(long off, int o, int taps, int nr) {}

    /**
     * The weight packed for {@link #kernel}: wp[(o/NR)*T*NR + t*NR + o%NR] = w[o, t], zero-padded to
     * NR; made once and kept with a constant weight's storage.
     */
    static float[] packed(Tensor w, ConvGeometry g) {
        int taps = g.kg(), o = g.o();
        if (w.isContiguous() && w.storage().isConstant())
            return w.storage().derived(new Key(w.offset(), o, taps, NR), k -> pack(w, o, taps));
        return pack(w, o, taps);
    }

    private static float[] pack(Tensor w, int o, int taps) {
        float[] wf = w.toFloatArray(); // [O, T] row-major
        int panels = (o + NR - 1) / NR;
        float[] p = new float[panels * taps * NR];
        for (int oc = 0; oc < o; oc++) {
            int base = (oc / NR) * taps * NR + oc % NR;
            for (int t = 0; t < taps; t++) p[base + t * NR] = wf[oc * taps + t];
        }
        return p;
    }

    /** Sizes of the padded image, the offsets of the taps and output pixels in it, and the tiles. */
    record Layout(int hp, int wp, int planeElems, int[] taps, int[] pixelBase, int mr, int[] tileStep) {
        static Layout of(ConvGeometry g) {
            // seven-pixel tiles where they fit the rows exactly (every tile then takes a
            // constant-offset kernel) and the registers hold fourteen accumulators (512-bit)
            boolean seven = sevenTiles && L == 16 && g.ow() % 7 == 0 && (g.sw() == 1 || g.sw() == 2);
            Layout lay = of(g, seven ? 7 : MR);
            if (lay.mr() == 7 && java.util.Arrays.stream(lay.tileStep()).anyMatch(t -> t == 0)) lay = of(g, MR);
            return lay;
        }

        private static Layout of(ConvGeometry g, int mr) {
            int hp = g.h() + 2 * g.ph(), wp = g.w() + 2 * g.pw();
            int[] taps = new int[g.kg()];
            for (int c = 0, t = 0; c < g.c(); c++)
                for (int ki = 0; ki < g.kh(); ki++)
                    for (int kj = 0; kj < g.kw(); kj++) taps[t++] = (c * hp + ki * g.dh()) * wp + kj * g.dw();
            int p = g.p(), all = g.n() * p, plane = g.c() * hp * wp;
            // the pixels of all images in one list (so a tile or a unit may span images and a weight
            // panel serves the whole batch), padded to whole tiles with copies of the last pixel
            // (computed, never stored); entry i is the offset of pixel i's window in xq
            int[] base = new int[(all + mr - 1) / mr * mr];
            for (int i = 0; i < base.length; i++) {
                int q = Math.min(i, all - 1), n = q / p, r = q % p;
                base[i] = n * plane + (r / g.ow()) * g.sh() * wp + (r % g.ow()) * g.sw();
            }
            // per tile: 1 or 2 when its pixels are evenly spaced by that step (one row of one image
            // at stride 1 or 2: the kernels with constant offsets), else 0 (the general kernel)
            int[] step = new int[base.length / mr];
            for (int t = 0; t < step.length; t++) {
                int d = base[t * mr + 1] - base[t * mr];
                boolean even = d == 1 || d == 2;
                for (int r = 2; r < mr && even; r++) even = base[t * mr + r] - base[t * mr] == r * d;
                step[t] = even ? d : 0;
            }
            return new Layout(hp, wp, plane, taps, base, mr, step);
        }
    }

    /**
     * out = act(conv2d(x, w, bias) + residual), act = max(., 0) when relu; residual (null: none) is
     * contiguous F32 of out's shape. The residual and ReLU are applied as each unit's pixels are
     * copied out (in that order, the rounding of the separate Add and Relu).
     */
    static void conv2d(Tensor x, Tensor w, Tensor bias, ConvGeometry g, Tensor out, Tensor residual, boolean relu) {
        float[] wp = packed(w, g);
        Layout lay = Layout.of(g);
        int o = g.o(), panels = (o + NR - 1) / NR;
        float[] b = new float[panels * NR];
        if (bias != null) System.arraycopy(bias.toFloatArray(), 0, b, 0, o);
        int plane = lay.planeElems();
        float[] xq = Buffers.take((long) g.n() * plane);
        try {
            long[] xs = x.strides();
            MemorySegment xseg = x.segment();
            Parallel.forRange(g.n() * g.c(), (long) g.h() * g.w(), (s, e) -> {
                float[] scratch = new float[g.h() * g.w()];
                for (int u = s; u < e; u++) {
                    int n = u / g.c(), c = u % g.c();
                    pad(g, lay, xseg, x.offset() + n * xs[0] + c * xs[1], xs[2], xs[3], xq,
                            n * plane + c * lay.hp() * lay.wp(), scratch);
                }
            });
            int mr = lay.mr(), tiles = lay.pixelBase().length / mr, nt = g.kg();
            long tileCost = 2L * mr * NR * nt;
            // runs of tiles: enough units for the threads to balance, each long enough to amortise its
            // weight panel, short enough that the unit's accumulators stay near L1
            int perUnit = (int) Math.max(1, Math.min(Math.min(tiles, MAX_RUN), (long) tiles * panels / (8L * CpuConfig.threads())));
            int runs = (tiles + perUnit - 1) / perUnit, units = panels * runs;
            long outOff = out.offset(), resOff = residual == null ? 0 : residual.offset();
            MemorySegment oseg = out.segment(), rseg = residual == null ? null : residual.segment();
            int workers = (long) tiles * panels * tileCost < (1 << 20) ? 1 : Math.min(units, CpuConfig.threads());
            // units in the order that re-reads the smaller operand: all panels of a run of pixels back to
            // back while those pixels are in cache (images larger than the weights, e.g. 64 channels
            // at 56x56, batch 8), or all runs of a panel while its weights are (512 channels at 7x7)
            boolean runMajor = (long) g.n() * plane > (long) panels * nt * NR;
            java.util.concurrent.atomic.AtomicInteger next = new java.util.concurrent.atomic.AtomicInteger();
            int cap = (perUnit * mr + L - 1) / L * L;
            Parallel.forChunks(workers, workers, (s, e) -> {
                float[] acc = new float[cap * NR], run = new float[NR * cap];
                for (int u; (u = next.getAndIncrement()) < units; ) {
                    int r = runMajor ? u / panels : u % runs, pn = runMajor ? u % panels : u / runs;
                    int t0 = r * perUnit, t1 = Math.min(tiles, t0 + perUnit);
                    if (NATIVE_UNIT != null && useNative) nativeUnit(lay, xq, wp, pn, b, t0, t1, acc);
                    else
                        for (int k0 = 0; k0 < nt; k0 += KC)
                            for (int t = t0; t < t1; t++)
                                tile(lay, xq, wp, pn, b, t * mr, k0, Math.min(nt, k0 + KC), acc, (t - t0) * mr * NR);
                    int q0 = t0 * mr, len = Math.min(g.n() * g.p(), t1 * mr) - q0, o0 = pn * NR, cols = Math.min(NR, o - o0);
                    transpose(acc, run, cap, len, cols, relu && rseg == null);
                    // the unit's pixels, image by image, into each channel's plane
                    for (int q = q0; q < q0 + len; ) {
                        int n = q / g.p(), p0 = q % g.p(), m = Math.min(g.p() - p0, q0 + len - q);
                        long img = (long) n * o * g.p() + p0;
                        for (int j = 0; j < cols; j++) {
                            long at = img + (long) (o0 + j) * g.p();
                            if (rseg == null) MemorySegment.copy(run, j * cap + (q - q0), oseg, Storage.F32, (outOff + at) * 4, m);
                            else addStore(run, j * cap + (q - q0), rseg, resOff + at, oseg, outOff + at, m, relu);
                        }
                        q += m;
                    }
                }
            });
        } finally {
            Buffers.give(xq);
        }
    }

    /**
     * native/cpu/conv_implicit.c's unit loop (bitwise equal to the {@link #tile} loop it replaces),
     * or null: 512-bit vectors (NR = 32) and AVX-512 only.
     */
    private static final MethodHandle NATIVE_UNIT = NR == 32 && NativeCpu.cpuSupports("kiln_cpu_has_avx512f")
            ? NativeCpu.function("kiln_f32_conv_unit", FunctionDescriptor.ofVoid(ValueLayout.ADDRESS, ValueLayout.ADDRESS,
                    ValueLayout.ADDRESS, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT,
                    ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.ADDRESS), true)
            : null;
    /** Whether the native unit loop runs when present ({@code kiln.conv.native}, default true; tests compare both). */
    static volatile boolean useNative = !"false".equals(System.getProperty("kiln.conv.native"));

    /** Whether this JVM has the native unit loop (the library loaded and the CPU has AVX-512). */
    static boolean hasNative() { return NATIVE_UNIT != null; }

    /**
     * Tiles [t0, t1) x panel pn over all taps into acc, as the {@link #tile} loop does, in one native
     * call: a critical call (heap arrays in place, no safepoint while it runs), at most
     * {@link #MAX_RUN} tiles of one panel, under a millisecond on the largest ResNet-50 conv.
     */
    private static void nativeUnit(Layout lay, float[] xq, float[] wp, int pn, float[] b, int t0, int t1, float[] acc) {
        int mr = lay.mr(), nt = lay.taps().length;
        try {
            NATIVE_UNIT.invokeExact(MemorySegment.ofArray(xq), MemorySegment.ofArray(wp).asSlice((long) pn * nt * NR * 4),
                    MemorySegment.ofArray(lay.taps()), nt, KC, MemorySegment.ofArray(lay.pixelBase()).asSlice((long) t0 * mr * 4),
                    t1 - t0, mr, MemorySegment.ofArray(b).asSlice((long) pn * NR * 4), MemorySegment.ofArray(acc));
        } catch (Throwable e) {
            throw new IllegalStateException("native conv unit failed", e);
        }
    }

    /**
     * One channel of xq (its zero border already written) from the image plane at element offset
     * off (strides rs, cs), through plane, a scratch of H*W floats: the plane is fetched with one
     * segment copy when contiguous (a segment copy per short row costs more than the row).
     */
    private static void pad(ConvGeometry g, Layout lay, MemorySegment x, long off, long rs, long cs, float[] xq, int dst,
                            float[] plane) {
        int h = g.h(), w = g.w(), wp = lay.wp(), ph = g.ph(), pw = g.pw();
        if (cs == 1 && rs == w) MemorySegment.copy(x, Storage.F32, off * 4, plane, 0, h * w);
        else
            for (int r = 0; r < h; r++)
                for (int j = 0; j < w; j++) plane[r * w + j] = x.getAtIndex(Storage.F32, off + r * rs + j * cs);
        // the zero border of this channel's padded plane (xq is a reused buffer): the top rows, then
        // per row its right border and the next row's left border (adjacent), then the bottom rows.
        // Filling only the border, on the thread that writes the plane, replaced one single-threaded
        // fill of the whole buffer (a tenth of a 3x3 64@56 conv's time on 2 threads)
        int top = dst + ph * wp, end = dst + lay.hp() * wp;
        java.util.Arrays.fill(xq, dst, top + pw, 0f);
        for (int r = 0, d = top + pw; r < h; r++, d += wp) {
            System.arraycopy(plane, r * w, xq, d, w);
            // right border of row r, left border of row r + 1; the last row's stops at the plane's end
            // (without bottom padding it would run pw floats into the next plane, or past the buffer)
            java.util.Arrays.fill(xq, d + w, Math.min(d + wp, end), 0f);
        }
        java.util.Arrays.fill(xq, Math.min(top + h * wp + pw, end), end, 0f);  // the bottom rows past what the last row's fill reached
    }

    /**
     * Taps [k0, k1) of output pixels [p0, p0 + mr) (of the whole batch's pixel list) x the output
     * channels of panel pn, accumulated into acc[at + r*NR + j] (started from the bias when k0 = 0).
     */
    private static void tile(Layout lay, float[] xq, float[] w, int pn, float[] b, int p0, int k0, int k1,
                             float[] acc, int at) {
        int[] base = lay.pixelBase(), taps = lay.taps();
        int wo = pn * taps.length * NR, so = k0 == 0 ? pn * NR : at, ss = k0 == 0 ? 0 : NR;
        float[] src = k0 == 0 ? b : acc;
        int step = lay.tileStep()[p0 / lay.mr()];
        if (lay.mr() == 7) {            // Layout.of takes seven only when every tile is evenly spaced
            if (step == 1) kernel7Step1(xq, base[p0], taps, k0, k1, w, wo, src, so, ss, acc, at);
            else kernel7Step2(xq, base[p0], taps, k0, k1, w, wo, src, so, ss, acc, at);
            return;
        }
        switch (step) {
            case 1 -> kernelStep1(xq, base[p0], taps, k0, k1, w, wo, src, so, ss, acc, at);
            case 2 -> kernelStep2(xq, base[p0], taps, k0, k1, w, wo, src, so, ss, acc, at);
            default -> kernel(xq, base[p0], base[p0 + 1], base[p0 + 2], base[p0 + 3], base[p0 + 4], base[p0 + 5], taps, k0, k1,
                    w, wo, src, so, ss, acc, at);
        }
    }

    /** out[oi + i] = act(run[ri + i] + res[si + i]) for i < m, act = max(., 0) when relu (NaN stays NaN, as the Relu op). */
    private static void addStore(float[] run, int ri, MemorySegment res, long si, MemorySegment out, long oi, int m, boolean relu) {
        int i = 0;
        FloatVector z = FloatVector.zero(S);
        for (; i + L <= m; i += L) {
            FloatVector v = FloatVector.fromArray(S, run, ri + i).add(FloatVector.fromMemorySegment(S, res, (si + i) * 4, LE));
            (relu ? v.max(z) : v).intoMemorySegment(out, (oi + i) * 4, LE);
        }
        for (; i < m; i++) {
            float v = run[ri + i] + res.getAtIndex(Storage.F32, si + i);
            out.setAtIndex(Storage.F32, oi + i, relu && !(v > 0 || v != v) ? 0f : v);
        }
    }

    /** Gather indices of one output channel across L consecutive pixels of an accumulator block: i*NR. */
    private static final int[] ACROSS = java.util.stream.IntStream.range(0, L).map(i -> i * NR).toArray();

    /**
     * run[j*cap + q] = acc[q*NR + j] (ReLU'd when relu) for the len pixels q and cols channels j of a
     * unit: per channel, L pixels at a time with one gather (cap is a multiple of L; pixels past len
     * are junk that the copy-out never reads).
     */
    private static void transpose(float[] acc, float[] run, int cap, int len, int cols, boolean relu) {
        FloatVector z = FloatVector.zero(S);
        for (int j = 0; j < cols; j++)
            for (int q = 0; q < len; q += L) {
                FloatVector v = FloatVector.fromArray(S, acc, q * NR + j, ACROSS, 0);
                if (relu) v = v.max(z);
                v.intoArray(run, j * cap + q);
            }
    }

    /**
     * The 6-pixel x 2-vector tile over taps [k0, k1): per tap two weight loads, six broadcasts,
     * twelve FMAs. Pixel r's accumulators start from src[so + r*ss : +NR] (ss = 0: the bias for
     * every pixel) and end in dst[dof + r*NR : +NR].
     */
    private static void kernel(float[] x, int x0, int x1, int x2, int x3, int x4, int x5, int[] taps, int k0, int k1,
                               float[] w, int wo, float[] src, int so, int ss, float[] dst, int dof) {
        FloatVector c00 = FloatVector.fromArray(S, src, so), c01 = FloatVector.fromArray(S, src, so + L);
        FloatVector c10 = FloatVector.fromArray(S, src, so + ss), c11 = FloatVector.fromArray(S, src, so + ss + L);
        FloatVector c20 = FloatVector.fromArray(S, src, so + 2 * ss), c21 = FloatVector.fromArray(S, src, so + 2 * ss + L);
        FloatVector c30 = FloatVector.fromArray(S, src, so + 3 * ss), c31 = FloatVector.fromArray(S, src, so + 3 * ss + L);
        FloatVector c40 = FloatVector.fromArray(S, src, so + 4 * ss), c41 = FloatVector.fromArray(S, src, so + 4 * ss + L);
        FloatVector c50 = FloatVector.fromArray(S, src, so + 5 * ss), c51 = FloatVector.fromArray(S, src, so + 5 * ss + L);
        for (int k = k0; k < k1; k++) {
            int wk = wo + k * NR, tk = taps[k];
            FloatVector w0 = FloatVector.fromArray(S, w, wk), w1 = FloatVector.fromArray(S, w, wk + L);
            FloatVector v = FloatVector.broadcast(S, x[x0 + tk]);
            c00 = v.fma(w0, c00);
            c01 = v.fma(w1, c01);
            v = FloatVector.broadcast(S, x[x1 + tk]);
            c10 = v.fma(w0, c10);
            c11 = v.fma(w1, c11);
            v = FloatVector.broadcast(S, x[x2 + tk]);
            c20 = v.fma(w0, c20);
            c21 = v.fma(w1, c21);
            v = FloatVector.broadcast(S, x[x3 + tk]);
            c30 = v.fma(w0, c30);
            c31 = v.fma(w1, c31);
            v = FloatVector.broadcast(S, x[x4 + tk]);
            c40 = v.fma(w0, c40);
            c41 = v.fma(w1, c41);
            v = FloatVector.broadcast(S, x[x5 + tk]);
            c50 = v.fma(w0, c50);
            c51 = v.fma(w1, c51);
        }
        c00.intoArray(dst, dof);
        c01.intoArray(dst, dof + L);
        c10.intoArray(dst, dof + NR);
        c11.intoArray(dst, dof + NR + L);
        c20.intoArray(dst, dof + 2 * NR);
        c21.intoArray(dst, dof + 2 * NR + L);
        c30.intoArray(dst, dof + 3 * NR);
        c31.intoArray(dst, dof + 3 * NR + L);
        c40.intoArray(dst, dof + 4 * NR);
        c41.intoArray(dst, dof + 4 * NR + L);
        c50.intoArray(dst, dof + 5 * NR);
        c51.intoArray(dst, dof + 5 * NR + L);
    }

    /**
     * {@link #kernel} for six pixels of one row at stride 1 (x0, x0 + 1, ..., x0 + 5): the constant
     * offsets let C2 merge the six bounds checks of a tap into two, which measured 1.25x the
     * general kernel's speed (Zen 4, one core, 90 -> 115 GFLOP/s in the kernel alone).
     */
    private static void kernelStep1(float[] x, int x0, int[] taps, int k0, int k1,
                               float[] w, int wo, float[] src, int so, int ss, float[] dst, int dof) {
        FloatVector c00 = FloatVector.fromArray(S, src, so), c01 = FloatVector.fromArray(S, src, so + L);
        FloatVector c10 = FloatVector.fromArray(S, src, so + ss), c11 = FloatVector.fromArray(S, src, so + ss + L);
        FloatVector c20 = FloatVector.fromArray(S, src, so + 2 * ss), c21 = FloatVector.fromArray(S, src, so + 2 * ss + L);
        FloatVector c30 = FloatVector.fromArray(S, src, so + 3 * ss), c31 = FloatVector.fromArray(S, src, so + 3 * ss + L);
        FloatVector c40 = FloatVector.fromArray(S, src, so + 4 * ss), c41 = FloatVector.fromArray(S, src, so + 4 * ss + L);
        FloatVector c50 = FloatVector.fromArray(S, src, so + 5 * ss), c51 = FloatVector.fromArray(S, src, so + 5 * ss + L);
        for (int k = k0; k < k1; k++) {
            int wk = wo + k * NR, tk = x0 + taps[k];
            FloatVector w0 = FloatVector.fromArray(S, w, wk), w1 = FloatVector.fromArray(S, w, wk + L);
            FloatVector v = FloatVector.broadcast(S, x[tk]);
            c00 = v.fma(w0, c00);
            c01 = v.fma(w1, c01);
            v = FloatVector.broadcast(S, x[tk + 1]);
            c10 = v.fma(w0, c10);
            c11 = v.fma(w1, c11);
            v = FloatVector.broadcast(S, x[tk + 2]);
            c20 = v.fma(w0, c20);
            c21 = v.fma(w1, c21);
            v = FloatVector.broadcast(S, x[tk + 3]);
            c30 = v.fma(w0, c30);
            c31 = v.fma(w1, c31);
            v = FloatVector.broadcast(S, x[tk + 4]);
            c40 = v.fma(w0, c40);
            c41 = v.fma(w1, c41);
            v = FloatVector.broadcast(S, x[tk + 5]);
            c50 = v.fma(w0, c50);
            c51 = v.fma(w1, c51);
        }
        c00.intoArray(dst, dof);
        c01.intoArray(dst, dof + L);
        c10.intoArray(dst, dof + NR);
        c11.intoArray(dst, dof + NR + L);
        c20.intoArray(dst, dof + 2 * NR);
        c21.intoArray(dst, dof + 2 * NR + L);
        c30.intoArray(dst, dof + 3 * NR);
        c31.intoArray(dst, dof + 3 * NR + L);
        c40.intoArray(dst, dof + 4 * NR);
        c41.intoArray(dst, dof + 4 * NR + L);
        c50.intoArray(dst, dof + 5 * NR);
        c51.intoArray(dst, dof + 5 * NR + L);
    }

    /** {@link #kernelStep1} for stride 2 (x0, x0 + 2, ..., x0 + 10). */
    private static void kernelStep2(float[] x, int x0, int[] taps, int k0, int k1,
                               float[] w, int wo, float[] src, int so, int ss, float[] dst, int dof) {
        FloatVector c00 = FloatVector.fromArray(S, src, so), c01 = FloatVector.fromArray(S, src, so + L);
        FloatVector c10 = FloatVector.fromArray(S, src, so + ss), c11 = FloatVector.fromArray(S, src, so + ss + L);
        FloatVector c20 = FloatVector.fromArray(S, src, so + 2 * ss), c21 = FloatVector.fromArray(S, src, so + 2 * ss + L);
        FloatVector c30 = FloatVector.fromArray(S, src, so + 3 * ss), c31 = FloatVector.fromArray(S, src, so + 3 * ss + L);
        FloatVector c40 = FloatVector.fromArray(S, src, so + 4 * ss), c41 = FloatVector.fromArray(S, src, so + 4 * ss + L);
        FloatVector c50 = FloatVector.fromArray(S, src, so + 5 * ss), c51 = FloatVector.fromArray(S, src, so + 5 * ss + L);
        for (int k = k0; k < k1; k++) {
            int wk = wo + k * NR, tk = x0 + taps[k];
            FloatVector w0 = FloatVector.fromArray(S, w, wk), w1 = FloatVector.fromArray(S, w, wk + L);
            FloatVector v = FloatVector.broadcast(S, x[tk]);
            c00 = v.fma(w0, c00);
            c01 = v.fma(w1, c01);
            v = FloatVector.broadcast(S, x[tk + 2]);
            c10 = v.fma(w0, c10);
            c11 = v.fma(w1, c11);
            v = FloatVector.broadcast(S, x[tk + 4]);
            c20 = v.fma(w0, c20);
            c21 = v.fma(w1, c21);
            v = FloatVector.broadcast(S, x[tk + 6]);
            c30 = v.fma(w0, c30);
            c31 = v.fma(w1, c31);
            v = FloatVector.broadcast(S, x[tk + 8]);
            c40 = v.fma(w0, c40);
            c41 = v.fma(w1, c41);
            v = FloatVector.broadcast(S, x[tk + 10]);
            c50 = v.fma(w0, c50);
            c51 = v.fma(w1, c51);
        }
        c00.intoArray(dst, dof);
        c01.intoArray(dst, dof + L);
        c10.intoArray(dst, dof + NR);
        c11.intoArray(dst, dof + NR + L);
        c20.intoArray(dst, dof + 2 * NR);
        c21.intoArray(dst, dof + 2 * NR + L);
        c30.intoArray(dst, dof + 3 * NR);
        c31.intoArray(dst, dof + 3 * NR + L);
        c40.intoArray(dst, dof + 4 * NR);
        c41.intoArray(dst, dof + 4 * NR + L);
        c50.intoArray(dst, dof + 5 * NR);
        c51.intoArray(dst, dof + 5 * NR + L);
    }

    /**
     * Seven pixels of one row at stride 1 (x0, ..., x0 + 6), for 512-bit vectors (fourteen
     * accumulators): ResNet's planes (7, 14, 28, 56, 112 wide) are multiples of seven, so every
     * tile lies in one row and takes a constant-offset kernel (with six, 7- and 14-wide rows
     * left most tiles to the general kernel).
     */
    private static void kernel7Step1(float[] x, int x0, int[] taps, int k0, int k1,
                                   float[] w, int wo, float[] src, int so, int ss, float[] dst, int dof) {
        FloatVector c00 = FloatVector.fromArray(S, src, so), c01 = FloatVector.fromArray(S, src, so + L);
        FloatVector c10 = FloatVector.fromArray(S, src, so + ss), c11 = FloatVector.fromArray(S, src, so + ss + L);
        FloatVector c20 = FloatVector.fromArray(S, src, so + 2 * ss), c21 = FloatVector.fromArray(S, src, so + 2 * ss + L);
        FloatVector c30 = FloatVector.fromArray(S, src, so + 3 * ss), c31 = FloatVector.fromArray(S, src, so + 3 * ss + L);
        FloatVector c40 = FloatVector.fromArray(S, src, so + 4 * ss), c41 = FloatVector.fromArray(S, src, so + 4 * ss + L);
        FloatVector c50 = FloatVector.fromArray(S, src, so + 5 * ss), c51 = FloatVector.fromArray(S, src, so + 5 * ss + L);
        FloatVector c60 = FloatVector.fromArray(S, src, so + 6 * ss), c61 = FloatVector.fromArray(S, src, so + 6 * ss + L);
        for (int k = k0; k < k1; k++) {
            int wk = wo + k * NR, tk = x0 + taps[k];
            FloatVector w0 = FloatVector.fromArray(S, w, wk), w1 = FloatVector.fromArray(S, w, wk + L);
            FloatVector v = FloatVector.broadcast(S, x[tk]);
            c00 = v.fma(w0, c00);
            c01 = v.fma(w1, c01);
            v = FloatVector.broadcast(S, x[tk + 1]);
            c10 = v.fma(w0, c10);
            c11 = v.fma(w1, c11);
            v = FloatVector.broadcast(S, x[tk + 2]);
            c20 = v.fma(w0, c20);
            c21 = v.fma(w1, c21);
            v = FloatVector.broadcast(S, x[tk + 3]);
            c30 = v.fma(w0, c30);
            c31 = v.fma(w1, c31);
            v = FloatVector.broadcast(S, x[tk + 4]);
            c40 = v.fma(w0, c40);
            c41 = v.fma(w1, c41);
            v = FloatVector.broadcast(S, x[tk + 5]);
            c50 = v.fma(w0, c50);
            c51 = v.fma(w1, c51);
            v = FloatVector.broadcast(S, x[tk + 6]);
            c60 = v.fma(w0, c60);
            c61 = v.fma(w1, c61);
        }
        c00.intoArray(dst, dof);
        c01.intoArray(dst, dof + L);
        c10.intoArray(dst, dof + NR);
        c11.intoArray(dst, dof + NR + L);
        c20.intoArray(dst, dof + 2 * NR);
        c21.intoArray(dst, dof + 2 * NR + L);
        c30.intoArray(dst, dof + 3 * NR);
        c31.intoArray(dst, dof + 3 * NR + L);
        c40.intoArray(dst, dof + 4 * NR);
        c41.intoArray(dst, dof + 4 * NR + L);
        c50.intoArray(dst, dof + 5 * NR);
        c51.intoArray(dst, dof + 5 * NR + L);
        c60.intoArray(dst, dof + 6 * NR);
        c61.intoArray(dst, dof + 6 * NR + L);
    }

    /** {@link #kernel7Step1} for stride 2 (x0, x0 + 2, ..., x0 + 12). */
    private static void kernel7Step2(float[] x, int x0, int[] taps, int k0, int k1,
                                   float[] w, int wo, float[] src, int so, int ss, float[] dst, int dof) {
        FloatVector c00 = FloatVector.fromArray(S, src, so), c01 = FloatVector.fromArray(S, src, so + L);
        FloatVector c10 = FloatVector.fromArray(S, src, so + ss), c11 = FloatVector.fromArray(S, src, so + ss + L);
        FloatVector c20 = FloatVector.fromArray(S, src, so + 2 * ss), c21 = FloatVector.fromArray(S, src, so + 2 * ss + L);
        FloatVector c30 = FloatVector.fromArray(S, src, so + 3 * ss), c31 = FloatVector.fromArray(S, src, so + 3 * ss + L);
        FloatVector c40 = FloatVector.fromArray(S, src, so + 4 * ss), c41 = FloatVector.fromArray(S, src, so + 4 * ss + L);
        FloatVector c50 = FloatVector.fromArray(S, src, so + 5 * ss), c51 = FloatVector.fromArray(S, src, so + 5 * ss + L);
        FloatVector c60 = FloatVector.fromArray(S, src, so + 6 * ss), c61 = FloatVector.fromArray(S, src, so + 6 * ss + L);
        for (int k = k0; k < k1; k++) {
            int wk = wo + k * NR, tk = x0 + taps[k];
            FloatVector w0 = FloatVector.fromArray(S, w, wk), w1 = FloatVector.fromArray(S, w, wk + L);
            FloatVector v = FloatVector.broadcast(S, x[tk]);
            c00 = v.fma(w0, c00);
            c01 = v.fma(w1, c01);
            v = FloatVector.broadcast(S, x[tk + 2]);
            c10 = v.fma(w0, c10);
            c11 = v.fma(w1, c11);
            v = FloatVector.broadcast(S, x[tk + 4]);
            c20 = v.fma(w0, c20);
            c21 = v.fma(w1, c21);
            v = FloatVector.broadcast(S, x[tk + 6]);
            c30 = v.fma(w0, c30);
            c31 = v.fma(w1, c31);
            v = FloatVector.broadcast(S, x[tk + 8]);
            c40 = v.fma(w0, c40);
            c41 = v.fma(w1, c41);
            v = FloatVector.broadcast(S, x[tk + 10]);
            c50 = v.fma(w0, c50);
            c51 = v.fma(w1, c51);
            v = FloatVector.broadcast(S, x[tk + 12]);
            c60 = v.fma(w0, c60);
            c61 = v.fma(w1, c61);
        }
        c00.intoArray(dst, dof);
        c01.intoArray(dst, dof + L);
        c10.intoArray(dst, dof + NR);
        c11.intoArray(dst, dof + NR + L);
        c20.intoArray(dst, dof + 2 * NR);
        c21.intoArray(dst, dof + 2 * NR + L);
        c30.intoArray(dst, dof + 3 * NR);
        c31.intoArray(dst, dof + 3 * NR + L);
        c40.intoArray(dst, dof + 4 * NR);
        c41.intoArray(dst, dof + 4 * NR + L);
        c50.intoArray(dst, dof + 5 * NR);
        c51.intoArray(dst, dof + 5 * NR + L);
        c60.intoArray(dst, dof + 6 * NR);
        c61.intoArray(dst, dof + 6 * NR + L);
    }

    /**
     * The padded images of one call: one array kept between calls (taken and given back, so
     * two concurrent calls never share it; the second makes its own), grown on demand.
     */
    static final class Buffers {
        private Buffers() {}

        private static final AtomicReference<float[]> KEPT = new AtomicReference<>();
        private static final int KEEP_LIMIT = 16 << 20; // floats (64 MB)

        static float[] take(long elems) {
            int n = Math.toIntExact(elems);
            float[] a = KEPT.getAndSet(null);
            return a != null && a.length >= n ? a : new float[n];
        }

        static void give(float[] a) {
            if (a.length <= KEEP_LIMIT) KEPT.set(a);
        }
    }
}
