package dev.kiln.backend.cpu;

import dev.kiln.ops.ReduceOp;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Storage;

import java.lang.foreign.MemorySegment;

/**
 * Reductions over outer axes (the innermost kept dim is contiguous), e.g. summing [N, C] over N:
 * each output row accumulates whole x rows with vector ops (acc op= x row), in column blocks of
 * ElemRows.BUF. F32 sums flush their float accumulator into a double one every 256 rows.
 * Handles SUM, MEAN, PROD, MAX, MIN for F32 and F64.
 */
final class ReduceOuter {
    private ReduceOuter() {}

    private static final int FLUSH_ROWS = 256;

    static boolean supports(ReduceOp op) {
        return switch (op) {
            case SUM, MEAN, PROD, MAX, MIN -> true;
            default -> false;
        };
    }

    private static int code(ReduceOp op) {
        return switch (op) {
            case SUM, MEAN -> 0;
            case PROD -> 1;
            case MAX -> 2;
            default -> 3;
        };
    }

    static void run(ReduceOp op, DType t, MemorySegment x, MemorySegment out, ReducePlan p) {
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
                if (t == DType.F32) blockF32(op, x, p.xOffset(j), out, p.outOffset(j), w, p, scratch);
                else blockF64(op, x, p.xOffset(j), out, p.outOffset(j), w, p, scratch);
            }
        });
    }

    private static void blockF32(ReduceOp op, MemorySegment x, long xo, MemorySegment out, long oo, int w,
                                 ReducePlan p, ElemRows.Scratch s) {
        MemorySegment acc = s.buf(0), dacc = s.buf(1);
        boolean sum = op == ReduceOp.SUM || op == ReduceOp.MEAN;
        int code = code(op);
        ReduceScalar.Odometer od = new ReduceScalar.Odometer(p);
        MemorySegment.copy(x, xo * 4, acc, 0, w * 4L); // first row
        if (sum) dacc.asSlice(0, w * 8L).fill((byte) 0);
        od.next();
        for (long r = 1; r < p.nRed; r++, od.next()) {
            ReduceRowF32.accumulate(code, acc, x, xo + od.off, w);
            if (sum && r % FLUSH_ROWS == 0) flushF32(acc, dacc, w);
        }
        if (sum) {
            flushF32(acc, dacc, w);
            double scale = op == ReduceOp.MEAN ? 1.0 / p.nRed : 1.0;
            for (int i = 0; i < w; i++) out.setAtIndex(Storage.F32, oo + i, (float) (dacc.getAtIndex(Storage.F64, i) * scale));
        } else {
            MemorySegment.copy(acc, 0, out, oo * 4, w * 4L);
        }
    }

    /** dacc += acc; acc = 0. */
    private static void flushF32(MemorySegment acc, MemorySegment dacc, int w) {
        for (int i = 0; i < w; i++) {
            dacc.setAtIndex(Storage.F64, i, dacc.getAtIndex(Storage.F64, i) + acc.getAtIndex(Storage.F32, i));
            acc.setAtIndex(Storage.F32, i, 0f);
        }
    }

    private static void blockF64(ReduceOp op, MemorySegment x, long xo, MemorySegment out, long oo, int w,
                                 ReducePlan p, ElemRows.Scratch s) {
        MemorySegment acc = s.buf(0);
        int code = code(op);
        ReduceScalar.Odometer od = new ReduceScalar.Odometer(p);
        MemorySegment.copy(x, xo * 8, acc, 0, w * 8L);
        od.next();
        for (long r = 1; r < p.nRed; r++, od.next()) ReduceRowF64.accumulate(code, acc, x, xo + od.off, w);
        if (op == ReduceOp.MEAN) ReduceRowF64.scale(acc, 0, w, 1.0 / p.nRed);
        MemorySegment.copy(acc, 0, out, oo * 8, w * 8L);
    }
}
