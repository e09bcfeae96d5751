package dev.kiln.onnx.ops;

import dev.kiln.backend.cpu.NBitsVnni;
import dev.kiln.backend.cpu.Parallel;
import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.Value;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Tensor;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

/**
 * ONNX Runtime's contrib op {@code com.microsoft.MatMulNBits}: weight-only quantization,
 * Y = A x dequant(B)^T (+ bias), with A float [..., K] and B the N x K weight in blocks of
 * {@code block_size} along K, each block with its own scale (and zero point):
 * <pre>
 * B uint8 [N, kBlocks, blockSize * bits / 8], codes packed low bits first (4 bits: element 2j in the
 *   low nibble of byte j, 2j+1 in the high one); scales float [N * kBlocks] (or [N, kBlocks]);
 * zero_points (optional) uint8, packed like B ([N * ceil(kBlocks / 2)] for 4 bits) or [N * kBlocks]
 *   for 8 bits; default 2^(bits-1);  w[n, k] = (code[n, k] - zp[n, k / bs]) * scale[n, k / bs].
 * </pre>
 * bits 4 and 8. One row (a decode step, bound by reading the weight) runs as a matrix-vector
 * product on the codes: per column and block, a float dot of the codes with A (the 4-bit lanes
 * against A's even and odd elements, split once per call), then times the scale, minus
 * zp * scale * sum(A over the block); column ranges spread over the threads. More rows dequantize
 * the weight into a float [K, N] and take the GEMM (correct, not yet fast). Optional input 4
 * (g_idx) must be absent; input 5 (bias, float [N]) is added.
 */
final class MatMulNBits {
    private MatMulNBits() {}

    /** Float lanes (16 with AVX-512, 8 with AVX2 or -Dkiln.cpu.vectorBits=256); bytes and ints in the same lane count. */
    private static final VectorSpecies<Float> F = dev.kiln.backend.cpu.CpuConfig.F32;
    private static final int L = F.length();
    private static final VectorSpecies<Byte> BL = VectorSpecies.of(byte.class, jdk.incubator.vector.VectorShape.forBitSize(8 * L));
    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());

    static void register(OpRegistry r) { r.register("com.microsoft", "MatMulNBits", MatMulNBits::run); }

    static List<Value> run(OpCall call) {
        Tensor a = call.in(0), b = call.in(1), scales = call.in(2);
        int k = (int) call.attrInt("K", -1), n = (int) call.attrInt("N", -1), bits = (int) call.attrInt("bits", 4),
                bs = (int) call.attrInt("block_size", -1);
        if (bits != 4 && bits != 8) throw call.error("bits = " + bits + " is not supported (4 or 8)");
        if (k <= 0 || n <= 0 || bs < 16 || Integer.bitCount(bs) != 1)
            throw call.error("needs attributes K > 0, N > 0 and block_size a power of two >= 16, got K " + k + ", N " + n + ", block_size " + bs);
        int kBlocks = (k + bs - 1) / bs, blob = bs * bits / 8;
        if (a.dtype() != DType.F32 || a.dim() < 1 || a.size(-1) != k)
            throw call.error("A must be float32 [..., " + k + "], got " + a.dtype().pyName() + " " + Shape.str(a.shape()));
        if (call.type(1) != ElemType.UINT8 || b.numel() != (long) n * kBlocks * blob)
            throw call.error("B must be uint8 [" + n + ", " + kBlocks + ", " + blob + "], got " + call.type(1) + " " + Shape.str(b.shape()));
        if (scales.dtype() != DType.F32 || scales.numel() != (long) n * kBlocks)
            throw call.error("scales must be float32 with " + n * kBlocks + " values, got " + scales.dtype().pyName() + " " + Shape.str(scales.shape()));
        if (call.has(4)) throw call.error("g_idx (input 4) is not supported");
        float[] bias = call.has(5) ? call.in(5).toFloatArray() : null;
        if (bias != null && bias.length != n) throw call.error("bias must have " + n + " values, got " + bias.length);
        Weights w = weights(call, b, scales, n, k, kBlocks, blob, bits);
        int m = (int) (a.numel() / k);
        int[] shape = a.shape().clone();
        shape[shape.length - 1] = n;
        float[] x = a.toFloatArray();
        float[] y = new float[m * n];
        if (call.attrInt("accuracy_level", 0) == 4 && bs % 32 == 0 && m <= INT8_ROWS && NBitsVnni.available()) {
            NBitsVnni.Weights vw = vnniWeights(b, scales, w, bs, bits, key(call, b, scales, n, k, kBlocks, bits), call.has(3));
            try {
                NBitsVnni.gemvRows(vw, x, k, m, y, true);     // each weight read once per group of rows
            } finally {
                if (!cached(b, scales)) vw.close();           // a constant weight's copy lives with its storage
            }
        } else if (m == 1) {
            gemv(w, x, y, bs, bits);
        } else {
            dense(w, x, y, m, bs, bits);
        }
        if (bias != null) for (int r = 0; r < m; r++) for (int j = 0; j < n; j++) y[r * n + j] += bias[j];
        return List.of(Value.of(Tensor.fromArray(y, shape), ElemType.FLOAT));
    }

    /** The codes as bytes (0..255), the scales and the zero points as floats, per (column, block). */
    private record Weights(int n, int k, int kBlocks, int blob, byte[] codes, float[] scale, float[] zero) {}

    private static Weights weights(OpCall call, Tensor b, Tensor scales, int n, int k, int kBlocks, int blob, int bits) {
        // uint8 values are stored widened (I32); the codes are kept as raw bytes with the weight's storage
        java.util.function.Function<Object, Weights> build = key -> {
            int[] raw = b.toIntArray();
            byte[] codes = new byte[raw.length];
            for (int i = 0; i < raw.length; i++) codes[i] = (byte) raw[i];
            float[] sc = scales.toFloatArray();
            float[] zero = new float[n * kBlocks];
            if (call.has(3)) {
                Tensor z = call.in(3);
                if (call.type(3) != ElemType.UINT8) throw call.error("zero_points must be uint8 (packed), got " + call.type(3));
                int[] zv = z.toIntArray();
                int perCol = bits == 4 ? (kBlocks + 1) / 2 : kBlocks;
                if (zv.length != n * perCol) throw call.error("zero_points must have " + n * perCol + " values, got " + zv.length);
                for (int j = 0; j < n; j++)
                    for (int q = 0; q < kBlocks; q++)
                        zero[j * kBlocks + q] = bits == 4 ? (zv[j * perCol + q / 2] >> (4 * (q & 1))) & 15 : zv[j * kBlocks + q];
            } else {
                java.util.Arrays.fill(zero, 1 << (bits - 1));
            }
            return new Weights(n, k, kBlocks, blob, codes, sc, zero);
        };
        Key key = key(call, b, scales, n, k, kBlocks, bits);
        // a model constant: unpacked once and kept with the weight's storage; else (a computed B) per call
        return b.storage().isConstant() && scales.storage().isConstant() ? b.storage().derived(key, build) : build.apply(key);
    }

    private static Key key(OpCall call, Tensor b, Tensor scales, int n, int k, int kBlocks, int bits) {
        return new Key(b.offset(), n, k, kBlocks, bits, scales.offset(), call.has(3) ? call.in(3).offset() : -1);
    }

    private record Key(long bOff, int n, int k, int kBlocks, int bits, long sOff, long zOff) {}

    /** The key of a weight's {@link NBitsVnni} layout among its storage's derived data. */
    private record VnniKey(Key weights) {}

    /**
     * Rows up to this many (a decode step, small batches) take the int8 matrix-vector kernels at
     * accuracy_level 4 (each weight read once per group of 8 rows); more rows dequantize for the GEMM.
     */
    static final int INT8_ROWS = 16;

    /**
     * w in {@link NBitsVnni}'s layout (sub-blocks of 32, which a block_size that is a multiple of 32
     * splits evenly), made once per constant weight like {@link #weights}.
     */
    private static NBitsVnni.Weights vnniWeights(Tensor b, Tensor scales, Weights w, int bs, int bits, Key key, boolean explicitZeros) {
        java.util.function.Function<Object, NBitsVnni.Weights> build = unused -> {
            int n = w.n, kb = w.kBlocks, kp = kb * bs, nsub = NBitsVnni.subBlocks(kp), per = bits * 4;
            byte[] codes = new byte[n * nsub * per];
            float[] ws = new float[n * nsub], wz = explicitZeros ? new float[n * nsub] : null;
            int[] e = new int[32];
            for (int j = 0; j < n; j++)
                for (int s = 0; s < kp / 32; s++) {
                    int q = s * 32 / bs, e0 = s * 32 % bs, at = (j * kb + q) * w.blob;
                    for (int i = 0; i < 32; i++) {
                        int el = e0 + i;
                        e[i] = bits == 4 ? ((w.codes[at + el / 2] & 255) >> (4 * (el & 1))) & 15 : w.codes[at + el] & 255;
                    }
                    int o = (j * nsub + s) * per;
                    if (bits == 4) for (int i = 0; i < 16; i++) codes[o + i] = (byte) (e[i] | e[i + 16] << 4);
                    else for (int i = 0; i < 32; i++) codes[o + i] = (byte) e[i];
                    ws[j * nsub + s] = w.scale[j * kb + q];
                    if (wz != null) wz[j * nsub + s] = w.scale[j * kb + q] * w.zero[j * kb + q];
                }
            // without zero points every one is 2^(bits-1): the kernel then needs no second scale stream
            return explicitZeros ? new NBitsVnni.Weights(bits, n, nsub, codes, ws, wz) : new NBitsVnni.Weights(bits, n, nsub, codes, ws, null, 1 << (bits - 1));
        };
        VnniKey vk = new VnniKey(key);
        return cached(b, scales) ? b.storage().derived(vk, build) : build.apply(vk);
    }

    /** Whether the kernel's copy of the weight is kept with b's storage (both inputs constant). */
    private static boolean cached(Tensor b, Tensor scales) { return b.storage().isConstant() && scales.storage().isConstant(); }

    /** y [N] = x [K] . dequant(B)^T, column ranges on the threads. */
    private static void gemv(Weights w, float[] x, float[] y, int bs, int bits) {
        int k = w.k, kb = w.kBlocks;
        float[] xp = new float[kb * bs];                    // x zero-padded to whole blocks
        System.arraycopy(x, 0, xp, 0, k);
        float[] blockSum = new float[kb];
        for (int q = 0; q < kb; q++) {
            float s = 0;
            for (int i = 0; i < bs; i++) s += xp[q * bs + i];
            blockSum[q] = s;
        }
        // 4 bits: byte j of a block holds elements 2j (low) and 2j+1 (high): x split into even and odd halves per block
        float[] xe = bits == 4 ? new float[kb * bs / 2] : null, xo = bits == 4 ? new float[kb * bs / 2] : null;
        if (bits == 4) for (int i = 0; i < kb * bs / 2; i++) {
            xe[i] = xp[2 * i];
            xo[i] = xp[2 * i + 1];
        }
        boolean vector = L >= 8 && w.blob % L == 0 && !dev.kiln.backend.cpu.CpuConfig.scalar();
        Parallel.forRange(w.n, (long) k / 2 + 16, (j0, j1) -> {
            for (int j = j0; j < j1; j++) {
                if (vector) {
                    y[j] = bits == 4 ? column4(w, j, xe, xo, blockSum) : column8(w, j, bs, xp, blockSum);
                    continue;
                }
                float acc = 0;
                for (int q = 0; q < kb; q++) {
                    int base = (j * kb + q) * w.blob;
                    float dot = bits == 4 ? dot4(w.codes, base, w.blob, xe, xo, q * w.blob) : dot8(w.codes, base, bs, xp, q * bs);
                    float sc = w.scale[j * kb + q];
                    acc += sc * (dot - w.zero[j * kb + q] * blockSum[q]);
                }
                y[j] = acc;
            }
        });
    }

    /**
     * Column j, 4 bits, in vectors of L lanes: per block, the codes' dot with x stays a vector and is
     * added scaled (one FMA with the block's scale), so there is one horizontal sum per column, not
     * one per block (that version ran at 5 GB/s); the zero points' part, zp * scale * sum(x over
     * the block), is summed on the side.
     */
    private static float column4(Weights w, int j, float[] xe, float[] xo, float[] blockSum) {
        if (w.blob == L) return column4OneVector(w.codes, j * w.kBlocks, w.kBlocks, xe, xo, w.scale, w.zero, blockSum);
        int kb = w.kBlocks, blob = w.blob;
        byte[] codes = w.codes;
        float[] scale = w.scale, zero = w.zero;
        FloatVector acc = FloatVector.zero(F);
        float corr = 0;
        for (int q = 0, base = j * kb * blob, at = j * kb; q < kb; q++, at++) {
            int xOff = q * blob;
            FloatVector t = FloatVector.zero(F);
            for (int b = 0; b < blob; b += L, base += L) {
                // widen the L bytes to int lanes first: nibble ops on ints are native, on bytes emulated (1.4x faster)
                IntVector v = (IntVector) ByteVector.fromArray(BL, codes, base).convertShape(VectorOperators.B2I, I, 0);
                FloatVector fl = (FloatVector) v.and(15).convert(VectorOperators.I2F, 0);
                FloatVector fh = (FloatVector) v.lanewise(VectorOperators.ASHR, 4).and(15).convert(VectorOperators.I2F, 0);
                t = fl.fma(FloatVector.fromArray(F, xe, xOff + b), t);
                t = fh.fma(FloatVector.fromArray(F, xo, xOff + b), t);
            }
            float sc = scale[at];
            acc = t.fma(FloatVector.broadcast(F, sc), acc);
            corr += sc * zero[at] * blockSum[q];
        }
        return (float) dev.kiln.backend.cpu.Lanes.sum(acc) - corr;   // lanes in a fixed order (reduceLanes changes its order when C2 compiles)
    }

    /**
     * {@link #column4} when a block's codes are one vector (blocks of 32 with 16 lanes, of 16 with
     * 8): no inner loop, which the JIT compiled 2x slower (at = the column's first block).
     */
    private static float column4OneVector(byte[] codes, int at, int kb, float[] xe, float[] xo, float[] scale, float[] zero, float[] blockSum) {
        FloatVector acc = FloatVector.zero(F);
        float corr = 0;
        for (int q = 0; q < kb; q++) {
            IntVector v = (IntVector) ByteVector.fromArray(BL, codes, (at + q) * L).convertShape(VectorOperators.B2I, I, 0);
            FloatVector fl = (FloatVector) v.and(15).convert(VectorOperators.I2F, 0);
            FloatVector fh = (FloatVector) v.lanewise(VectorOperators.ASHR, 4).and(15).convert(VectorOperators.I2F, 0);
            FloatVector t = fl.mul(FloatVector.fromArray(F, xe, q * L));
            t = fh.fma(FloatVector.fromArray(F, xo, q * L), t);
            float sc = scale[at + q];
            acc = t.fma(FloatVector.broadcast(F, sc), acc);
            corr += sc * zero[at + q] * blockSum[q];
        }
        return (float) dev.kiln.backend.cpu.Lanes.sum(acc) - corr;   // lanes in a fixed order (reduceLanes changes its order when C2 compiles)
    }

    /** Column j, 8 bits, as {@link #column4}. */
    private static float column8(Weights w, int j, int bs, float[] xp, float[] blockSum) {
        if (bs == 2 * L) return column8TwoVectors(w.codes, j * w.kBlocks, w.kBlocks, xp, w.scale, w.zero, blockSum);
        int kb = w.kBlocks;
        FloatVector acc = FloatVector.zero(F);
        float corr = 0;
        for (int q = 0; q < kb; q++) {
            int base = (j * kb + q) * bs, xOff = q * bs;
            FloatVector t = FloatVector.zero(F);
            for (int b = 0; b < bs; b += L) {
                IntVector v = (IntVector) ByteVector.fromArray(BL, w.codes, base + b).convertShape(VectorOperators.B2I, I, 0);
                FloatVector f = (FloatVector) v.and(255).convert(VectorOperators.I2F, 0);   // unsigned codes
                t = f.fma(FloatVector.fromArray(F, xp, xOff + b), t);
            }
            float sc = w.scale[j * kb + q];
            acc = t.fma(FloatVector.broadcast(F, sc), acc);
            corr += sc * w.zero[j * kb + q] * blockSum[q];
        }
        return (float) dev.kiln.backend.cpu.Lanes.sum(acc) - corr;   // lanes in a fixed order (reduceLanes changes its order when C2 compiles)
    }

    /** {@link #column8} for blocks of two vectors (32 with 16 lanes), unrolled: the loop over a block's vectors ran 2x slower. */
    private static float column8TwoVectors(byte[] codes, int at, int kb, float[] xp, float[] scale, float[] zero, float[] blockSum) {
        FloatVector acc = FloatVector.zero(F);
        float corr = 0;
        for (int q = 0; q < kb; q++) {
            int base = (at + q) * 2 * L, xOff = q * 2 * L;
            FloatVector f0 = (FloatVector) ((IntVector) ByteVector.fromArray(BL, codes, base).convertShape(VectorOperators.B2I, I, 0))
                    .and(255).convert(VectorOperators.I2F, 0);
            FloatVector f1 = (FloatVector) ((IntVector) ByteVector.fromArray(BL, codes, base + L).convertShape(VectorOperators.B2I, I, 0))
                    .and(255).convert(VectorOperators.I2F, 0);
            FloatVector t = f0.mul(FloatVector.fromArray(F, xp, xOff));
            t = f1.fma(FloatVector.fromArray(F, xp, xOff + L), t);
            float sc = scale[at + q];
            acc = t.fma(FloatVector.broadcast(F, sc), acc);
            corr += sc * zero[at + q] * blockSum[q];
        }
        return (float) dev.kiln.backend.cpu.Lanes.sum(acc) - corr;   // lanes in a fixed order (reduceLanes changes its order when C2 compiles)
    }

    /** Sum over one 4-bit block (the scalar path): low nibbles times xe, high nibbles times xo (blob bytes from codes[base]). */
    private static float dot4(byte[] codes, int base, int blob, float[] xe, float[] xo, int xOff) {
        float s = 0;
        for (int j = 0; j < blob; j++) {
            int c = codes[base + j] & 255;
            s += (c & 15) * xe[xOff + j] + (c >> 4) * xo[xOff + j];
        }
        return s;
    }

    /** Sum over one 8-bit block of codes (unsigned) times x (the scalar path). */
    private static float dot8(byte[] codes, int base, int bs, float[] xp, int xOff) {
        float s = 0;
        for (int j = 0; j < bs; j++) s += (codes[base + j] & 255) * xp[xOff + j];
        return s;
    }

    /** Several rows: the weight dequantized into float [K, N] for this call, then the GEMM. */
    private static void dense(Weights w, float[] x, float[] y, int m, int bs, int bits) {
        int k = w.k, n = w.n;
        float[] wt = new float[k * n];
        Parallel.forRange(n, (long) k, (j0, j1) -> {
            for (int j = j0; j < j1; j++)
                for (int p = 0; p < k; p++) {
                    int q = p / bs, at = (j * w.kBlocks + q) * w.blob, i = p % bs;
                    int c = bits == 4 ? ((w.codes[at + i / 2] & 255) >> (4 * (i & 1))) & 15 : w.codes[at + i] & 255;
                    wt[p * n + j] = (c - w.zero[j * w.kBlocks + q]) * w.scale[j * w.kBlocks + q];
                }
        });
        try (Tensor xa = Tensor.fromArray(x, m, k); Tensor wa = Tensor.fromArray(wt, k, n); Tensor ya = xa.matmul(wa)) {
            MemorySegment.copy(ya.segment(), ValueLayout.JAVA_FLOAT, 4L * ya.offset(), y, 0, m * n);
        }
    }
}
