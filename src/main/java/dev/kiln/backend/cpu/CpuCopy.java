package dev.kiln.backend.cpu;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * Strided copy with dtype conversion: dst[i] = cast(src[i]) by {@link Casts}' rules. Runs that are
 * contiguous on both sides (after {@link Rows} merges dims) are bulk copies; a transpose of 4-byte
 * elements (the merged dims [batch..., rows, cols] with the source contiguous along rows, the
 * destination along cols: {@code x.t().contiguous()}, K^T in attention) goes tile by tile.
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
        if (st == dt && st.byteSize() == 4 && transpose(src, dst)) return;
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

    /** Tile edge of the blocked transpose (a 32 x 32 float tile is 4 KB: it stays in L1). */
    private static final int TILE = 32;

    /**
     * dst = src for a transpose-shaped 4-byte copy, tile by tile over threads; false (nothing
     * written) when the merged shapes are not [batch..., rows, cols] with the source's rows
     * adjacent (stride 1) and the destination's cols adjacent, or when it is too small to matter.
     */
    private static boolean transpose(Tensor src, Tensor dst) {
        int[] shape = src.shape();
        long[][] strides = {src.strides(), dst.strides()};
        int[] ms = new int[shape.length];
        long[][] mst = new long[2][shape.length];
        int r = Rows.merge(shape, strides, ms, mst);
        if (r < 2 || src.numel() < 4096) return false;
        int rows = ms[r - 2], cols = ms[r - 1];
        long sRow = mst[0][r - 2], sCol = mst[0][r - 1], dRow = mst[1][r - 2], dCol = mst[1][r - 1];
        if (sRow != 1 || dCol != 1 || sCol == 1 || rows < TILE || cols < TILE) return false;
        int batch = 1;
        for (int i = 0; i < r - 2; i++) batch *= ms[i];
        int[] lead = Arrays.copyOf(ms, r - 2);
        long[] sLead = Arrays.copyOf(mst[0], r - 2), dLead = Arrays.copyOf(mst[1], r - 2);
        MemorySegment s = src.segment(), d = dst.segment();
        long so = src.offset(), dof = dst.offset();
        int rowTiles = (rows + TILE - 1) / TILE, units = batch * rowTiles;
        Parallel.forRange(units, (long) TILE * cols * 2, (u0, u1) -> {
            float[] tile = new float[TILE * TILE], out = new float[TILE];
            for (int u = u0; u < u1; u++) {
                int b = u / rowTiles, r0 = (u % rowTiles) * TILE, nr = Math.min(TILE, rows - r0);
                long sb = so, db = dof;
                for (int i = lead.length - 1, rem = b; i >= 0; i--) {
                    int idx = rem % lead[i];
                    rem /= lead[i];
                    sb += idx * sLead[i];
                    db += idx * dLead[i];
                }
                for (int c0 = 0; c0 < cols; c0 += TILE) {
                    int nc = Math.min(TILE, cols - c0);
                    // source column c holds rows r0.. adjacent: one bulk read per column of the tile
                    for (int c = 0; c < nc; c++)
                        MemorySegment.copy(s, Storage.F32, (sb + r0 + (c0 + c) * sCol) * 4, tile, c * TILE, nr);
                    for (int i = 0; i < nr; i++) {
                        for (int c = 0; c < nc; c++) out[c] = tile[c * TILE + i];
                        MemorySegment.copy(out, 0, d, Storage.F32, (db + (r0 + i) * dRow + c0) * 4, nc);
                    }
                }
            }
        });
        return true;
    }
}
