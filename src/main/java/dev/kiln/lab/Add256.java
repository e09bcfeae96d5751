package dev.kiln.lab;

import dev.kiln.backend.Backends;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * Example lab variant written with the Vector API: a single-threaded F32 add with 256-bit vectors
 * straight on the tensors' MemorySegments (8 floats per step, a scalar tail). It shows the shape
 * of a researcher's kernel: check the inputs it supports, allocate the output, loop over segments.
 * Registered in {@link LabOps#builtIn()} as "add-256bit"; see docs/KERNEL_LAB.md.
 */
final class Add256 {
    private Add256() {}

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_256;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    static Tensor add(Tensor... in) {
        Tensor a = in[0], b = in[1];
        if (a.dtype() != DType.F32 || b.dtype() != DType.F32 || !a.isContiguous() || !b.isContiguous()
                || !Arrays.equals(a.shape(), b.shape()))
            throw new IllegalArgumentException("add-256bit: needs contiguous F32 tensors of one shape");
        Tensor out = Tensor.empty(Backends.cpu(), DType.F32, a.shape());
        run(a.segment(), a.offset() * 4, b.segment(), b.offset() * 4, out.segment(), out.offset() * 4, a.numel());
        return out;
    }

    /** out[i] = a[i] + b[i] for n floats starting at the given byte offsets. */
    static void run(MemorySegment a, long ao, MemorySegment b, long bo, MemorySegment out, long oo, long n) {
        long bound = S.loopBound(n), i = 0;
        for (; i < bound; i += S.length()) {
            FloatVector va = FloatVector.fromMemorySegment(S, a, ao + i * 4, LE);
            FloatVector vb = FloatVector.fromMemorySegment(S, b, bo + i * 4, LE);
            va.add(vb).intoMemorySegment(out, oo + i * 4, LE);
        }
        for (; i < n; i++)
            out.set(Storage.F32, oo + i * 4, a.get(Storage.F32, ao + i * 4) + b.get(Storage.F32, bo + i * 4));
    }
}
