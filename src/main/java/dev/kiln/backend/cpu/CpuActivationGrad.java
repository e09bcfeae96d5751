package dev.kiln.backend.cpu;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * Fused activation backward kernels: one pass over (g, x) instead of a comparison, a cast and a
 * multiply. ReLU's is the hot one in CNN training.
 */
final class CpuActivationGrad {
    private CpuActivationGrad() {}

    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    static void reluBackward(Tensor g, Tensor x, Tensor out) {
        DType t = out.dtype();
        if (g.dtype() != t || x.dtype() != t || !t.isFloating())
            throw new IllegalArgumentException("relu_backward: dtypes " + g.dtype() + ", " + x.dtype() + " -> " + t);
        MemorySegment gs = g.segment(), xs = x.segment(), os = out.segment();
        Storage gst = g.storage(), xst = x.storage(), ost = out.storage();
        boolean vec = !CpuConfig.scalar() && (t == DType.F32 || t == DType.F64);
        Rows.forEach(out.shape(), new long[][]{g.strides(), x.strides(), out.strides()}, new long[]{g.offset(), x.offset(), out.offset()},
                (offs, n, in) -> {
                    if (vec && in[0] == 1 && in[1] == 1 && in[2] == 1) {
                        if (t == DType.F32) rowF32(gs, offs[0] * 4, xs, offs[1] * 4, os, offs[2] * 4, n);
                        else rowF64(gs, offs[0] * 8, xs, offs[1] * 8, os, offs[2] * 8, n);
                        return;
                    }
                    long gi = offs[0], xi = offs[1], oi = offs[2];
                    for (int i = 0; i < n; i++, gi += in[0], xi += in[1], oi += in[2])
                        ost.setDouble(t, oi, xst.getDouble(t, xi) > 0 ? gst.getDouble(t, gi) : 0.0);
                });
    }

    private static void rowF32(MemorySegment g, long go, MemorySegment x, long xo, MemorySegment o, long oo, int n) {
        var sp = CpuConfig.F32;
        int step = sp.length(), i = 0;
        FloatVector zero = FloatVector.zero(sp);
        for (; i <= n - step; i += step) {
            long b = (long) i * 4;
            FloatVector xv = FloatVector.fromMemorySegment(sp, x, xo + b, LE);
            FloatVector gv = FloatVector.fromMemorySegment(sp, g, go + b, LE);
            zero.blend(gv, xv.compare(VectorOperators.GT, 0f)).intoMemorySegment(o, oo + b, LE);
        }
        for (; i < n; i++) {
            long b = (long) i * 4;
            o.set(Storage.F32, oo + b, x.get(Storage.F32, xo + b) > 0 ? g.get(Storage.F32, go + b) : 0f);
        }
    }

    private static void rowF64(MemorySegment g, long go, MemorySegment x, long xo, MemorySegment o, long oo, int n) {
        var sp = CpuConfig.F64;
        int step = sp.length(), i = 0;
        DoubleVector zero = DoubleVector.zero(sp);
        for (; i <= n - step; i += step) {
            long b = (long) i * 8;
            DoubleVector xv = DoubleVector.fromMemorySegment(sp, x, xo + b, LE);
            DoubleVector gv = DoubleVector.fromMemorySegment(sp, g, go + b, LE);
            zero.blend(gv, xv.compare(VectorOperators.GT, 0d)).intoMemorySegment(o, oo + b, LE);
        }
        for (; i < n; i++) {
            long b = (long) i * 8;
            o.set(Storage.F64, oo + b, x.get(Storage.F64, xo + b) > 0 ? g.get(Storage.F64, go + b) : 0d);
        }
    }
}
