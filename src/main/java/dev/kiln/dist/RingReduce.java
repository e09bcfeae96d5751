package dev.kiln.dist;

import static dev.kiln.tensor.Storage.F32;
import static dev.kiln.tensor.Storage.F64;
import static dev.kiln.tensor.Storage.I32;
import static dev.kiln.tensor.Storage.I64;

import dev.kiln.backend.cpu.CpuConfig;
import dev.kiln.tensor.DType;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The element-wise kernels of the CPU ring: {@code acc = acc op in} over two off-heap segments
 * (the piece just received and the local slice it is folded into) for SUM and MAX, and the final
 * division of AVG. Vector body plus scalar tail, one small loop per dtype and op so C2 compiles
 * each straight. Offsets are in bytes from the start of each segment; counts in elements.
 */
final class RingReduce {
    private RingReduce() {}

    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final VectorSpecies<Float> F = CpuConfig.F32;
    private static final VectorSpecies<Double> D = CpuConfig.F64;
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Long> L = LongVector.SPECIES_PREFERRED;

    /** The dtypes the CPU ring reduces. */
    static boolean supports(DType t) {
        return t == DType.F32 || t == DType.F64 || t == DType.I32 || t == DType.I64;
    }

    /** {@code acc[i] = acc[i] op in[i]} for i < count; AVG sums (divide later with {@link #divide}). */
    static void combine(DType t, ProcessGroup.ReduceOp op, MemorySegment acc, MemorySegment in, long count) {
        boolean max = op == ProcessGroup.ReduceOp.MAX;
        switch (t) {
            case F32 -> { if (max) maxF32(acc, in, count); else sumF32(acc, in, count); }
            case F64 -> { if (max) maxF64(acc, in, count); else sumF64(acc, in, count); }
            case I32 -> { if (max) maxI32(acc, in, count); else sumI32(acc, in, count); }
            case I64 -> { if (max) maxI64(acc, in, count); else sumI64(acc, in, count); }
            default -> throw new IllegalArgumentException("cpu process group: cannot reduce " + t.pyName());
        }
    }

    /** {@code seg[i] /= n} (integers: truncated toward zero, as Java division). */
    static void divide(DType t, MemorySegment seg, long count, int n) {
        switch (t) {
            case F32 -> divF32(seg, count, n);
            case F64 -> divF64(seg, count, n);
            case I32 -> { for (long i = 0; i < count; i++) seg.setAtIndex(I32, i, seg.getAtIndex(I32, i) / n); }
            case I64 -> { for (long i = 0; i < count; i++) seg.setAtIndex(I64, i, seg.getAtIndex(I64, i) / n); }
            default -> throw new IllegalArgumentException("cpu process group: cannot average " + t.pyName());
        }
    }

    private static void divF32(MemorySegment a, long n, int d) {
        long i = 0, up = n - n % F.length();
        for (; i < up; i += F.length()) FloatVector.fromMemorySegment(F, a, i * 4, LE).div(d).intoMemorySegment(a, i * 4, LE);
        for (; i < n; i++) a.setAtIndex(F32, i, a.getAtIndex(F32, i) / d);
    }

    private static void divF64(MemorySegment a, long n, int d) {
        long i = 0, up = n - n % D.length();
        for (; i < up; i += D.length()) DoubleVector.fromMemorySegment(D, a, i * 8, LE).div(d).intoMemorySegment(a, i * 8, LE);
        for (; i < n; i++) a.setAtIndex(F64, i, a.getAtIndex(F64, i) / d);
    }

    private static void sumF32(MemorySegment a, MemorySegment b, long n) {
        long i = 0, up = n - n % F.length();
        for (; i < up; i += F.length()) {
            long o = i * 4;
            FloatVector.fromMemorySegment(F, a, o, LE).add(FloatVector.fromMemorySegment(F, b, o, LE)).intoMemorySegment(a, o, LE);
        }
        for (; i < n; i++) a.setAtIndex(F32, i, a.getAtIndex(F32, i) + b.getAtIndex(F32, i));
    }

    private static void maxF32(MemorySegment a, MemorySegment b, long n) {
        long i = 0, up = n - n % F.length();
        for (; i < up; i += F.length()) {
            long o = i * 4;
            FloatVector.fromMemorySegment(F, a, o, LE).max(FloatVector.fromMemorySegment(F, b, o, LE)).intoMemorySegment(a, o, LE);
        }
        for (; i < n; i++) a.setAtIndex(F32, i, Math.max(a.getAtIndex(F32, i), b.getAtIndex(F32, i)));
    }

    private static void sumF64(MemorySegment a, MemorySegment b, long n) {
        long i = 0, up = n - n % D.length();
        for (; i < up; i += D.length()) {
            long o = i * 8;
            DoubleVector.fromMemorySegment(D, a, o, LE).add(DoubleVector.fromMemorySegment(D, b, o, LE)).intoMemorySegment(a, o, LE);
        }
        for (; i < n; i++) a.setAtIndex(F64, i, a.getAtIndex(F64, i) + b.getAtIndex(F64, i));
    }

    private static void maxF64(MemorySegment a, MemorySegment b, long n) {
        long i = 0, up = n - n % D.length();
        for (; i < up; i += D.length()) {
            long o = i * 8;
            DoubleVector.fromMemorySegment(D, a, o, LE).max(DoubleVector.fromMemorySegment(D, b, o, LE)).intoMemorySegment(a, o, LE);
        }
        for (; i < n; i++) a.setAtIndex(F64, i, Math.max(a.getAtIndex(F64, i), b.getAtIndex(F64, i)));
    }

    private static void sumI32(MemorySegment a, MemorySegment b, long n) {
        long i = 0, up = n - n % I.length();
        for (; i < up; i += I.length()) {
            long o = i * 4;
            IntVector.fromMemorySegment(I, a, o, LE).add(IntVector.fromMemorySegment(I, b, o, LE)).intoMemorySegment(a, o, LE);
        }
        for (; i < n; i++) a.setAtIndex(I32, i, a.getAtIndex(I32, i) + b.getAtIndex(I32, i));
    }

    private static void maxI32(MemorySegment a, MemorySegment b, long n) {
        long i = 0, up = n - n % I.length();
        for (; i < up; i += I.length()) {
            long o = i * 4;
            IntVector.fromMemorySegment(I, a, o, LE).max(IntVector.fromMemorySegment(I, b, o, LE)).intoMemorySegment(a, o, LE);
        }
        for (; i < n; i++) a.setAtIndex(I32, i, Math.max(a.getAtIndex(I32, i), b.getAtIndex(I32, i)));
    }

    private static void sumI64(MemorySegment a, MemorySegment b, long n) {
        long i = 0, up = n - n % L.length();
        for (; i < up; i += L.length()) {
            long o = i * 8;
            LongVector.fromMemorySegment(L, a, o, LE).add(LongVector.fromMemorySegment(L, b, o, LE)).intoMemorySegment(a, o, LE);
        }
        for (; i < n; i++) a.setAtIndex(I64, i, a.getAtIndex(I64, i) + b.getAtIndex(I64, i));
    }

    private static void maxI64(MemorySegment a, MemorySegment b, long n) {
        long i = 0, up = n - n % L.length();
        for (; i < up; i += L.length()) {
            long o = i * 8;
            LongVector.fromMemorySegment(L, a, o, LE).max(LongVector.fromMemorySegment(L, b, o, LE)).intoMemorySegment(a, o, LE);
        }
        for (; i < n; i++) a.setAtIndex(I64, i, Math.max(a.getAtIndex(I64, i), b.getAtIndex(I64, i)));
    }
}
