package dev.kiln.backend.cpu;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;

import java.lang.foreign.MemorySegment;

/**
 * gather / scatter-add along one axis. Rows along the last axis are walked with {@link Rows};
 * the indexed axis is resolved per element. Scalar loops: these ops move little data in the models
 * Kiln trains (embeddings, picking class scores) and are bounded by memory access anyway.
 */
final class CpuIndex {
    private CpuIndex() {}

    static void gather(Tensor x, int axis, Tensor index, Tensor out) {
        int[] xs = x.shape();
        long axStride = x.stride(axis);
        int axLen = xs[axis];
        long[] xStrides = x.strides();
        xStrides[axis] = 0; // the index supplies the position along axis
        Storage xsStore = x.storage(), os = out.storage(), is = index.storage();
        DType it = index.dtype();
        DType t = x.dtype();
        MemorySegment xseg = x.segment(), oseg = out.segment();
        Rows.forEach(index.shape(), new long[][]{index.strides(), xStrides, out.strides()},
                new long[]{index.offset(), x.offset(), out.offset()}, (offs, n, inner) -> {
                    long ii = offs[0], xi = offs[1], oi = offs[2];
                    for (int k = 0; k < n; k++, ii += inner[0], xi += inner[1], oi += inner[2]) {
                        long j = checked("gather", is.getLong(it, ii), axLen);
                        long src = xi + j * axStride;
                        if (t == DType.F32) oseg.setAtIndex(Storage.F32, oi, xseg.getAtIndex(Storage.F32, src));
                        else if (t.isFloating()) os.setDouble(t, oi, xsStore.getDouble(t, src));
                        else os.setLong(t, oi, xsStore.getLong(t, src));
                    }
                });
    }

    static void scatterAdd(Tensor dst, int axis, Tensor index, Tensor src) {
        long axStride = dst.stride(axis);
        int axLen = dst.shape()[axis];
        long[] dStrides = dst.strides();
        dStrides[axis] = 0;
        Storage ds = dst.storage(), ss = src.storage(), is = index.storage();
        DType it = index.dtype();
        DType t = dst.dtype();
        // sequential: several index entries may hit the same destination element
        Rows.forEach(index.shape(), new long[][]{index.strides(), dStrides, src.strides()},
                new long[]{index.offset(), dst.offset(), src.offset()}, (offs, n, inner) -> {
                    long ii = offs[0], di = offs[1], si = offs[2];
                    for (int k = 0; k < n; k++, ii += inner[0], di += inner[1], si += inner[2]) {
                        long j = checked("scatter_add", is.getLong(it, ii), axLen);
                        long d = di + j * axStride;
                        if (t.isFloating()) ds.setDouble(t, d, ds.getDouble(t, d) + ss.getDouble(t, si));
                        else ds.setLong(t, d, ds.getLong(t, d) + ss.getLong(t, si));
                    }
                });
    }

    private static long checked(String op, long j, int len) {
        if (j < 0 || j >= len) throw new IndexOutOfBoundsException(op + ": index " + j + " out of range for dimension of size " + len);
        return j;
    }
}
