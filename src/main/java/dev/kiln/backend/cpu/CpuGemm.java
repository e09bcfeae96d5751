package dev.kiln.backend.cpu;

import dev.kiln.backend.GemmEpilogue;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Tensor;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntConsumer;

/**
 * CPU GEMM entry: {@code c = alpha * op(a) * op(b) + beta * c} for rank-2 operands or rank-3 with
 * a batch dim first (a batch of 1 or batch stride 0 broadcasts). Checks shapes and dtypes
 * (F32 or F64, all three the same), maps every operand to a strided {@link GemmMatrix}, and
 * splits the work over {@link CpuConfig#threads()} with {@link Parallel}: over batch items when
 * there are at least as many as threads; else inside the blocked driver ({@link GemmF32} /
 * {@link GemmF64}), whose blocks of M rows are handed out dynamically (one packed B shared by
 * all threads, so a late or preempted thread just takes fewer blocks); matrices with too few
 * rows for that are split statically over N in NR multiples. Calls below
 * {@link #parallelMinFmas} multiply-adds stay on the calling thread. c must not overlap a or b.
 */
final class CpuGemm {
    private CpuGemm() {}

    /** Below this many multiply-adds per call the work runs on one thread (tests lower it). */
    static long parallelMinFmas = 1L << 21;

    /**
     * The same for F32 matrix-vector shapes (M = 1 or N = 1): they are bound by reading the matrix,
     * so two threads pay off from a 512 KB matrix on.
     */
    static long gemvParallelMinFmas = 1L << 17;

    /** Whether constant F32 weights (as B or as A) are packed once ({@link GemmF32Packed}; tests switch it off to compare). */
    static volatile boolean usePackedWeights = true;

    /** Rows per thread, in MR tiles, from which M blocks are shared out instead of splitting N. */
    static int mSplitTiles = Integer.getInteger("kiln.gemm.mSplitTiles", 32);

    static void gemm(boolean transA, boolean transB, double alpha, Tensor a, Tensor b, double beta, Tensor c) {
        gemm(transA, transB, alpha, a, b, beta, c, (GemmEpilogue) null);
    }

    /**
     * The same, then c = act(c + bias) ({@link GemmEpilogue}, null: none): F32 applies it to each
     * block of c as the GEMM finishes it (a constant B: per task, on the last K block) or in one
     * pass over c right after; F64 runs it as separate ops.
     */
    static void gemm(boolean transA, boolean transB, double alpha, Tensor a, Tensor b, double beta, Tensor c, GemmEpilogue epilogue) {
        Dims d = check(transA, transB, a, b, c);
        if (epilogue != null && c.dtype() != DType.F32) {
            gemm(transA, transB, alpha, a, b, beta, c, (CpuEpilogue) null);
            epilogue.applySeparately(c);
            return;
        }
        CpuEpilogue ep = epilogue == null ? null : d.batch == 1 || epilogue.residual() == null ? CpuEpilogue.of(epilogue, d.m, d.n) : null;
        if (epilogue != null && ep == null) {   // a residual the fused form cannot read in place (batched, strided, another dtype)
            gemm(transA, transB, alpha, a, b, beta, c, (CpuEpilogue) null);
            epilogue.applySeparately(c);
            return;
        }
        gemm(transA, transB, alpha, a, b, beta, c, ep);
    }

    private static void gemm(boolean transA, boolean transB, double alpha, Tensor a, Tensor b, double beta, Tensor c, CpuEpilogue ep) {
        Dims d = check(transA, transB, a, b, c);
        if (c.dim() > 0 && c.stride(c.dim() - 1) != 1 && d.m * (long) d.n > 1) {
            Tensor tmp = c.contiguous();
            gemm(transA, transB, alpha, a, b, beta, tmp, ep);
            c.copyFrom(tmp);
            tmp.close();
            return;
        }
        Operand oa = Operand.of(a, transA), ob = Operand.of(b, transB), oc = Operand.of(c, false);
        long fmas = (long) d.m * d.n * d.k * d.batch;
        boolean f64 = c.dtype() == DType.F64, vectorShape = !f64 && (d.m == 1 || d.n == 1);
        int threads = fmas < (vectorShape ? gemvParallelMinFmas : parallelMinFmas) ? 1 : CpuConfig.threads();
        if (!f64 && !vectorShape && usePackedWeights && ob.batchStride() == 0 && b.storage().isConstant()) {
            // a constant weight (a model file's mapping, or sealed by its reader): packed once, kept with its storage
            GemmF32Packed.PackedB packed = GemmF32Packed.of(b.storage(), ob.at(0), d.k, d.n);
            for (int i = 0; i < d.batch; i++) GemmF32Packed.gemm(d.m, (float) alpha, oa.at(i), packed, (float) beta, oc.at(i), threads, ep);
            return;
        }
        gemmUnpacked(d, alpha, beta, oa, ob, oc, a, b, f64, vectorShape, threads);
        if (ep != null) {   // one pass over c, its rows over the threads
            long ld = oc.base().rs(), cost = (long) d.n * 4;
            for (int i = 0; i < d.batch; i++) {
                GemmMatrix mc = oc.at(i);
                Parallel.forRange(d.m, cost, (s, e) -> ep.rows(mc.seg(), mc.off() + s * ld, ld, e - s, s, 0, d.n));
            }
        }
    }

    private static void gemmUnpacked(Dims d, double alpha, double beta, Operand oa, Operand ob, Operand oc, Tensor a, Tensor b,
                                     boolean f64, boolean vectorShape, int threads) {
        // a constant A (conv weights [out channels, C kh kw]): its panels packed once, kept with its storage
        GemmF32Packed.PackedA packedA = !f64 && !vectorShape && usePackedWeights && oa.batchStride() == 0 && a.storage().isConstant()
                ? GemmF32Packed.ofA(a.storage(), oa.at(0), d.m, d.k) : null;
        if (threads == 1 || d.batch >= threads || vectorShape) {  // F32 matrix-vector shapes split inside GemmF32
            int inner = threads > 1 && d.batch < threads ? threads : 1;
            // a model's weight in a matrix-vector product (a decode step) streams from DRAM: each is read once per step
            boolean weightB = vectorShape && ob.batchStride() == 0 && b.storage().isConstant();
            Parallel.forChunks(d.batch, threads, (s, e) -> {
                for (int i = s; i < e; i++) run(f64, d, alpha, beta, oa.at(i), packedA, ob.at(i), oc.at(i), 0, d.n, inner, weightB);
            });
            return;
        }
        int mr = f64 ? GemmF64Kernel.MR : GemmF32Kernel.tileRows(d.m), nr = f64 ? GemmF64Kernel.NR : GemmF32Kernel.NR;
        for (int i = 0; i < d.batch; i++) {
            GemmMatrix ma = oa.at(i), mb = ob.at(i), mc = oc.at(i);
            int units = (d.n + nr - 1) / nr;
            if (d.m >= 4 * mr * threads && (d.m >= mSplitTiles * mr * threads || units < 2 * threads)) {
                run(f64, d, alpha, beta, ma, packedA, mb, mc, 0, d.n, threads, false);   // M blocks shared out dynamically
            } else {                                                   // few rows: split N statically
                Parallel.forChunks(units, threads,
                        (s, e) -> run(f64, d, alpha, beta, ma, packedA, mb, mc, s * nr, Math.min(e * nr, d.n), 1, false));
            }
        }
    }

    /**
     * Columns [j0, j1) of one batch item on the given number of threads (packedA: a's panels, or
     * null; weightB: b is a model's constant weight, see {@link GemmF32#gemm}).
     */
    private static void run(boolean f64, Dims d, double alpha, double beta, GemmMatrix a, GemmF32Packed.PackedA packedA,
                            GemmMatrix b, GemmMatrix c, int j0, int j1, int threads, boolean weightB) {
        GemmMatrix sb = b.at(0, j0), sc = c.at(0, j0);
        if (f64) GemmF64.gemm(d.m, j1 - j0, d.k, alpha, a, sb, beta, sc, threads);
        else GemmF32.gemm(d.m, j1 - j0, d.k, (float) alpha, a, packedA, sb, (float) beta, sc, threads, j1 - j0 < d.n, weightB);
    }

    /**
     * Number of row blocks for m rows in units of mr rows, at most unitsPerBlock units each; with
     * several threads, a multiple of the thread count (so equal-speed threads finish together) and
     * at least 4 per thread, so a thread that starts late or is preempted leaves work to the others.
     */
    static int rowBlocks(int units, int unitsPerBlock, int threads) {
        int blocks = (units + unitsPerBlock - 1) / unitsPerBlock;
        if (threads > 1) blocks = Math.min(units, Math.max(4 * threads, (blocks + threads - 1) / threads * threads));
        return Math.max(blocks, 1);
    }

    /** Runs body(0..blocks-1) on up to threads threads, each taking the next block when free. */
    static void forBlocks(int blocks, int threads, IntConsumer body) {
        if (threads <= 1 || blocks <= 1) {
            for (int i = 0; i < blocks; i++) body.accept(i);
            return;
        }
        AtomicInteger next = new AtomicInteger();
        Parallel.forChunks(Math.min(threads, blocks), threads, (s, e) -> {
            for (int i; (i = next.getAndIncrement()) < blocks; ) body.accept(i);
        });
    }

    private record Dims(int batch, int m, int n, int k) {}

    /** A tensor seen as a batch of matrices: matrix i starts at element off + i*batchStride. */
    private record Operand(GemmMatrix base, long batchStride) {
        static Operand of(Tensor t, boolean trans) {
            int r = t.dim();
            long rs = t.stride(r - 2), cs = t.stride(r - 1);
            long bs = r == 3 && t.size(0) > 1 ? t.stride(0) : 0;
            return new Operand(new GemmMatrix(t.segment(), t.offset(), trans ? cs : rs, trans ? rs : cs), bs);
        }

        GemmMatrix at(int i) {
            return i == 0 ? base : new GemmMatrix(base.seg(), base.off() + i * batchStride, base.rs(), base.cs());
        }
    }

    private static Dims check(boolean transA, boolean transB, Tensor a, Tensor b, Tensor c) {
        if (a.dtype() != b.dtype() || a.dtype() != c.dtype() || (c.dtype() != DType.F32 && c.dtype() != DType.F64))
            throw new IllegalArgumentException("gemm: dtypes must all be float32 or all float64, got " + a.dtype().pyName()
                    + ", " + b.dtype().pyName() + ", " + c.dtype().pyName() + " (" + shapes(transA, transB, a, b, c) + ")");
        if (a.dim() < 2 || a.dim() > 3 || b.dim() < 2 || b.dim() > 3 || c.dim() != Math.max(a.dim(), b.dim()))
            throw new IllegalArgumentException("gemm: operands must be rank 2 or rank 3 (batch first), got "
                    + shapes(transA, transB, a, b, c));
        int ra = a.dim(), rb = b.dim();
        int m = a.size(transA ? ra - 1 : ra - 2), ka = a.size(transA ? ra - 2 : ra - 1);
        int kb = b.size(transB ? rb - 1 : rb - 2), n = b.size(transB ? rb - 2 : rb - 1);
        int batch = c.dim() == 3 ? c.size(0) : 1;
        boolean batchOk = (ra == 2 || a.size(0) == batch || a.size(0) == 1)
                && (rb == 2 || b.size(0) == batch || b.size(0) == 1);
        if (ka != kb || c.size(-2) != m || c.size(-1) != n || !batchOk)
            throw new IllegalArgumentException("gemm: shapes do not match (" + shapes(transA, transB, a, b, c)
                    + "): need op(a) [M,K], op(b) [K,N], c [M,N]");
        return new Dims(batch, m, n, ka);
    }

    /** "a [..]^T, b [..], c [..]" for error messages (built only when one is thrown). */
    private static String shapes(boolean transA, boolean transB, Tensor a, Tensor b, Tensor c) {
        return "a " + Shape.str(a.shape()) + (transA ? "^T" : "") + ", b " + Shape.str(b.shape())
                + (transB ? "^T" : "") + ", c " + Shape.str(c.shape());
    }
}
