package dev.kiln.backend.cpu;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * Strided copy with dtype conversion: dst[i] = cast(src[i]) by {@link Casts}' rules. Runs that are
 * contiguous on both sides (after {@link Rows} merges dims) are bulk copies.
 */
final class CpuCopy {
    private CpuCopy() {}

    static void copy(Tensor src, Tensor dst) {
        if (!Arrays.equals(src.shape(), dst.shape()))
            throw new IllegalArgumentException("copy: shape " + Shape.str(src.shape()) + " does not match " + Shape.str(dst.shape()));
        DType st = src.dtype(), dt = dst.dtype();
        MemorySegment s = src.segment(), d = dst.segment();
        if (st == dt && src.isContiguous() && dst.isContiguous()) {
            int es = st.byteSize();
            MemorySegment.copy(s, src.offset() * es, d, dst.offset() * es, src.numel() * es);
            return;
        }
        Storage ss = src.storage(), ds = dst.storage();
        Rows.forEach(src.shape(), new long[][]{src.strides(), dst.strides()}, new long[]{src.offset(), dst.offset()},
                (offs, n, inner) -> {
                    long si = offs[0], di = offs[1], sst = inner[0], dst2 = inner[1];
                    if (st == dt && sst == 1 && dst2 == 1) { // contiguous runs (e.g. a permute keeping the last dim)
                        int es = st.byteSize();
                        MemorySegment.copy(s, si * es, d, di * es, (long) n * es);
                    } else if (st == DType.F32 && dt == DType.F32) {
                        for (int i = 0; i < n; i++, si += sst, di += dst2)
                            d.setAtIndex(Storage.F32, di, s.getAtIndex(Storage.F32, si));
                    } else if (st == DType.F64 && dt == DType.F64) {
                        for (int i = 0; i < n; i++, si += sst, di += dst2)
                            d.setAtIndex(Storage.F64, di, s.getAtIndex(Storage.F64, si));
                    } else if (st == DType.F32 && dt == DType.F64) {
                        for (int i = 0; i < n; i++, si += sst, di += dst2)
                            d.setAtIndex(Storage.F64, di, s.getAtIndex(Storage.F32, si));
                    } else if (st == DType.F64 && dt == DType.F32) {
                        for (int i = 0; i < n; i++, si += sst, di += dst2)
                            d.setAtIndex(Storage.F32, di, (float) s.getAtIndex(Storage.F64, si));
                    } else if (st == DType.BOOL && dt == DType.F32) {
                        for (int i = 0; i < n; i++, si += sst, di += dst2)
                            d.setAtIndex(Storage.F32, di, s.get(java.lang.foreign.ValueLayout.JAVA_BYTE, si) != 0 ? 1f : 0f);
                    } else if (st == DType.I32 && dt == DType.F32) {
                        for (int i = 0; i < n; i++, si += sst, di += dst2)
                            d.setAtIndex(Storage.F32, di, (float) s.getAtIndex(Storage.I32, si));
                    } else if (st == DType.I64 && dt == DType.F32) {
                        for (int i = 0; i < n; i++, si += sst, di += dst2) // one rounding, not two via double
                            d.setAtIndex(Storage.F32, di, (float) s.getAtIndex(Storage.I64, si));
                    } else if (!st.isFloating() && !dt.isFloating()) {
                        for (int i = 0; i < n; i++, si += sst, di += dst2)
                            ds.setLong(dt, di, ss.getLong(st, si));
                    } else { // the documented conversion rules (Casts), shared with the CUDA kernels
                        for (int i = 0; i < n; i++, si += sst, di += dst2)
                            Casts.element(ss, st, si, ds, dt, di);
                    }
                });
    }
}
