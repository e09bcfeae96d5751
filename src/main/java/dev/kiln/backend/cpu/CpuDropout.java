package dev.kiln.backend.cpu;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * Inverted dropout in one pass, drawing its mask as it goes: element i is kept when the top
 * {@code bits} bits of {@link Generator#draw}{@code (base, i)} are at least {@code threshold}, and
 * becomes {@code in * scale} if kept, {@code in * 0} if not. The same call with the same base is the
 * backward pass (applied to the gradient), so no mask is stored. The mask's SplitMix64 hash runs on
 * 64-bit lanes (as many as the F64 species has), the data on float or double lanes of that count.
 */
final class CpuDropout {
    private CpuDropout() {}

    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final long M1 = 0xbf58476d1ce4e5b9L, M2 = 0x94d049bb133111ebL;
    private static final VectorSpecies<Long> L = VectorSpecies.of(long.class, CpuConfig.F64.vectorShape());
    private static final VectorSpecies<Float> F = VectorSpecies.of(float.class,
            VectorShape.forBitSize(Math.max(64, CpuConfig.F64.vectorBitSize() / 2)));
    /** What a vector of states advances by per step: one draw per lane. */
    private static final LongVector STEP = LongVector.broadcast(L, L.length() * Generator.GOLDEN_GAMMA);
    /** Elements per parallel piece (a multiple of every lane count). */
    private static final int PIECE = 1 << 15;

    /** False where the kernel does not apply (dtype, layout); the caller then takes the composite path. */
    static boolean apply(Tensor in, long base, int bits, long threshold, double scale, Tensor out) {
        DType t = in.dtype();
        if ((t != DType.F32 && t != DType.F64) || out.dtype() != t || !in.isContiguous() || !out.isContiguous()
                || in.numel() != out.numel() || (t == DType.F32 && F.length() != L.length()))
            return false;
        long n = in.numel();
        MemorySegment x = in.segment(), o = out.segment();
        long xo = in.offset(), oo = out.offset();
        int shift = 64 - bits;
        boolean vec = !CpuConfig.scalar();
        int pieces = (int) ((n + PIECE - 1) / PIECE);
        Parallel.forRange(pieces, PIECE, (p0, p1) -> {
            long lo = (long) p0 * PIECE, hi = Math.min(n, (long) p1 * PIECE);
            if (t == DType.F32) rowsF32(x, xo, o, oo, lo, hi, base, shift, threshold, (float) scale, vec);
            else rowsF64(x, xo, o, oo, lo, hi, base, shift, threshold, scale, vec);
        });
        return true;
    }

    /** The lanes to drop: the top bits of each lane's SplitMix64 draw (state z) below the threshold. */
    private static VectorMask<Long> dropped(LongVector z, int shift, long threshold) {
        z = z.lanewise(VectorOperators.XOR, z.lanewise(VectorOperators.LSHR, 30)).mul(M1);
        z = z.lanewise(VectorOperators.XOR, z.lanewise(VectorOperators.LSHR, 27)).mul(M2);
        z = z.lanewise(VectorOperators.XOR, z.lanewise(VectorOperators.LSHR, 31));
        return z.lanewise(VectorOperators.LSHR, shift).compare(VectorOperators.LT, threshold);
    }

    /** The scalar twin of {@link #dropped}, for element i. */
    private static boolean kept(long base, long i, int shift, long threshold) { return (Generator.draw(base, i) >>> shift) >= threshold; }

    /** State before draw i's mix: base + (i + 1) * gamma, one lane per element. */
    private static LongVector states(long base, long i) {
        return LongVector.broadcast(L, base + (i + 1) * Generator.GOLDEN_GAMMA)
                .add(LongVector.zero(L).addIndex(1).mul(Generator.GOLDEN_GAMMA));
    }

    /** Whether {@link #rowsF32} may take its vector loop on this CPU (float and long lane counts agree). */
    static boolean vectorF32() { return F.length() == L.length() && !CpuConfig.scalar(); }

    static void rowsF32(MemorySegment x, long xo, MemorySegment o, long oo, long lo, long hi,
                                long base, int shift, long threshold, float s, boolean vec) {
        long i = lo;
        if (vec) {
            int w = L.length();
            LongVector z = states(base, i);
            FloatVector sv = FloatVector.broadcast(F, s);
            for (; i <= hi - w; i += w, z = z.add(STEP)) {
                FloatVector v = FloatVector.fromMemorySegment(F, x, (xo + i) * 4, LE);
                v.mul(sv).blend(v.mul(0f), dropped(z, shift, threshold).cast(F)).intoMemorySegment(o, (oo + i) * 4, LE);
            }
        }
        for (; i < hi; i++) {
            float v = x.get(Storage.F32, (xo + i) * 4);
            o.set(Storage.F32, (oo + i) * 4, kept(base, i, shift, threshold) ? v * s : v * 0f);
        }
    }

    private static void rowsF64(MemorySegment x, long xo, MemorySegment o, long oo, long lo, long hi,
                                long base, int shift, long threshold, double s, boolean vec) {
        long i = lo;
        if (vec) {
            var d = CpuConfig.F64;
            int w = L.length();
            LongVector z = states(base, i);
            DoubleVector sv = DoubleVector.broadcast(d, s);
            for (; i <= hi - w; i += w, z = z.add(STEP)) {
                DoubleVector v = DoubleVector.fromMemorySegment(d, x, (xo + i) * 8, LE);
                v.mul(sv).blend(v.mul(0d), dropped(z, shift, threshold).cast(d)).intoMemorySegment(o, (oo + i) * 8, LE);
            }
        }
        for (; i < hi; i++) {
            double v = x.get(Storage.F64, (xo + i) * 8);
            o.set(Storage.F64, (oo + i) * 8, kept(base, i, shift, threshold) ? v * s : v * 0d);
        }
    }
}
