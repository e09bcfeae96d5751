package dev.kiln.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/**
 * The shape rules of the cuBLASLt int8 peer, checked without a GPU: the TN form with regular
 * ordering needs cuBLAS's m (our N) and k to be multiples of 4; our M is free.
 */
class CublasLtInt8Test {
    @Test
    void immaShapeRules() {
        assertNull(CublasLtInt8.unsupported(8192, 8192, 8192));
        assertNull(CublasLtInt8.unsupported(1, 4, 4), "M has no constraint");
        assertNull(CublasLtInt8.unsupported(129, 1000, 64));
        assertTrue(CublasLtInt8.unsupported(129, 65, 100).contains("N = 65"));
        assertTrue(CublasLtInt8.unsupported(1, 8, 33).contains("K = 33"));
        assertTrue(CublasLtInt8.unsupported(0, 8, 8).contains("empty"));
    }
}
