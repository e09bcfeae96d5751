package dev.kiln.backend.cpu;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;

import jdk.incubator.vector.FloatVector;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * gather / scatter-add along one axis. Rows along the last axis are walked with {@link Rows};
 * the indexed axis is resolved per element. Scalar loops (these ops move little data: picking class
 * scores), except the embedding gradient's whole-row adds.
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
        if (rowsAdd(dst, axis, index, src)) return;
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

    /**
     * The embedding gradient's case (index_select along axis 0, whose index is a 1-d vector expanded
     * over the row): dst[idx[i], :] += src[i, :] whole rows at a time, F32, dst and src contiguous.
     * Rows are added in index order, the columns split over the threads, so each element sums in
     * the order of the element loop. False for any other layout.
     */
    private static boolean rowsAdd(Tensor dst, int axis, Tensor index, Tensor src) {
        if (axis != 0 || dst.dtype() != DType.F32 || src.dtype() != DType.F32 || dst.dim() < 2 || !dst.isContiguous() || !src.isContiguous()
                || !java.util.Arrays.equals(index.shape(), src.shape()))
            return false;
        for (int i = 1; i < dst.dim(); i++)
            if (index.stride(i) != 0 || dst.size(i) != src.size(i)) return false;
        int rows = src.size(0), axLen = dst.size(0);
        long width = src.numel() / Math.max(1, rows);
        if (width == 0) return true;
        long[] j = new long[rows];
        Storage is = index.storage();
        for (int i = 0; i < rows; i++) j[i] = checked("scatter_add", is.getLong(index.dtype(), index.offset() + i * index.stride(0)), axLen);
        MemorySegment d = dst.segment(), x = src.segment();
        long d0 = dst.offset(), x0 = src.offset();
        int l = CpuConfig.F32.length(), parts = (int) Math.max(1, Math.min(CpuConfig.threads(), width / (4L * l)));
        Parallel.forRange(parts, (long) rows * width / parts, (p0, p1) -> {
            for (int part = p0; part < p1; part++) {
                long c0 = width * part / parts / l * l, c1 = part == parts - 1 ? width : width * (part + 1) / parts / l * l;
                for (int i = 0; i < rows; i++)
                    addRow(d, d0 + j[i] * width + c0, x, x0 + (long) i * width + c0, c1 - c0);
            }
        });
        return true;
    }

    /** d[do + c] += x[xo + c] for c < n (element indices). */
    private static void addRow(MemorySegment d, long dOff, MemorySegment x, long xOff, long n) {
        var sp = CpuConfig.F32;
        long c = 0;
        if (!CpuConfig.scalar())
            for (int l = sp.length(); c + l <= n; c += l) {
                long db = (dOff + c) * 4, xb = (xOff + c) * 4;
                FloatVector.fromMemorySegment(sp, d, db, ByteOrder.LITTLE_ENDIAN).add(FloatVector.fromMemorySegment(sp, x, xb, ByteOrder.LITTLE_ENDIAN))
                        .intoMemorySegment(d, db, ByteOrder.LITTLE_ENDIAN);
            }
        for (; c < n; c++) d.setAtIndex(Storage.F32, dOff + c, d.getAtIndex(Storage.F32, dOff + c) + x.getAtIndex(Storage.F32, xOff + c));
    }

    private static long checked(String op, long j, int len) {
        if (j < 0 || j >= len) throw new IndexOutOfBoundsException(op + ": index " + j + " out of range for dimension of size " + len);
        return j;
    }
}
