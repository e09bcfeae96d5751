package dev.kiln.dist;

import dev.kiln.backend.cpu.CpuBackend;
import dev.kiln.ops.BinaryOp;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Storage;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The element-wise steps of the CPU ring: {@code acc = acc op in} over two off-heap segments (the
 * piece just received and the local slice it is folded into) for SUM and MAX, and the final
 * division of AVG. They run on the CPU backend's elementwise kernels on the ring's own thread
 * ({@link CpuBackend#binaryInPlace}); only the integer AVG division (truncating, as Java's) is a
 * loop here, since the engine's integer kernels do not divide.
 */
final class RingReduce {
    private RingReduce() {}

    /** The dtypes the CPU ring reduces. */
    static boolean supports(DType t) {
        return t == DType.F32 || t == DType.F64 || t == DType.I32 || t == DType.I64;
    }

    /** {@code acc[i] = acc[i] op in[i]} for i < count; AVG sums (divide later with {@link #divide}). */
    static void combine(DType t, ProcessGroup.ReduceOp op, MemorySegment acc, MemorySegment in, long count) {
        if (!supports(t)) throw new IllegalArgumentException("cpu process group: cannot reduce " + t.pyName());
        BinaryOp b = op == ProcessGroup.ReduceOp.MAX ? BinaryOp.MAX : BinaryOp.ADD;
        CpuBackend.binaryInPlace(b, t, acc, in, 1, Math.toIntExact(count));
    }

    /** {@code seg[i] /= n} (integers: truncated toward zero, as Java division). */
    static void divide(DType t, MemorySegment seg, long count, int n) {
        switch (t) {
            case F32, F64 -> {
                try (Arena arena = Arena.ofConfined()) {
                    MemorySegment d = arena.allocate(8, 8);
                    if (t == DType.F32) d.set(Storage.F32, 0, n);
                    else d.set(Storage.F64, 0, n);
                    CpuBackend.binaryInPlace(BinaryOp.DIV, t, seg, d, 0, Math.toIntExact(count));
                }
            }
            case I32 -> { for (long i = 0; i < count; i++) seg.setAtIndex(Storage.I32, i, seg.getAtIndex(Storage.I32, i) / n); }
            case I64 -> { for (long i = 0; i < count; i++) seg.setAtIndex(Storage.I64, i, seg.getAtIndex(Storage.I64, i) / n); }
            default -> throw new IllegalArgumentException("cpu process group: cannot average " + t.pyName());
        }
    }
}
