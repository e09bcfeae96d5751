package dev.kiln.compress.quant;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The array entry point {@link Int8Gemm#matmulT(byte[], int, int, Int8Gemm.PackedInt8)} against the scalar reference. */
class Int8GemmArrayTest {
    @Test
    void matchesReferenceForOddShapes() {
        Random r = new Random(7);
        int[][] shapes = {{1, 1, 1}, {3, 7, 5}, {37, 16, 9}, {64, 33, 300}, {5, 32, 600}};
        for (int[] s : shapes) {
            int m = s[0], n = s[1], k = s[2];
            byte[] a = bytes(r, m * k + 3), bv = bytes(r, n * k); // a has slack past m * k
            try (Tensor at = QParams.QTensors.fromBytes(java.util.Arrays.copyOf(a, m * k), new int[]{m, k});
                 Tensor bt = QParams.QTensors.fromBytes(bv, new int[]{n, k});
                 Tensor ref = Int8Gemm.matmulTReference(at, bt)) {
                int[] c = Int8Gemm.matmulT(a, m, k, Int8Gemm.pack(bt));
                assertArrayEquals(ref.toIntArray(), c, m + "x" + n + "x" + k);
            }
        }
    }

    @Test
    void rejectsShortInputOrWrongK() {
        try (Tensor bt = Tensor.zeros(DType.I8, 4, 6)) {
            Int8Gemm.PackedInt8 b = Int8Gemm.pack(bt);
            assertThrows(IllegalArgumentException.class, () -> Int8Gemm.matmulT(new byte[11], 2, 6, b));
            assertThrows(IllegalArgumentException.class, () -> Int8Gemm.matmulT(new byte[12], 2, 5, b));
        }
    }

    private static byte[] bytes(Random r, int len) {
        byte[] b = new byte[len];
        for (int i = 0; i < len; i++) b[i] = (byte) (r.nextInt(256) - 128);
        return b;
    }
}
