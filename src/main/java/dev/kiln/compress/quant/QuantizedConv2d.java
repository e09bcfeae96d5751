package dev.kiln.compress.quant;

import dev.kiln.compress.fuse.Epilogue;
import dev.kiln.nn.Module;
import dev.kiln.ops.Conv2dParams;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.Map;

/**
 * Int8 inference Conv2d over [N, C, H, W] (groups = 1): the float input is quantized per tensor
 * (asymmetric) in one pass, unfolded in int8 (im2col; padding is the zero point, exactly what a
 * float 0 quantizes to, so this equals unfolding first) into rows [N*OH*OW, C*kh*kw], multiplied by
 * the per-output-channel symmetric int8 weight [O, C*kh*kw] through {@link Int8Gemm}, and the
 * epilogue writes the float result straight into [N, O, OH, OW] order. Static (calibrated
 * {@code act}) or dynamic ({@code act == null}) like {@link QuantizedLinear}.
 * <p>
 * State (what a checkpoint saves): "weight_int8" (I8 [O, K]), "weight_scale" (F32 [O]) and, with a
 * bias, "bias" (F32 [O]); call {@code reloadState()} after loading values into them.
 */
public final class QuantizedConv2d extends Module {
    private Int8Weights w;
    private Int8Gemm.PackedInt8 tapMajor;   // w.q with columns reordered (ky, kx, c) for the NHWC unfold; null when direct
    private float[] directWeights;           // w.q's values as floats when the direct conv applies (see useDirect), else null
    private byte[] vnniWeights;              // w.q as [O][kh][kw][C/4][4] when the VNNI direct conv applies (see useVnni), else null

    /** Reductions up to this many taps (C kh kw) run the direct conv, which beats unfold + GEMM there. */
    static final int DIRECT_MAX_K = 32;
    private float[] bias;
    private final Epilogue epilogue;
    private final QParams act;
    private final Conv2dParams p;
    private final int inC, kh, kw;
    /**
     * The next quantized layer's input parameters when this layer hands it int8 codes instead of
     * floats ({@link #emitCodes}), else null.
     */
    private volatile QParams codesOut;
    /** Whether this layer also applies the 2 x 2, stride 2 max pool that follows it ({@link #emitCodes}). */
    private volatile boolean pool2;

    /** Quantizes a float weight [O, C, kh, kw] per output channel; bias may be null; act null = dynamic. */
    public QuantizedConv2d(Tensor weight, Tensor bias, Conv2dParams p, Epilogue epilogue, QParams act) {
        this(checked(weight, p), weight.size(1), weight.size(2), weight.size(3), bias, p, epilogue, act);
    }

    private QuantizedConv2d(Int8Weights w, int inC, int kh, int kw, Tensor bias, Conv2dParams p, Epilogue epilogue, QParams act) {
        if (act != null && act.perChannel()) throw new IllegalArgumentException("QuantizedConv2d: activations are quantized per tensor");
        if (w.q.size(1) != inC * kh * kw)
            throw new IllegalArgumentException("QuantizedConv2d: int8 weight " + Arrays.toString(w.q.shape()) + " is not [O, " + inC + "*" + kh + "*" + kw + "]");
        this.w = w;
        this.inC = inC;
        this.kh = kh;
        this.kw = kw;
        this.epilogue = epilogue == null ? Epilogue.NONE : epilogue;
        this.act = act;
        this.p = p;
        this.vnniWeights = vnniWeights(w.q);
        this.directWeights = vnniWeights == null ? directWeights(w.q) : null;
        this.tapMajor = directWeights == null && vnniWeights == null ? packTapMajor(w.q, inC, kh * kw) : null;
        registerBuffer("weight_int8", w.q);
        registerBuffer("weight_scale", w.scaleTensor());
        this.bias = Int8Weights.floats(bias);
        if (this.bias != null) {
            if (this.bias.length != w.q.size(0))
                throw new IllegalArgumentException("QuantizedConv2d: bias has " + this.bias.length + " values for " + w.q.size(0) + " outputs");
            registerBuffer("bias", Tensor.fromArray(this.bias.clone(), this.bias.length));
        }
    }

    private static Int8Weights checked(Tensor weight, Conv2dParams p) {
        if (weight.dim() != 4) throw new IllegalArgumentException("QuantizedConv2d: weight must be [O, C, kh, kw], got " + Arrays.toString(weight.shape()));
        if (p.groups() != 1) throw new IllegalArgumentException("QuantizedConv2d: only groups = 1 is supported, got " + p.groups());
        int[] ws = weight.shape();
        try (Tensor w2 = weight.reshape(ws[0], ws[1] * ws[2] * ws[3])) { return new Int8Weights(w2); }
    }

    /**
     * A layer from already-quantized data, without re-quantizing: weightInt8 [O, inC*kh*kw] or
     * [O, inC, kh, kw] (I8, values in [-127, 127]), scale [O] (F32), bias [O] or null, act the
     * calibrated input parameters or null (dynamic). The tensors are copied.
     */
    public static QuantizedConv2d fromInt8(Tensor weightInt8, Tensor scale, Tensor bias, int inC, int kh, int kw, Conv2dParams p,
                                           Epilogue epilogue, QParams act) {
        if (p.groups() != 1) throw new IllegalArgumentException("QuantizedConv2d: only groups = 1 is supported, got " + p.groups());
        Tensor q;
        try (Tensor r = weightInt8.reshape(weightInt8.size(0), (int) (weightInt8.numel() / weightInt8.size(0)))) {
            q = r.clone();
        }
        try {
            return new QuantizedConv2d(new Int8Weights(q, scale.toFloatArray()), inC, kh, kw, bias, p, epilogue, act);
        } catch (RuntimeException e) {
            q.close();
            throw e;
        }
    }

    /** Rebuilds the derived GEMM data from the state tensors after {@link #loadStateDict} (see {@link QuantizedLinear#reloadState}). */
    public void reloadState() {
        Map<String, Tensor> st = stateDict();
        w = new Int8Weights(st.get("weight_int8"), st.get("weight_scale").toFloatArray());
        vnniWeights = vnniWeights(w.q);
        directWeights = vnniWeights == null ? directWeights(w.q) : null;
        tapMajor = directWeights == null && vnniWeights == null ? packTapMajor(w.q, inC, kh * kw) : null;
        if (bias != null) bias = st.get("bias").toFloatArray();
    }

    /** Stride 1, dilation 1, a short reduction, and an epilogue the channels-first requantizer applies. */
    private boolean useDirect() {
        return p.strideH() == 1 && p.strideW() == 1 && p.dilationH() == 1 && p.dilationW() == 1 && inC * kh * kw <= DIRECT_MAX_K
                && (epilogue == Epilogue.NONE || epilogue == Epilogue.RELU);
    }

    /**
     * Stride 1, dilation 1, an epilogue the kernel applies, and the native VNNI kernel loaded: the
     * direct int8 conv of {@link Int8VnniKernel#conv} (no unfolded copy of the input, no int32
     * result in memory; measured on Zen 4 against unfold + GEMM and the float direct conv in
     * docs/QUANTIZATION.md).
     */
    private boolean useVnni() {
        return VNNI_DIRECT && Int8VnniKernel.enabled() && p.strideH() == 1 && p.strideW() == 1 && p.dilationH() == 1 && p.dilationW() == 1
                && (epilogue == Epilogue.NONE || epilogue == Epilogue.RELU);
    }

    /**
     * One input channel (a network's first layer on grey images): the input is packed with 4 taps per
     * 32-bit word instead of 4 channels, so no lane multiplies a padded channel (a 3 x 3 kernel: 12
     * multiply-adds per output instead of 36).
     */
    private boolean tapPacked() { return inC == 1 && kh * kw > 1; }

    /** -Dkiln.int8.directConv=false: the unfold + GEMM and float direct paths only (to compare). */
    private static volatile boolean VNNI_DIRECT = !"false".equals(System.getProperty("kiln.int8.directConv"));

    /**
     * Whether layers made from now on may run on the VNNI direct conv (benchmarks and the kernel lab
     * compare it with the unfold + GEMM path); returns the previous setting. Layers already made
     * keep their path.
     */
    public static boolean setDirectConv(boolean on) {
        boolean old = VNNI_DIRECT;
        VNNI_DIRECT = on;
        return old;
    }

    /**
     * q [O, C kh kw] as [O][kh][kw][ceil(C / 4)][4] bytes (padded channels 0) for the VNNI conv, or
     * null when it does not apply; with one input channel ({@link #tapPacked}) [O][taps, padded to 4].
     */
    private byte[] vnniWeights(Tensor q) {
        if (!useVnni()) return null;
        byte[] b = QParams.QTensors.bytes(q);
        int o = q.size(0), c4 = (inC + 3) / 4, taps = kh * kw;
        if (tapPacked()) {
            int k4 = (taps + 3) / 4 * 4;
            byte[] out = new byte[o * k4];
            for (int j = 0; j < o; j++) System.arraycopy(b, j * taps, out, j * k4, taps);
            return out;
        }
        byte[] out = new byte[o * taps * c4 * 4];
        for (int j = 0; j < o; j++)
            for (int c = 0; c < inC; c++)
                for (int t = 0; t < taps; t++) out[(j * taps + t) * c4 * 4 + c] = b[(j * inC + c) * taps + t];
        return out;
    }

    private float[] directWeights(Tensor q) {
        if (!useDirect()) return null;
        byte[] b = QParams.QTensors.bytes(q);
        float[] out = new float[b.length];
        for (int i = 0; i < b.length; i++) out[i] = b[i];
        return out;
    }


    /** q [O, C * taps] (columns c, ky, kx) packed with its columns in (ky, kx, c) order; row sums are unchanged. */
    private static Int8Gemm.PackedInt8 packTapMajor(Tensor q, int c, int taps) {
        int o = q.size(0);
        try (Tensor r = q.reshape(o, c, taps); Tensor t = r.transpose(1, 2); Tensor ct = t.contiguous(); Tensor flat = ct.reshape(o, taps * c)) {
            return Int8Gemm.pack(flat);
        }
    }

    /** Whether this layer runs on the VNNI direct conv (decided when the layer is made or its state reloaded). */
    boolean usesVnni() { return vnniWeights != null; }

    public int inChannels() { return inC; }
    public int outChannels() { return w.q.size(0); }
    public int kernelH() { return kh; }
    public int kernelW() { return kw; }
    public Epilogue epilogue() { return epilogue; }
    public boolean hasBias() { return bias != null; }
    /** A copy of the float bias, or null. */
    public float[] bias() { return bias == null ? null : bias.clone(); }
    public QParams weightParams() { return w.params; }
    public boolean isDynamic() { return act == null; }
    /** The per-output-channel weight scales (a copy). */
    public float[] weightScales() { return w.scale.clone(); }

    public QParams inputParams() { return act; }
    public Tensor weightInt8() { return w.q; }
    public Conv2dParams params() { return p; }

    /**
     * From now on this layer's output is int8 codes (an I8 tensor [N, O, OH, OW]) in {@code next},
     * the input parameters of the quantized layer it feeds (through max pools and reshapes only:
     * they commute with the quantization), or floats again when next is null. The codes are the
     * bits that layer's own quantization gives the float output ({@link Int8Weights#quantize}), so
     * the model's result does not change; only the float activations between the two layers (and
     * their quantization pass) are gone. {@link Quantize#chainCodes} decides where it applies.
     */
    public void emitCodes(QParams next) { emitCodes(next, false); }

    /**
     * {@link #emitCodes(QParams)}, and with pool2 this layer also applies the 2 x 2, stride 2 max pool
     * (no padding, floor) that follows it, before the quantization: the output is the pooled
     * codes [N, O, OH / 2, OW / 2], and the pool layer of the model must then pass its input on
     * ({@link AbsorbedPool}, which {@link Quantize#chainCodes} puts in its place). On the VNNI conv
     * with rows of up to 32 pixels the pool runs in the kernel's registers (a quarter of the
     * quantizations and stores, no pool pass); otherwise the codes are pooled (the same values).
     */
    public void emitCodes(QParams next, boolean pool2) {
        if (next != null && (next.perChannel() || epilogue != Epilogue.NONE && epilogue != Epilogue.RELU))
            throw new IllegalArgumentException("QuantizedConv2d: codes out need per-tensor parameters and a NONE or RELU epilogue");
        if (pool2 && next == null) throw new IllegalArgumentException("QuantizedConv2d: the pool is taken in only with codes out");
        codesOut = next;
        this.pool2 = pool2;
    }

    /** The parameters of the codes this layer emits, or null (floats). */
    public QParams codesOut() { return codesOut; }

    /** Whether this layer applies the 2 x 2 max pool after it itself ({@link #emitCodes(QParams, boolean)}). */
    public boolean poolsItself() { return pool2; }

    /** The 2 x 2, stride 2 max pool a layer may take in: no padding, floor. */
    static final dev.kiln.ops.Pool2dParams POOL2 = dev.kiln.ops.Pool2dParams.of(2, 2, 0);

    /**
     * Whether an input of int8 codes in this layer's own input parameters (an I8 tensor, see
     * {@link #emitCodes}) runs without decoding: static parameters and the VNNI conv with input channels packed.
     */
    boolean takesCodes() { return act != null && vnniWeights != null && !tapPacked(); }

    /**
     * x float, or int8 codes in this layer's input parameters (I8, from an earlier layer's
     * {@link #emitCodes}); the output is float, or codes when {@link #codesOut} is set.
     */
    @Override
    public Tensor forward(Tensor x) { return forward(x, codesOut, pool2); }

    /**
     * The layer's float output whatever it hands the next layer (the ONNX exporter's probes follow
     * the graph it writes, where the conv's output is float and the pool a node of its own).
     */
    public Tensor forwardFloats(Tensor x) { return forward(x, null, false); }

    private Tensor forward(Tensor x, QParams next, boolean pool2) {
        int[] xs = x.shape();
        if (xs.length != 4 || xs[1] != inC)
            throw new IllegalArgumentException("QuantizedConv2d: input must be [N, " + inC + ", H, W], got " + Arrays.toString(xs));
        if (x.dtype() == dev.kiln.tensor.DType.I8 && !takesCodes()) {
            try (Tensor f = decode(x)) { return forward(f, next, pool2); }
        }
        int n = xs[0], h = xs[2], wd = xs[3];
        int oh = (h + 2 * p.padH() - p.dilationH() * (kh - 1) - 1) / p.strideH() + 1;
        int ow = (wd + 2 * p.padW() - p.dilationW() * (kw - 1) - 1) / p.strideW() + 1;
        boolean pool = pool2 && next != null;
        Tensor y;
        if (vnniWeights != null && act != null) {
            if (pool && ow <= 32 && oh >= 2 && ow >= 2) return vnniForward(x, act, n, h, wd, oh, ow, next, true);
            y = vnniForward(x, act, n, h, wd, oh, ow, next, false);
        } else {
            float[] xf = act != null && directWeights == null ? null : x.toFloatArray();   // static unfolds and the VNNI conv read x itself
            QParams a = act != null ? act : Int8Weights.dynamicParams(xf, covered(h, wd, oh, ow));
            Tensor f = floatForward(x, xf, a, n, h, wd, oh, ow);
            if (next == null) {
                y = f;
            } else {
                try (f) { y = Int8Weights.codes(f, next); }         // the bits the next layer's quantization gives f
            }
        }
        if (!pool) return y;
        try (y) { return y.maxPool2d(POOL2); }                    // codes: the pool commutes with the quantization
    }

    /**
     * Codes in this layer's input parameters as the floats scale * (q - zero) ({@link QParams#dequantize}),
     * which {@link Int8Weights#quantize} turns back into q exactly (the quotient is within a few ulps of q - zero).
     */
    private Tensor decode(Tensor codes) {
        if (act == null) throw new IllegalArgumentException("QuantizedConv2d: int8 codes in, but this layer quantizes dynamically (no input parameters)");
        return act.dequantize(codes);
    }

    private Tensor floatForward(Tensor x, float[] xf, QParams a, int n, int h, int wd, int oh, int ow) {
        if (vnniWeights != null) return vnniForward(x, a, n, h, wd, oh, ow, null, false);
        if (directWeights != null) {
            int o = outChannels();
            float[] sj = new float[o], add = new float[o];
            int[] zs = new int[o];
            Int8Gemm.epilogueConstants(a.scale0(), a.zero0(), w.scale, w.rowSum, bias, sj, zs, add);
            return Int8DirectConv.conv(Int8Weights.quantize(xf, a), n, inC, h, wd, directWeights, o, kh, kw,
                    p.padH(), p.padW(), (byte) a.zero0(), sj, zs, add, epilogue == Epilogue.RELU);
        }
        byte[] cols = im2col(quantizeChannelsLast(x, a, n, inC, h * wd), (byte) a.zero0(), n, h, wd, oh, ow);
        int pix = oh * ow, o = outChannels();
        int[] acc = Int8Gemm.matmulT(cols, n * pix, inC * kh * kw, tapMajor);
        if (epilogue == Epilogue.NONE || epilogue == Epilogue.RELU)
            return w.requantizeChannelsFirst(acc, n, pix, a, bias, epilogue == Epilogue.RELU, n, o, oh, ow);
        // other activations run on the [N*pix, O] rows as before (the vectorised op's results
        // depend on an element's position), then the rows are laid out channels first
        float[] y = Int8Gemm.requantizeFloat(acc, n * pix, o, a.scale0(), a.zero0(), w.scale, w.rowSum, bias, false);
        try (Tensor rows = epilogue.finish(Tensor.fromArray(y, n * pix, o))) {
            return Tensor.fromArray(channelsFirst(rows.toFloatArray(), n, pix, o), n, o, oh, ow);
        }
    }

    /**
     * The VNNI direct conv: per image (images over the threads), the input quantized (the bits of
     * {@link Int8Weights#quantize}) into the kernel's padded layout as unsigned codes q + 128, the
     * border set to the zero point's code ({@link Int8VnniKernel#convPack}); then the kernel writes
     * [N, O, OH, OW] with the same epilogue as {@link Int8Weights#requantizeChannelsFirst}.
     */
    private Tensor vnniForward(Tensor x, QParams a, int n, int h, int wd, int oh, int ow, QParams next, boolean pool) {
        boolean codesIn = x.dtype() == dev.kiln.tensor.DType.I8;
        boolean taps = tapPacked();
        int c4 = taps ? (kh * kw + 3) / 4 : (inC + 3) / 4, ph = p.padH(), pw = p.padW(), o = outChannels();
        int wp = taps ? ow : wd + 2 * pw, vx = (ow + 15) / 16;
        // room for a row's last vector to read past it
        long planeElems = taps ? (long) oh * ow + 16 : (long) (h + 2 * ph) * wp + 16L * vx + kw;
        long imgStride = 4L * c4 * planeElems;
        byte[] in = scratch(Math.toIntExact(n * imgStride));   // every byte is written by the packing
        byte zeroCode = (byte) (a.zero0() + 128);
        float[] sj = new float[o], add = new float[o];
        int[] zs = new int[o], corr = new int[o];
        Int8Gemm.epilogueConstants(a.scale0(), a.zero0(), w.scale, w.rowSum, bias, sj, zs, add);
        for (int j = 0; j < o; j++) corr[j] = zs[j] + 128 * w.rowSum[j];   // sum (q + 128) w - corr = sum q w - zp rowSum
        float[] nq = next == null ? null : new float[]{next.scale0(), next.zero0(), next.qmin(), next.qmax()};
        Tensor out = Tensor.uninitialized(dev.kiln.backend.Backends.cpu(), next == null ? dev.kiln.tensor.DType.F32 : dev.kiln.tensor.DType.I8,
                n, o, pool ? oh / 2 : oh, pool ? ow / 2 : ow);
        try (Tensor xc = x.contiguous()) {
            MemorySegment seg = xc.segment(), dst = out.segment();
            long off = xc.offset();
            dev.kiln.backend.cpu.Parallel.forRange(n, (long) o * oh * ow * inC * kh * kw / 8, (b0, b1) -> {
                if (taps) Int8VnniKernel.convPackTaps(seg, off, b0, b1, h, wd, a.scale0(), a.zero0(), a.qmin(), a.qmax(), kh, kw, ph, pw, oh, ow,
                        planeElems, zeroCode, in);
                else if (codesIn) Int8VnniKernel.convPackCodes(seg, off, b0, b1, inC, h, wd, ph, pw, wp, planeElems, zeroCode, in);
                else Int8VnniKernel.convPack(seg, off, b0, b1, inC, h, wd, a.scale0(), a.zero0(), a.qmin(), a.qmax(), ph, pw, wp, planeElems,
                        zeroCode, in);
                // tap-packed: a 1 x 1 conv over the tap groups
                Int8VnniKernel.conv(in, imgStride, planeElems, b0, b1, c4, wp, oh, ow, taps ? 1 : kh, taps ? 1 : kw, vnniWeights, o, corr, sj, add,
                        epilogue == Epilogue.RELU, nq, pool, dst, out.offset());
            });
        }
        return out;
    }

    /** The calling thread's buffer for the VNNI conv's packed input (reused: no allocation and zeroing per call). */
    private static byte[] scratch(int bytes) {
        byte[] b = SCRATCH.get();
        if (b.length < bytes) SCRATCH.set(b = new byte[bytes]);
        return b;
    }

    private static final ThreadLocal<byte[]> SCRATCH = ThreadLocal.withInitial(() -> new byte[0]);

    /** [N, pix, O] to [N, O, pix]. */
    private static float[] channelsFirst(float[] v, int n, int pix, int o) {
        float[] out = new float[v.length];
        for (int b = 0; b < n; b++)
            for (int p = 0; p < pix; p++)
                for (int j = 0; j < o; j++) out[(b * o + j) * pix + p] = v[(b * pix + p) * o + j];
        return out;
    }

    /**
     * Which pixels of an [h, w] plane some output window reads, or null when all are (the dynamic
     * range is taken over what the unfolded input holds; padding adds 0, which the range has anyway).
     */
    private boolean[] covered(int h, int wd, int oh, int ow) {
        boolean[] rows = axisCovered(h, oh, kh, p.strideH(), p.padH(), p.dilationH());
        boolean[] cols = axisCovered(wd, ow, kw, p.strideW(), p.padW(), p.dilationW());
        if (rows == null && cols == null) return null;
        boolean[] m = new boolean[h * wd];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < wd; x++) m[y * wd + x] = (rows == null || rows[y]) && (cols == null || cols[x]);
        return m;
    }

    private static boolean[] axisCovered(int size, int out, int k, int stride, int pad, int dil) {
        boolean[] c = new boolean[size];
        for (int o = 0; o < out; o++)
            for (int t = 0; t < k; t++) {
                int i = o * stride - pad + t * dil;
                if (i >= 0 && i < size) c[i] = true;
            }
        for (boolean b : c) if (!b) return c;
        return null;
    }

    /**
     * x [N, C, hw] quantized (the bits of {@link Int8Weights#quantize}) into NHWC order, every
     * pixel's channels contiguous so that one tap of the unfold is one copy: images over the
     * threads, each channel plane read from x's memory and quantized as a vector, then spread.
     */
    private static byte[] quantizeChannelsLast(Tensor x, QParams a, int n, int c, int hw) {
        byte[] out = new byte[n * c * hw];
        try (Tensor xc = x.contiguous()) {
            MemorySegment seg = xc.segment();
            long off = xc.offset();
            dev.kiln.backend.cpu.Parallel.forRange(n, (long) c * hw, (b0, b1) -> {
                float[] plane = new float[hw];
                byte[] q = new byte[hw];
                for (int b = b0; b < b1; b++)
                    for (int ch = 0; ch < c; ch++) {
                        MemorySegment.copy(seg, Storage.F32, (off + (long) (b * c + ch) * hw) * Float.BYTES, plane, 0, hw);
                        Int8Weights.quantizeRange(plane, a, q, 0, hw);
                        if (c == 1) System.arraycopy(q, 0, out, b * hw, hw);
                        else for (int i = 0, d = b * hw * c + ch; i < hw; i++, d += c) out[d] = q[i];
                    }
            });
        }
        return out;
    }

    /**
     * Rows (n, oy, ox), columns (ky, kx, c) of the quantized NHWC input; the zero point outside the
     * image. A kernel row's taps inside the image are one copy when they are adjacent pixels
     * (dilation 1), else one copy of C bytes per tap. Images are unfolded in parallel.
     */
    private byte[] im2col(byte[] x, byte zero, int n, int h, int wd, int oh, int ow) {
        int k = inC * kh * kw;
        byte[] cols = new byte[n * oh * ow * k];
        if (zero != 0) Arrays.fill(cols, zero);
        int[] kyRange = taps(oh, kh, p.strideH(), p.padH(), p.dilationH(), h);
        int[] kxRange = taps(ow, kw, p.strideW(), p.padW(), p.dilationW(), wd);
        dev.kiln.backend.cpu.Parallel.forRange(n, (long) oh * ow * k, (b0, b1) -> {
            for (int b = b0; b < b1; b++) unfoldImage(x, cols, b, h, wd, oh, ow, kyRange, kxRange);
        });
        return cols;
    }

    private void unfoldImage(byte[] x, byte[] cols, int b, int h, int wd, int oh, int ow, int[] kyRange, int[] kxRange) {
        int c = inC, k = c * kh * kw, sh = p.strideH(), sw = p.strideW(), dh = p.dilationH(), dw = p.dilationW();
        int row = b * oh * ow;
        for (int oy = 0; oy < oh; oy++) {
            int ky0 = kyRange[2 * oy], ky1 = kyRange[2 * oy + 1], iy0 = oy * sh - p.padH();
            for (int ox = 0; ox < ow; ox++, row++) {
                int kx0 = kxRange[2 * ox], kx1 = kxRange[2 * ox + 1], ix0 = ox * sw - p.padW();
                for (int ky = ky0; ky < ky1; ky++) {
                    int src = ((b * h + iy0 + ky * dh) * wd + ix0) * c, dst = row * k + ky * kw * c;
                    if (dw == 1) {
                        System.arraycopy(x, src + kx0 * c, cols, dst + kx0 * c, (kx1 - kx0) * c);
                    } else {
                        for (int kx = kx0; kx < kx1; kx++) System.arraycopy(x, src + kx * dw * c, cols, dst + kx * c, c);
                    }
                }
            }
        }
    }

    /** For each output position: the [first, end) kernel taps that land inside an axis of the given size. */
    private static int[] taps(int out, int kernel, int stride, int pad, int dil, int size) {
        int[] r = new int[2 * out];
        for (int o = 0; o < out; o++) {
            int lo = 0, hi = kernel, start = o * stride - pad;
            while (lo < kernel && start + lo * dil < 0) lo++;
            while (hi > lo && start + (hi - 1) * dil >= size) hi--;
            r[2 * o] = lo;
            r[2 * o + 1] = Math.max(lo, hi);
        }
        return r;
    }

    @Override protected String extraRepr() {
        return inC + ", " + w.q.size(0) + ", kernel_size=(" + kh + ", " + kw + "), epilogue=" + epilogue.id() + (act == null ? ", dynamic" : "");
    }
}
