package dev.kiln.backend.cpu;

import dev.kiln.ops.Conv2dParams;
import dev.kiln.ops.Pool2dParams;
import dev.kiln.ops.PoolOp;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * CPU conv2d and pooling. F32 convs with groups 1 and a kernel larger than 1x1 take the implicit
 * GEMM {@link ConvImplicit} (any stride, padding, dilation; with its native unit, 1x1 convs on
 * output planes of up to {@link ConvImplicit#SMALL_PLANE} pixels too), except stride-1 convs with few taps
 * per output (C*kh*kw up to {@link ConvDirect#maxTaps}: the first layers of small CNNs), which take
 * the pixel-vector kernel {@link ConvDirect}; all others (other 1x1, groups, F64) run as im2col + GEMM
 * through {@code backend().gemm}:
 * <pre>
 * per image n, per group g:  out[n, g*og:(g+1)*og, :] [og, OH*OW] = w_g [og, kg] x col_g [kg, OH*OW]
 *   kg = (C/groups)*kh*kw; col from {@link Im2col} (built once per image for all groups;
 *   groups > 1 is one rank-3 GEMM over the group dim)
 * </pre>
 * Images are spread over threads, each with its own column buffer ({@link ConvScratch}); a single
 * image runs on the caller and leaves the threads to the GEMM. 1x1 stride-1 unpadded convs skip
 * im2col (the input plane is the column matrix; groups=1 is one batched GEMM for all images).
 * Bias (and a fused ReLU, in the same pass) is added per image right after its GEMM, while the
 * output is in cache, its channels spread over the threads. The scalar twin of
 * both routes is {@link ConvScalar}. Pooling lives in {@link PoolKernels}.
 */
final class CpuConv {
    private CpuConv() {}

    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    /**
     * out = act(conv2d(x, w, bias) + residual), act = max(., 0) when relu; residual (null: none)
     * has out's shape and dtype. The implicit kernel adds the residual and applies the ReLU as it
     * stores, the direct kernel applies a lone ReLU before its stores; the GEMM routes (F32) add
     * bias, residual and ReLU in one pass per image right after its GEMM; otherwise the residual and
     * ReLU follow as one pass over out.
     */
    static void conv2d(Tensor x, Tensor w, Tensor bias, Conv2dParams p, Tensor out, Tensor residual, boolean relu) {
        ConvGeometry g = ConvGeometry.of(x, w, p, out);
        if (out.numel() == 0) return;
        boolean implicitForced = ConvImplicit.mode.equals("always");
        boolean kernelRelu = relu && residual == null;
        if (!implicitForced && ConvDirect.applies(g, x.dtype()) && !CpuConfig.scalar()) {
            ConvDirect.conv2d(x, w, bias, g, out, kernelRelu);
        } else if (ConvImplicit.applies(g, x.dtype())) {
            // F32 here (applies checks), and so is the residual: added, then ReLU, as each unit's pixels are stored
            try (Tensor res = residual == null ? null : residual.contiguous()) {
                ConvImplicit.conv2d(x, w, bias, g, out, res, relu);
            }
            return;
        } else {
            try (Tensor res = residual == null || out.dtype() != DType.F32 || CpuConfig.scalar() ? null : residual.contiguous()) {
                // the pass applies ReLU only where it also adds the residual (ReLU comes after it)
                boolean done = conv2dUnfused(x, w, bias, g, out, res, relu && (residual == null || res != null));
                if (res != null || (done && residual == null)) return;
            }
            kernelRelu = false;
        }
        if (residual != null) out.backend().binary(dev.kiln.ops.BinaryOp.ADD, out, residual, out);
        if (relu && !kernelRelu) out.backend().unary(dev.kiln.ops.UnaryOp.RELU, out, out, 0, 0);
    }

    /**
     * The GEMM routes; returns whether the epilogue (bias, then res when not null, then ReLU when relu)
     * was applied in one pass over the output. res, when given, is contiguous F32.
     */
    private static boolean conv2dUnfused(Tensor x, Tensor w, Tensor bias, ConvGeometry g, Tensor out, Tensor res, boolean relu) {
        if (CpuConfig.scalar() || (x.dtype() != DType.F32 && x.dtype() != DType.F64)) {
            ConvScalar.conv2d(x, w, bias, g, out);
            return false;
        }
        Epilogue ep = bias == null && res == null ? null : new Epilogue(bias == null ? null : bias.toDoubleArray(), res, relu, out.dtype() == DType.F64);
        try (Tensor wc = w.contiguous(); Tensor a = weightMatrix(wc, g)) {
            if (g.pointwise() && x.stride(2) == g.w() * x.stride(3)) {
                if (g.groups() == 1 && g.n() > 1) pointwiseBatch(x, a, ep, g, out);
                else forImages(x, a, ep, g, out, false);
            } else {
                forImages(x, a, ep, g, out, true);
            }
        }
        return ep != null;
    }

    /**
     * What the GEMM routes apply per image after its GEMM: out = act(out + bias[o] + res). F64 outputs
     * (f64) always have a bias and never a residual here.
     */
    private record Epilogue(double[] bias, Tensor res, boolean relu, boolean f64) {}

    /** The weight as GEMM operand A: [O, kg] for one group, [groups, og, kg] otherwise. */
    private static Tensor weightMatrix(Tensor wc, ConvGeometry g) {
        int kg = g.kg();
        if (g.groups() == 1) return Tensor.of(wc.storage(), wc.dtype(), new int[]{g.o(), kg}, new long[]{kg, 1}, wc.offset());
        return Tensor.of(wc.storage(), wc.dtype(), new int[]{g.groups(), g.og(), kg},
                new long[]{(long) g.og() * kg, kg, 1}, wc.offset());
    }

    /** Runs each image (im2col if needed, GEMM, bias), images spread over threads. */
    private static void forImages(Tensor x, Tensor a, Epilogue ep, ConvGeometry g, Tensor out, boolean im2col) {
        long cost = 2 * g.macsPerImage() + (long) g.c() * g.kh() * g.kw() * g.p();
        onWorkers(g.n(), cost, (s, e) -> {
            Tensor col = im2col ? ConvScratch.acquire(x.dtype(), (long) g.c() * g.kh() * g.kw() * g.p()) : null;
            try {
                for (int n = s; n < e; n++) image(x, a, ep, g, out, n, col);
            } finally {
                if (col != null) ConvScratch.release(col);
            }
        });
    }

    /** Parallel over images or channel blocks; nested GEMM calls run inline (see {@link Parallel}). */
    static void onWorkers(int n, long costPerItem, Parallel.Range body) {
        Parallel.forRange(n, costPerItem, body);
    }

    private static void image(Tensor x, Tensor a, Epilogue ep, ConvGeometry g, Tensor out, int n, Tensor col) {
        long[] xs = x.strides();
        long xOff = x.offset() + n * xs[0];
        Tensor b;
        if (col != null) {
            // split over channels when this image is all the work (a single image: the threads are free)
            int es = x.dtype().byteSize();
            long colBytesPerChannel = (long) g.kh() * g.kw() * g.p() * es;
            MemorySegment xseg = x.segment(), cseg = col.segment();
            long colOff = col.offset() * es;
            Parallel.forRange(g.c(), (long) g.kh() * g.kw() * g.p(), (c0, c1) -> Im2col.fill(g, c1 - c0, xseg, xOff + c0 * xs[1],
                    xs[1], xs[2], xs[3], cseg, colOff + c0 * colBytesPerChannel, es));
            b = operandB(col.storage(), col.dtype(), g, col.offset(), (long) g.kg() * g.p(), g.p(), 1);
        } else {
            b = operandB(x.storage(), x.dtype(), g, xOff, (long) g.cg() * xs[1], xs[1], xs[3]);
        }
        long outOff = out.offset() + (long) n * g.o() * g.p();
        try (b; Tensor c = operandC(out, g, outOff)) {
            x.backend().gemm(false, false, 1.0, a, b, 0.0, c);
        }
        if (ep != null) epilogue(ep, g, out.segment(), outOff, (long) n * g.o() * g.p());
    }

    /** GEMM operand B: [kg, P] (strides rowStride, colStride), with a group dim in front when groups > 1. */
    private static Tensor operandB(Storage s, DType t, ConvGeometry g, long off, long groupStride, long rowStride, long colStride) {
        if (g.groups() == 1) return Tensor.of(s, t, new int[]{g.kg(), g.p()}, new long[]{rowStride, colStride}, off);
        return Tensor.of(s, t, new int[]{g.groups(), g.kg(), g.p()}, new long[]{groupStride, rowStride, colStride}, off);
    }

    /** GEMM operand C: out[n] as [O, P] or [groups, og, P] (contiguous either way). */
    private static Tensor operandC(Tensor out, ConvGeometry g, long off) {
        int p = g.p();
        if (g.groups() == 1) return Tensor.of(out.storage(), out.dtype(), new int[]{g.o(), p}, new long[]{p, 1}, off);
        return Tensor.of(out.storage(), out.dtype(), new int[]{g.groups(), g.og(), p},
                new long[]{(long) g.og() * p, p, 1}, off);
    }

    /** 1x1, groups=1, several images: one batched GEMM [N: O x C] x [N: C x HW] (weight broadcast). */
    private static void pointwiseBatch(Tensor x, Tensor a, Epilogue ep, ConvGeometry g, Tensor out) {
        long[] xs = x.strides();
        int p = g.p();
        try (Tensor a3 = Tensor.of(a.storage(), a.dtype(), new int[]{g.n(), g.o(), g.c()}, new long[]{0, g.c(), 1}, a.offset());
             Tensor b3 = Tensor.of(x.storage(), x.dtype(), new int[]{g.n(), g.c(), p}, new long[]{xs[0], xs[1], xs[3]}, x.offset());
             Tensor c3 = Tensor.of(out.storage(), out.dtype(), new int[]{g.n(), g.o(), p},
                     new long[]{(long) g.o() * p, p, 1}, out.offset())) {
            x.backend().gemm(false, false, 1.0, a3, b3, 0.0, c3);
        }
        if (ep == null) return;
        for (int n = 0; n < g.n(); n++) epilogue(ep, g, out.segment(), out.offset() + (long) n * g.o() * p, (long) n * g.o() * p);
    }

    /**
     * out[o, :] = act(out[o, :] + bias[o] + res[o, :]) over the output planes of one image at element
     * offset off (the image's planes start at element resAt of ep.res), each term present when given;
     * one pass, channels spread over the threads.
     */
    private static void epilogue(Epilogue ep, ConvGeometry g, MemorySegment out, long off, long resAt) {
        int p = g.p();
        double[] b = ep.bias();
        MemorySegment rs = ep.res() == null ? null : ep.res().segment();
        long r0 = ep.res() == null ? 0 : ep.res().offset() + resAt;
        Parallel.forRange(g.o(), p, (o0, o1) -> {
            for (int o = o0; o < o1; o++) {
                long row = off + (long) o * p;
                if (ep.f64()) addF64(out, row, p, b[o], ep.relu());
                else addF32(out, row, p, b == null ? null : (float) b[o], rs, r0 + (long) o * p, ep.relu());
            }
        });
    }

    /** seg[off + i] = act(seg[off + i] + b + res[ro + i]) for i < n; b or res null: not added. */
    private static void addF32(MemorySegment seg, long off, int n, Float bias, MemorySegment res, long ro, boolean relu) {
        int i = 0;
        boolean hasB = bias != null;
        float b = hasB ? bias : 0f;
        if (!CpuConfig.scalar()) {
            var sp = CpuConfig.F32;
            FloatVector zero = FloatVector.zero(sp);
            for (int l = sp.length(); i + l <= n; i += l) {
                long byteOff = (off + i) * 4;
                FloatVector v = FloatVector.fromMemorySegment(sp, seg, byteOff, LE);
                if (hasB) v = v.add(b);
                if (res != null) v = v.add(FloatVector.fromMemorySegment(sp, res, (ro + i) * 4, LE));
                (relu ? v.max(zero) : v).intoMemorySegment(seg, byteOff, LE);
            }
        }
        for (; i < n; i++) {
            float v = seg.getAtIndex(Storage.F32, off + i);
            if (hasB) v += b;
            if (res != null) v += res.getAtIndex(Storage.F32, ro + i);
            seg.setAtIndex(Storage.F32, off + i, relu ? Math.max(v, 0f) : v);
        }
    }

    private static void addF64(MemorySegment seg, long off, int n, double b, boolean relu) {
        int i = 0;
        if (!CpuConfig.scalar()) {
            var sp = CpuConfig.F64;
            DoubleVector zero = DoubleVector.zero(sp);
            for (int l = sp.length(); i + l <= n; i += l) {
                long byteOff = (off + i) * 8;
                DoubleVector v = DoubleVector.fromMemorySegment(sp, seg, byteOff, LE).add(b);
                (relu ? v.max(zero) : v).intoMemorySegment(seg, byteOff, LE);
            }
        }
        for (; i < n; i++) {
            double v = seg.getAtIndex(Storage.F64, off + i) + b;
            seg.setAtIndex(Storage.F64, off + i, relu ? Math.max(v, 0.0) : v);
        }
    }

    // ------------------------------------------------------------------ pooling

    static void pool2d(PoolOp op, Tensor x, Pool2dParams p, Tensor out, Tensor indices) {
        PoolKernels.pool2d(op, x, p, out, indices);
    }
}
