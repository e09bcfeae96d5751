package dev.kiln.backend.cpu;

import java.lang.foreign.MemorySegment;

/**
 * One 2-d GEMM operand as the packers see it: element (i, j) of the logical matrix (op(A) as
 * [M,K], op(B) as [K,N], or C as [M,N]) lives at element index {@code off + i*rs + j*cs} of seg.
 * A transpose is just swapped strides; a broadcast dim has stride 0.
 */
record GemmMatrix(MemorySegment seg, long off, long rs, long cs) {

    /** The transposed matrix (rows and columns swapped, same elements). */
    GemmMatrix transposed() {
        return new GemmMatrix(seg, off, cs, rs);
    }

    /** The same matrix starting at row i, column j. */
    GemmMatrix at(long i, long j) {
        return new GemmMatrix(seg, off + i * rs + j * cs, rs, cs);
    }
}
