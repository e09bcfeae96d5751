package dev.kiln.backend.cpu;

import dev.kiln.ops.ReduceOp;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Storage;

import java.lang.foreign.MemorySegment;

/**
 * Reductions over outer axes (the innermost kept dim is contiguous), e.g. summing [N, C] over N:
 * each output row accumulates whole x rows with vector ops (acc op= x row), in column blocks of
 * ElemRows.BUF. F32 sums flush their float accumulator into a double one every 256 rows. All ops,
 * F32 and F64: VAR and LOGSUMEXP take two passes over the rows (column means / maxima first),
 * ARGMAX/ARGMIN keep per-column best values and row indices.
 */
final class ReduceOuter {
    private ReduceOuter() {}

    private static final int FLUSH_ROWS = 256;

    /** F32 arg indices are kept as exact floats, so at most 2^24 rows. */
    static boolean supports(ReduceOp op, DType t, long nRed) {
        return !(t == DType.F32 && (op == ReduceOp.ARGMAX || op == ReduceOp.ARGMIN) && nRed >= 1 << 24);
    }

    private static int code(ReduceOp op) {
        return switch (op) {
            case SUM, MEAN -> 0;
            case PROD -> 1;
            case MAX -> 2;
            default -> 3;
        };
    }

    static void run(ReduceOp op, DType t, MemorySegment x, MemorySegment out, ReducePlan p, double param) {
        int k = p.keep.length;
        int width = p.keep[k - 1];
        int blocks = (width + ElemRows.BUF - 1) / ElemRows.BUF;
        long outer = p.nOut / width;
        long tasks = outer * blocks;
        Parallel.forRange((int) tasks, p.nRed * Math.min(width, ElemRows.BUF), (s, e) -> {
            ElemRows.Scratch scratch = ElemRows.Scratch.get();
            for (int task = s; task < e; task++) {
                long o = task / blocks;
                int c0 = (task % blocks) * ElemRows.BUF, w = Math.min(ElemRows.BUF, width - c0);
                long j = o * width + c0; // first output element of this block
                if (t == DType.F32) blockF32(op, x, p.xOffset(j), out, p.outOffset(j), w, p, param, scratch);
                else blockF64(op, x, p.xOffset(j), out, p.outOffset(j), w, p, param, scratch);
            }
        });
    }

    private static void blockF32(ReduceOp op, MemorySegment x, long xo, MemorySegment out, long oo, int w,
                                 ReducePlan p, double param, ElemRows.Scratch s) {
        MemorySegment acc = s.buf(0), dacc = s.buf(1), col = s.buf(2);
        switch (op) {
            case SUM, MEAN -> {
                sumColumnsF32(x, xo, w, p, acc, dacc);
                double scale = op == ReduceOp.MEAN ? 1.0 / p.nRed : 1.0;
                for (int i = 0; i < w; i++) out.setAtIndex(Storage.F32, oo + i, (float) (dacc.getAtIndex(Storage.F64, i) * scale));
            }
            case PROD, MAX, MIN -> {
                foldF32(code(op), x, xo, w, p, acc);
                MemorySegment.copy(acc, 0, out, oo * 4, w * 4L);
            }
            case VAR -> {
                sumColumnsF32(x, xo, w, p, acc, dacc);
                for (int i = 0; i < w; i++) col.setAtIndex(Storage.F32, i, (float) (dacc.getAtIndex(Storage.F64, i) / p.nRed));
                passF32(x, xo, w, p, acc, dacc, col, true);
                double div = Math.max(0, p.nRed - param);
                for (int i = 0; i < w; i++) out.setAtIndex(Storage.F32, oo + i, (float) (dacc.getAtIndex(Storage.F64, i) / div));
            }
            case LOGSUMEXP -> {
                foldF32(code(ReduceOp.MAX), x, xo, w, p, col);
                passF32(x, xo, w, p, acc, dacc, col, false);
                for (int i = 0; i < w; i++) {
                    float m = col.getAtIndex(Storage.F32, i);
                    double r = Float.isInfinite(m) || Float.isNaN(m) ? m : m + Math.log(dacc.getAtIndex(Storage.F64, i));
                    out.setAtIndex(Storage.F32, oo + i, (float) r);
                }
            }
            case ARGMAX, ARGMIN -> {
                MemorySegment.copy(x, xo * 4, acc, 0, w * 4L);
                col.asSlice(0, w * 4L).fill((byte) 0);
                ReduceScalar.Odometer od = new ReduceScalar.Odometer(p);
                od.next();
                for (int r = 1; r < p.nRed; r++, od.next())
                    ReduceRowF32.argAcc(acc, col, x, xo + od.off, w, r, op == ReduceOp.ARGMAX);
                for (int i = 0; i < w; i++) out.setAtIndex(Storage.I64, oo + i, (long) col.getAtIndex(Storage.F32, i));
            }
        }
    }

    /** acc (op)= every row, starting from the first row (op: 1 mul, 2 max, 3 min). */
    private static void foldF32(int code, MemorySegment x, long xo, int w, ReducePlan p, MemorySegment acc) {
        ReduceScalar.Odometer od = new ReduceScalar.Odometer(p);
        MemorySegment.copy(x, xo * 4, acc, 0, w * 4L);
        od.next();
        for (long r = 1; r < p.nRed; r++, od.next()) ReduceRowF32.accumulate(code, acc, x, xo + od.off, w);
    }

    /** dacc = column sums (float accumulator flushed to double every FLUSH_ROWS rows). */
    private static void sumColumnsF32(MemorySegment x, long xo, int w, ReducePlan p, MemorySegment acc, MemorySegment dacc) {
        ReduceScalar.Odometer od = new ReduceScalar.Odometer(p);
        acc.asSlice(0, w * 4L).fill((byte) 0);
        dacc.asSlice(0, w * 8L).fill((byte) 0);
        for (long r = 0; r < p.nRed; r++, od.next()) {
            ReduceRowF32.accumulate(0, acc, x, xo + od.off, w);
            if ((r + 1) % FLUSH_ROWS == 0) flushF32(acc, dacc, w);
        }
        flushF32(acc, dacc, w);
    }

    /** dacc = column sums of (x - col)^2 (sqDev) or e^(x - col), flushed like sumColumnsF32. */
    private static void passF32(MemorySegment x, long xo, int w, ReducePlan p, MemorySegment acc, MemorySegment dacc,
                                MemorySegment col, boolean sqDev) {
        ReduceScalar.Odometer od = new ReduceScalar.Odometer(p);
        acc.asSlice(0, w * 4L).fill((byte) 0);
        dacc.asSlice(0, w * 8L).fill((byte) 0);
        for (long r = 0; r < p.nRed; r++, od.next()) {
            if (sqDev) ReduceRowF32.sqDevAcc(acc, x, xo + od.off, col, w);
            else ReduceRowF32.expSubAcc(acc, x, xo + od.off, col, null, 0, w);
            if ((r + 1) % FLUSH_ROWS == 0) flushF32(acc, dacc, w);
        }
        flushF32(acc, dacc, w);
    }

    /** dacc += acc; acc = 0. */
    private static void flushF32(MemorySegment acc, MemorySegment dacc, int w) {
        for (int i = 0; i < w; i++) {
            dacc.setAtIndex(Storage.F64, i, dacc.getAtIndex(Storage.F64, i) + acc.getAtIndex(Storage.F32, i));
            acc.setAtIndex(Storage.F32, i, 0f);
        }
    }

    private static void blockF64(ReduceOp op, MemorySegment x, long xo, MemorySegment out, long oo, int w,
                                 ReducePlan p, double param, ElemRows.Scratch s) {
        MemorySegment acc = s.buf(0), col = s.buf(1);
        switch (op) {
            case SUM, MEAN, PROD, MAX, MIN -> {
                foldF64(code(op), x, xo, w, p, acc);
                if (op == ReduceOp.MEAN) ReduceRowF64.scale(acc, 0, w, 1.0 / p.nRed);
            }
            case VAR -> {
                foldF64(0, x, xo, w, p, col);
                ReduceRowF64.scale(col, 0, w, 1.0 / p.nRed);
                passF64(x, xo, w, p, acc, col, true);
                ReduceRowF64.scale(acc, 0, w, 1.0 / Math.max(0, p.nRed - param));
            }
            case LOGSUMEXP -> {
                foldF64(code(ReduceOp.MAX), x, xo, w, p, col);
                passF64(x, xo, w, p, acc, col, false);
                for (int i = 0; i < w; i++) {
                    double m = col.getAtIndex(Storage.F64, i);
                    acc.setAtIndex(Storage.F64, i, Double.isInfinite(m) || Double.isNaN(m) ? m : m + Math.log(acc.getAtIndex(Storage.F64, i)));
                }
            }
            case ARGMAX, ARGMIN -> {
                MemorySegment.copy(x, xo * 8, acc, 0, w * 8L);
                col.asSlice(0, w * 8L).fill((byte) 0);
                ReduceScalar.Odometer od = new ReduceScalar.Odometer(p);
                od.next();
                for (int r = 1; r < p.nRed; r++, od.next())
                    ReduceRowF64.argAcc(acc, col, x, xo + od.off, w, r, op == ReduceOp.ARGMAX);
                for (int i = 0; i < w; i++) out.setAtIndex(Storage.I64, oo + i, (long) col.getAtIndex(Storage.F64, i));
                return;
            }
        }
        MemorySegment.copy(acc, 0, out, oo * 8, w * 8L);
    }

    /** acc (op)= every row, starting from the first row (op: 0 add, 1 mul, 2 max, 3 min). */
    private static void foldF64(int code, MemorySegment x, long xo, int w, ReducePlan p, MemorySegment acc) {
        ReduceScalar.Odometer od = new ReduceScalar.Odometer(p);
        MemorySegment.copy(x, xo * 8, acc, 0, w * 8L);
        od.next();
        for (long r = 1; r < p.nRed; r++, od.next()) ReduceRowF64.accumulate(code, acc, x, xo + od.off, w);
    }

    /** acc = column sums of (x - col)^2 (sqDev) or e^(x - col). */
    private static void passF64(MemorySegment x, long xo, int w, ReducePlan p, MemorySegment acc, MemorySegment col, boolean sqDev) {
        ReduceScalar.Odometer od = new ReduceScalar.Odometer(p);
        acc.asSlice(0, w * 8L).fill((byte) 0);
        for (long r = 0; r < p.nRed; r++, od.next()) {
            if (sqDev) ReduceRowF64.sqDevAcc(acc, x, xo + od.off, col, w);
            else ReduceRowF64.expSubAcc(acc, x, xo + od.off, col, null, 0, w);
        }
    }
}
