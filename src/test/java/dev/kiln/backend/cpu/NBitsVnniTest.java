package dev.kiln.backend.cpu;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * The native 4-/8-bit int8-activation kernels (native/cpu/nbits_vnni.c) give the bits of their
 * scalar Java twin: random codes, scales and zero points, column counts across the native calls'
 * pieces, activations with an all-zero sub-block and padding sub-blocks.
 */
class NBitsVnniTest {
    @Test
    void nativeKernelsMatchTheScalarTwinBitForBit() {
        Assumptions.assumeTrue(NBitsVnni.available(), "needs libkiln_cpu.so and AVX-512 VNNI");
        Random r = new Random(11);
        for (int bits : new int[]{4, 8})
            for (int[] shape : new int[][]{{1, 32}, {17, 70}, {300, 768}, {600, 3072}}) {
                int cols = shape[0], k = shape[1];
                float[] x = new float[k];
                for (int i = 0; i < k; i++) x[i] = (float) r.nextGaussian() * 3;
                if (k > 64) java.util.Arrays.fill(x, 32, 64, 0f);   // an all-zero sub-block (scale 0)
                for (NBitsVnni.Weights w : randomWeights(r, bits, cols, k)) {
                    boolean uniform = w.uniformZeroPoint();
                    float[] nat = new float[cols], twin = new float[cols];
                    NBitsVnni.gemv(w, x, nat, true);
                    NBitsVnni.gemv(w, x, twin, false);
                    assertArrayEquals(twin, nat, bits + " bits, " + cols + " x " + k + (uniform ? ", uniform zero point" : ""));
                }
            }
    }

    /** Several rows at once (the multi-row kernels, 8 rows per weight pass) give each row's own bits. */
    @Test
    void rowsAtOnceMatchEachRowAlone() {
        Assumptions.assumeTrue(NBitsVnni.available(), "needs libkiln_cpu.so and AVX-512 VNNI");
        Random r = new Random(12);
        for (int bits : new int[]{4, 8})
            for (int rows : new int[]{2, 8, 11}) {
                int cols = 300, k = 200;
                float[] x = new float[rows * k];
                for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian() * 3;
                for (NBitsVnni.Weights w : randomWeights(r, bits, cols, k)) {
                    float[] all = new float[rows * cols], twin = new float[rows * cols];
                    NBitsVnni.gemvRows(w, x, k, rows, all, true);
                    NBitsVnni.gemvRows(w, x, k, rows, twin, false);
                    assertArrayEquals(twin, all, bits + " bits, " + rows + " rows: against the scalar twin");
                    for (int row = 0; row < rows; row++) {
                        float[] one = new float[cols];
                        NBitsVnni.gemv(w, java.util.Arrays.copyOfRange(x, row * k, (row + 1) * k), one, true);
                        assertArrayEquals(one, java.util.Arrays.copyOfRange(all, row * cols, (row + 1) * cols), bits + " bits, row " + row);
                    }
                }
            }
    }

    /**
     * The activation row's native quantization gives the Java twin's codes, scales and sums:
     * lengths that end inside a sub-block, values that land on .5 after scaling (rounded to even
     * both ways), an all-zero sub-block, padding sub-blocks, both widths and zero-point kinds.
     */
    @Test
    void nativeActivationQuantizationMatchesTheTwin() {
        Assumptions.assumeTrue(NBitsVnni.available(), "needs libkiln_cpu.so and AVX-512 VNNI");
        Random r = new Random(13);
        for (int bits : new int[]{4, 8})
            for (int k : new int[]{1, 15, 16, 17, 31, 33, 70, 200, 768}) {
                float[] x = new float[k];
                for (int i = 0; i < k; i++) x[i] = (float) r.nextGaussian() * 2;
                for (int i = 0; i < k; i += 32) x[i] = 127f;           // the scale becomes 1: the rest are ties
                for (int i = 1; i < k; i += 3) if (i % 32 != 0) x[i] = (i % 7) - 3.5f;
                if (k > 64) java.util.Arrays.fill(x, 32, 64, 0f);
                if (k >= 2) x[1] = 2.5f;                                // half up would give 3
                for (NBitsVnni.Weights w : randomWeights(r, bits, 3, k)) {
                    NBitsVnni.Acts nat = NBitsVnni.Acts.row(w, x, k, true), twin = NBitsVnni.Acts.row(w, x, k, false);
                    String what = bits + " bits, k " + k + (w.uniformZeroPoint() ? ", uniform zero point" : "");
                    if (bits == 8) assertArrayEquals(twin.xq(), nat.xq(), what);
                    else {
                        assertArrayEquals(twin.xlo(), nat.xlo(), what);
                        assertArrayEquals(twin.xhi(), nat.xhi(), what);
                    }
                    assertArrayEquals(twin.xs(), nat.xs(), what);
                    assertArrayEquals(twin.xsx(), nat.xsx(), what);
                    byte[] q = bits == 8 ? twin.xq() : twin.xlo();
                    if (k >= 2) org.junit.jupiter.api.Assertions.assertEquals(2, q[1], what + ": 2.5 rounds to 2 (even)");
                }
            }
    }

    /** Random codes and scales for cols columns of k inputs: with per-block zero points, and with the uniform one. */
    private static NBitsVnni.Weights[] randomWeights(Random r, int bits, int cols, int k) {
        int nsub = NBitsVnni.subBlocks(k);
        byte[] codes = new byte[cols * nsub * bits * 4];
        r.nextBytes(codes);
        float[] ws = new float[cols * nsub], wz = new float[cols * nsub];
        for (int i = 0; i < ws.length; i++) {
            ws[i] = 0.001f + r.nextFloat() * 0.05f;
            wz[i] = ws[i] * r.nextInt(1 << bits);
        }
        return new NBitsVnni.Weights[]{new NBitsVnni.Weights(bits, cols, nsub, codes, ws, wz),
                new NBitsVnni.Weights(bits, cols, nsub, codes, ws, null, 1 << (bits - 1))};
    }

    @Test
    void layoutIsChecked() {
        assertThrows(IllegalArgumentException.class, () -> new NBitsVnni.Weights(4, 2, 3, new byte[96], new float[6], new float[6]));
        assertThrows(IllegalArgumentException.class, () -> new NBitsVnni.Weights(4, 2, 4, new byte[100], new float[8], new float[8]));
        assertThrows(IllegalArgumentException.class, () -> new NBitsVnni.Weights(4, 2, 4, new byte[128], new float[8], null, 7));
    }
}
