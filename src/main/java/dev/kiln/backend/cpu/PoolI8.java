package dev.kiln.backend.cpu;

import dev.kiln.ops.Pool2dParams;
import dev.kiln.tensor.Tensor;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Max pooling of int8 values (I8 [N, C, H, W], any strides, into a contiguous I8 out): the codes
 * a quantized layer hands the next one ({@code QuantizedConv2d.emitCodes}). Quantization is
 * monotonic, so the max of the codes is the code of the max: pooling the codes gives what
 * quantizing the pooled floats gives, with a quarter of the bytes to read. Windows follow
 * {@link PoolKernels} (padding never wins). Kernel 2, stride 2, no padding over dense planes runs
 * in vectors ({@link #pairs}: the same stream of row pairs as {@link Pool2x2Rows}); everything
 * else, and the scalar twin, is the plain loop over each window.
 */
final class PoolI8 {
    private PoolI8() {}

    private static final VectorSpecies<Byte> B = ByteVector.SPECIES_PREFERRED;
    private static final int L = B.length();
    /** Lane i takes lane 2i (first half; the second half repeats it) / lane 2i + 1: the two columns of an output. */
    private static final jdk.incubator.vector.VectorShuffle<Byte> EVENS = jdk.incubator.vector.VectorShuffle.fromOp(B, i -> (2 * i) % L),
            ODDS = jdk.incubator.vector.VectorShuffle.fromOp(B, i -> (2 * i + 1) % L);
    /** Bytes of vertical maxima per block: the block stays in L1 between the two passes. */
    private static final int BLOCK_BYTES = 8192;

    static void max(Tensor x, Pool2dParams p, Tensor out) {
        int[] xs = x.shape(), os = out.shape();
        long[] st = x.strides();
        int channels = xs[1], planes = xs[0] * xs[1], h = xs[2], w = xs[3], oh = os[2], ow = os[3];
        if (planes == 0 || out.numel() == 0) return;
        boolean dense = st[3] == 1 && st[2] == w && st[1] == (long) h * w && st[0] == (long) channels * h * w;
        if (!CpuConfig.scalar() && dense && p.kernelH() == 2 && p.kernelW() == 2 && p.strideH() == 2 && p.strideW() == 2
                && p.padH() == 0 && p.padW() == 0 && oh == h / 2 && ow == w / 2) {
            pairs(x.segment(), x.offset(), out.segment(), out.offset(), planes, h, w);
            return;
        }
        MemorySegment xs8 = x.segment(), o8 = out.segment();
        Parallel.forRange(planes, (long) oh * ow * p.kernelH() * p.kernelW(), (s, e) -> {
            for (int pl = s; pl < e; pl++) {
                long base = x.offset() + (pl / channels) * st[0] + (pl % channels) * st[1];
                long ob = out.offset() + (long) pl * oh * ow;
                for (int i = 0; i < oh; i++)
                    for (int j = 0; j < ow; j++) {
                        int best = Integer.MIN_VALUE;
                        for (int a = 0; a < p.kernelH(); a++) {
                            int y = i * p.strideH() - p.padH() + a;
                            if (y < 0 || y >= h) continue;
                            for (int b = 0; b < p.kernelW(); b++) {
                                int c = j * p.strideW() - p.padW() + b;
                                if (c >= 0 && c < w) best = Math.max(best, xs8.get(ValueLayout.JAVA_BYTE, base + y * st[2] + c * st[3]));
                            }
                        }
                        o8.set(ValueLayout.JAVA_BYTE, ob + (long) i * ow + j, (byte) best);
                    }
            }
        });
    }

    /**
     * 2 x 2, stride 2 over planes dense planes [H, W] at byte offset xOff into [OH, OW] rows at oOff:
     * per output row the max of its two input rows (2 OW bytes), then over each pair of neighbours
     * (the even and the odd lanes of a vector, gathered by two permutes).
     */
    private static void pairs(MemorySegment x, long xOff, MemorySegment out, long oOff, int planes, int h, int w) {
        int oh = h / 2, ow = w / 2, rows = planes * oh, cols = 2 * ow;
        int block = Math.max(1, BLOCK_BYTES / cols);
        int whole = cols - cols % L;
        VectorMask<Byte> tail = B.indexInRange(whole, cols);   // the same for every row: made once
        Parallel.forRange(rows, 2L * ow, (s, e) -> {
            byte[] v = new byte[block * cols + L];
            byte[] o = new byte[block * ow + L];
            for (int q0 = s; q0 < e; q0 += block) {
                int n = Math.min(block, e - q0);
                for (int i = 0; i < n; i++) {
                    int q = q0 + i, pl = q / oh, r = q % oh;
                    long src = xOff + (long) pl * h * w + 2L * r * w;
                    int j = 0;
                    for (; j < whole; j += L)
                        ByteVector.fromMemorySegment(B, x, src + j, java.nio.ByteOrder.LITTLE_ENDIAN)
                                .max(ByteVector.fromMemorySegment(B, x, src + w + j, java.nio.ByteOrder.LITTLE_ENDIAN)).intoArray(v, i * cols + j);
                    if (j < cols)
                        ByteVector.fromMemorySegment(B, x, src + j, java.nio.ByteOrder.LITTLE_ENDIAN, tail)
                                .max(ByteVector.fromMemorySegment(B, x, src + w + j, java.nio.ByteOrder.LITTLE_ENDIAN, tail)).intoArray(v, i * cols + j);
                }
                int total = n * ow;
                for (int k = 0; k < total; k += L / 2) {       // lanes 0 .. L/2 - 1: max of each pair; the rest is spill
                    ByteVector pair = ByteVector.fromArray(B, v, 2 * k);
                    pair.rearrange(EVENS).max(pair.rearrange(ODDS)).intoArray(o, k);
                }
                MemorySegment.copy(o, 0, out, ValueLayout.JAVA_BYTE, oOff + (long) q0 * ow, total);
            }
        });
    }

}
