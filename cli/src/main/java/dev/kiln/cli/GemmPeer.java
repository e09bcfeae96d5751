package dev.kiln.cli;

import java.lang.foreign.MemorySegment;

/**
 * A peer GEMM implementation to benchmark against (found with {@link java.util.ServiceLoader};
 * the bench module provides OpenBLAS). Row-major, no transposes: C[m,n] = A[m,k] * B[k,n].
 */
public interface GemmPeer {
    /** e.g. "OpenBLAS 0.3.31". */
    String name();

    /** Sets the peer's thread count. */
    void setThreads(int threads);

    /** Single-precision GEMM on off-heap row-major matrices. */
    void sgemm(int m, int n, int k, MemorySegment a, MemorySegment b, MemorySegment c);
}
