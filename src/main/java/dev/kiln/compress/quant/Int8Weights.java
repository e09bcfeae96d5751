package dev.kiln.compress.quant;

import dev.kiln.compress.fuse.Epilogue;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * A weight matrix [N, K] quantized per output channel, symmetric int8 (zero point 0, [-127, 127]),
 * with what {@link Int8Gemm#requantize} needs: per-channel scales and the row sums of the int8
 * values. Also the shared int8 GEMM step of the quantized layers.
 */
final class Int8Weights {
    final Tensor q;          // I8 [N, K]
    final float[] scale;     // [N]
    final int[] rowSum;      // [N]
    final QParams params;
    private volatile Int8Gemm.PackedInt8 packed; // q in the GEMM kernel's layout, packed on first use

    /** Quantizes a float weight [N, K] (symmetric per output channel). */
    Int8Weights(Tensor w2d) {
        this(QParams.symmetricPerChannel(w2d, 0), w2d);
    }

    private Int8Weights(QParams params, Tensor w2d) {
        this(params.quantize(w2d), params);
    }

    /**
     * Wraps already-quantized weights (no re-quantization): q [N, K] I8 in [-127, 127] and one
     * positive scale per row. The tensor q is used as is (not copied).
     */
    Int8Weights(Tensor q, float[] scale) {
        this(q, perChannel(q, scale));
    }

    private Int8Weights(Tensor q, QParams params) {
        this.params = params;
        this.q = q;
        this.scale = params.scale().clone();
        int n = q.size(0), k = q.size(1);
        byte[] b = QParams.QTensors.bytes(q);
        this.rowSum = new int[n];
        for (int i = 0; i < n; i++) {
            int s = 0;
            for (int p = 0; p < k; p++) {
                int v = b[i * k + p];
                if (v < params.qmin()) throw new IllegalArgumentException("int8 weight " + v + " at [" + i + ", " + p + "] is outside [-127, 127]");
                s += v;
            }
            rowSum[i] = s;
        }
    }

    /** q packed for the GEMM, once (layers whose forward never multiplies by q as is never pack it). */
    private Int8Gemm.PackedInt8 packed() {
        Int8Gemm.PackedInt8 p = packed;
        if (p == null) {
            synchronized (this) {
                if ((p = packed) == null) packed = p = Int8Gemm.pack(q);
            }
        }
        return p;
    }

    private static QParams perChannel(Tensor q, float[] scale) {
        if (q.dtype() != DType.I8 || q.dim() != 2)
            throw new IllegalArgumentException("int8 weights must be a 2-D I8 tensor, got " + q.dtype() + " " + Arrays.toString(q.shape()));
        if (scale.length != q.size(0))
            throw new IllegalArgumentException("int8 weights: " + scale.length + " scales for " + q.size(0) + " output channels");
        return new QParams(scale.clone(), new int[scale.length], 0, -127, QParams.QMAX);
    }

    /** The per-channel scales as an F32 tensor [N] (for the state dict). */
    Tensor scaleTensor() { return Tensor.fromArray(scale.clone(), scale.length); }

    /**
     * y [M, N] float = act((x - aZero) aScale x W^T + bias) for float rows x [M, K]: quantizes x with
     * the given activation parameters (per-batch min-max ones when null), runs the int8 GEMM and
     * the float epilogue. The input is read once into an array and quantized in one pass.
     */
    Tensor apply(Tensor x2d, QParams act, float[] bias, Epilogue epi) {
        int m = x2d.size(0), n = scale.length;
        QParams a;
        byte[] xq;
        if (x2d.dtype() == DType.I8) {               // codes in act already (an earlier layer's emitCodes)
            if (act == null) throw new IllegalArgumentException("quantized layer: int8 codes in, but it quantizes dynamically (no input parameters)");
            a = act;
            xq = QParams.QTensors.bytes(x2d);
        } else {
            float[] xf = x2d.toFloatArray();
            a = act != null ? act : dynamicParams(xf, null);
            xq = quantize(xf, a);
        }
        int[] acc = matmul(xq, m);
        boolean relu = epi == Epilogue.RELU;
        Tensor y = Tensor.fromArray(Int8Gemm.requantizeFloat(acc, m, n, a.scale0(), a.zero0(), scale, rowSum, bias, relu), m, n);
        return relu ? y : epi.finish(y);
    }

    /** The int32 product [m, N] of int8 rows xq [m, K] (row-major bytes) with these weights. */
    int[] matmul(byte[] xq, int m) {
        return Int8Gemm.matmulT(xq, m, q.size(1), packed());
    }

    /**
     * Per-tensor quantization of x (what {@link QParams#quantizeArray} computes for per-tensor
     * parameters: clamp(rint(x / scale) + zero, qmin, qmax)), in parallel chunks with the Vector
     * API; the scalar loop is its twin ({@code CpuConfig.scalar()}) and the reference it must equal
     * bit for bit. Round half to even comes from adding and removing 1.5 * 2^23 to values clamped
     * to |v| <= 2^22 (where the float grid is at least 1 apart after the addition); clamping first
     * changes nothing, since qmin/qmax are much smaller. NaN becomes 0 in both.
     */
    static byte[] quantize(float[] x, QParams a) {
        byte[] out = new byte[x.length];
        dev.kiln.backend.cpu.Parallel.forRange((x.length + 4095) / 4096, 4096,
                (c0, c1) -> quantizeRange(x, a, out, c0 * 4096, Math.min(x.length, c1 * 4096)));
        return out;
    }

    /** out[from, to) = x[from, to) quantized as {@link #quantize} does (same bits), on the calling thread. */
    static void quantizeRange(float[] x, QParams a, byte[] out, int from, int to) {
        if (dev.kiln.backend.cpu.CpuConfig.scalar()) quantizeScalar(x, a, out, from, to);
        else quantizeVector(x, a, out, from, to);
    }

    static void quantizeScalar(float[] x, QParams a, byte[] out, int from, int to) {
        float s = a.scale0();
        int z = a.zero0();
        double lo = a.qmin(), hi = a.qmax();
        for (int i = from; i < to; i++) out[i] = (byte) (int) Math.max(lo, Math.min(hi, Math.rint(x[i] / s) + z));
    }

    private static final jdk.incubator.vector.VectorSpecies<Float> FS = jdk.incubator.vector.FloatVector.SPECIES_PREFERRED;
    private static final jdk.incubator.vector.VectorSpecies<Byte> BS =
            jdk.incubator.vector.VectorSpecies.of(byte.class, jdk.incubator.vector.VectorShape.forBitSize(FS.vectorBitSize() / 4));

    private static void quantizeVector(float[] x, QParams a, byte[] out, int from, int to) {
        final float magic = 12582912f, lim = 4194304f;   // 1.5 * 2^23, 2^22
        float s = a.scale0(), z = a.zero0(), lo = a.qmin(), hi = a.qmax();
        int step = FS.length(), i = from;
        for (; i + step <= to; i += step) {
            var v = jdk.incubator.vector.FloatVector.fromArray(FS, x, i).div(s).max(-lim).min(lim);
            var r = v.add(magic).sub(magic).add(z).max(lo).min(hi);
            ((jdk.incubator.vector.ByteVector) r.convertShape(jdk.incubator.vector.VectorOperators.F2B, BS, 0)).intoArray(out, i);
        }
        quantizeScalar(x, a, out, i, to);
    }

    /**
     * Asymmetric per-tensor parameters from the min and max of x (dynamic quantization). With a
     * mask (flags for each block of mask.length elements, repeated), only flagged elements count.
     */
    static QParams dynamicParams(float[] x, boolean[] mask) {
        float mn = Float.POSITIVE_INFINITY, mx = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < x.length; i++) {
            if (mask != null && !mask[i % mask.length]) continue;
            mn = Math.min(mn, x[i]);
            mx = Math.max(mx, x[i]);
        }
        if (mn > mx) mn = mx = 0;
        return QParams.fromRange(mn, mx, false);
    }

    /**
     * The float epilogue of a convolution written straight into a new F32 tensor [N, O, pix]: acc is
     * the int32 GEMM result [N*pix, O] (rows (n, pixel)), read in place; the arithmetic is that of
     * {@link Int8Gemm#requantize} (no intermediate arrays: these passes are memory bound).
     */
    Tensor requantizeChannelsFirst(int[] acc, int n, int pix, QParams a, float[] bias, boolean relu, int... outShape) {
        int o = scale.length;
        float[] sj = new float[o], add = new float[o];
        int[] zs = new int[o];
        Int8Gemm.epilogueConstants(a.scale0(), a.zero0(), scale, rowSum, bias, sj, zs, add);
        Tensor out = Tensor.uninitialized(dev.kiln.backend.Backends.cpu(), DType.F32, outShape);   // every element is written below
        MemorySegment dstSeg = out.segment();
        long outBase = out.offset();
        // images over the threads; each image's [pix, O] accumulators become its [O, pix] planes in a
        // heap buffer (channel by channel, reading the accumulators with stride O while they are in
        // cache), written out with one copy per image
        dev.kiln.backend.cpu.Parallel.forRange(n, (long) pix * o, (b0, b1) -> {
            float[] planes = new float[o * pix];
            for (int b = b0; b < b1; b++) {
                int src = b * pix * o;
                for (int j = 0; j < o; j++) {
                    float s = sj[j], add0 = add[j];
                    int z = zs[j], at = j * pix;
                    for (int p = 0, i = src + j; p < pix; p++, i += o) {
                        float v = s * (acc[i] - z) + add0;
                        planes[at + p] = relu ? Math.max(v, 0) : v;
                    }
                }
                MemorySegment.copy(planes, 0, dstSeg, Storage.F32, (outBase + (long) b * o * pix) * Float.BYTES, o * pix);
            }
        });
        return out;
    }

    static float[] floats(Tensor t) { return t == null ? null : t.toFloatArray(); }

    /** y (float) as int8 codes in a (per tensor): the bits of {@link #quantize}, as an I8 tensor of y's shape. */
    static Tensor codes(Tensor y, QParams a) {
        return QParams.QTensors.fromBytes(quantize(y.toFloatArray(), a), y.shape());
    }

}
