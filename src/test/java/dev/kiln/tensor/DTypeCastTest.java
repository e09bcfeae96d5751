package dev.kiln.tensor;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Casts between all 8 dtypes through the copy kernel ({@link Tensor#to}), with rounding cases
 * for bfloat16 and float16 worked out by hand (round to nearest, ties to even).
 */
class DTypeCastTest {
    /** Values every dtype holds exactly (bool: 0/1 only, handled separately). */
    private static final double[] COMMON = {0, 1, 2, 7, -5, 100, -128, 127, 64, -1};

    private static double expected(DType to, double v) {
        return to == DType.BOOL ? (v != 0 ? 1 : 0) : v;
    }

    @Test
    void everyPairOnExactlyRepresentableValues() {
        for (DType from : DType.values()) {
            double[] src = from == DType.BOOL ? new double[]{0, 1, 1, 0, 1, 0, 0, 1, 1, 1} : COMMON;
            try (Tensor x = Tensor.fromDoubles(from, src, 2, 5)) {
                for (DType to : DType.values()) {
                    try (Tensor y = x.to(to); Tensor yt = x.t().to(to)) {
                        assertEquals(to, y.dtype());
                        for (int i = 0; i < src.length; i++) assertEquals(expected(to, src[i]), y.getFlat(i), from + " -> " + to + " at " + i);
                        for (int i = 0; i < 5; i++) for (int j = 0; j < 2; j++)
                            assertEquals(expected(to, src[j * 5 + i]), yt.getDouble(i, j), "transposed " + from + " -> " + to);
                    }
                }
            }
        }
    }

    @Test
    void floatToIntTruncatesTowardZeroAndToBoolTestsNonZero() {
        double[] v = {2.75, -2.75, 0.5, -0.5, 126.9, -0.0};
        for (DType from : new DType[]{DType.F32, DType.F64, DType.BF16, DType.F16}) {
            try (Tensor x = Tensor.fromDoubles(DType.F64, v).to(from)) {
                for (DType to : new DType[]{DType.I8, DType.I32, DType.I64}) {
                    try (Tensor y = x.to(to)) {
                        for (int i = 0; i < v.length; i++)
                            assertEquals((long) x.getFlat(i), y.getLong(i), from + " -> " + to + " of " + x.getFlat(i));
                    }
                }
                try (Tensor b = x.to(DType.BOOL)) {
                    assertEquals(1, b.getLong(2), "0.5 is true");
                    assertEquals(0, b.getLong(5), "-0.0 is false");
                }
            }
        }
        try (Tensor nan = Tensor.full(Double.NaN, DType.F32, 1); Tensor b = nan.to(DType.BOOL)) {
            assertEquals(1, b.getLong(0), "NaN is true, as in NumPy and PyTorch");
        }
    }

    @Test
    void integerNarrowingWrapsLikeC() {
        try (Tensor x = Tensor.fromArray(new long[]{300, -129, (1L << 32) + 5, Long.MIN_VALUE, 255});
             Tensor i8 = x.to(DType.I8); Tensor i32 = x.to(DType.I32); Tensor b = x.to(DType.BOOL)) {
            assertEquals(44, i8.getLong(0));
            assertEquals(127, i8.getLong(1));
            assertEquals(-1, i8.getLong(4));
            assertEquals(5, i32.getLong(2));
            assertEquals(0, i32.getLong(3));
            for (int i = 0; i < 5; i++) assertEquals(1, b.getLong(i));
        }
        try (Tensor big = Tensor.fromArray(new long[]{(1L << 53) + 1}); Tensor d = big.to(DType.F64); Tensor back = d.to(DType.I64)) {
            assertEquals((double) (1L << 53), d.getFlat(0), "int64 -> float64 rounds to nearest");
            assertEquals(1L << 53, back.toLongArray()[0]);
        }
    }

    private static void assertBits(double want, double got, String what) {
        assertEquals(Double.doubleToRawLongBits(want), Double.doubleToRawLongBits(got), what + ": want " + want + " got " + got);
    }

    @Test
    void bfloat16RoundsToNearestEven() {
        double e7 = Math.scalb(1.0, -7), e8 = Math.scalb(1.0, -8);
        double[][] cases = {             // {input, expected bf16 value}
                {1 + e8, 1},                     // tie -> even (1.0)
                {1 + 3 * e8, 1 + 2 * e7},        // tie -> even (up)
                {1 + e8 + Math.scalb(1.0, -20), 1 + e7}, // just above a tie -> up
                {1 + e8 - Math.scalb(1.0, -20), 1},      // just below a tie -> down
                {-(1 + 3 * e8), -(1 + 2 * e7)},
                {3.3895313892515355e38, 3.3895313892515355e38}, // largest bf16
                {Float.MAX_VALUE, Double.POSITIVE_INFINITY},     // rounds up past the largest bf16
                {Math.scalb(1.0, -126), Math.scalb(1.0, -126)},  // smallest normal
                {Double.NEGATIVE_INFINITY, Double.NEGATIVE_INFINITY},
                {-0.0, -0.0},
        };
        for (DType from : new DType[]{DType.F32, DType.F64}) {
            double[] in = new double[cases.length];
            for (int i = 0; i < cases.length; i++) in[i] = cases[i][0];
            try (Tensor x = Tensor.fromDoubles(from, in); Tensor y = x.to(DType.BF16); Tensor back = y.to(DType.F32)) {
                for (int i = 0; i < cases.length; i++) {
                    assertBits(cases[i][1], y.getFlat(i), from + " -> bf16 case " + i);
                    assertBits(cases[i][1], back.getFlat(i), "bf16 -> f32 case " + i);
                }
            }
        }
        try (Tensor nan = Tensor.full(Double.NaN, DType.F32, 1); Tensor b = nan.to(DType.BF16)) {
            assertTrue(Double.isNaN(b.getFlat(0)), "NaN stays NaN");
        }
        assertEquals((short) 0x7fc0, DType.floatToBf16(Float.NaN));
        assertTrue(Float.isNaN(DType.bf16ToFloat(DType.floatToBf16(Float.intBitsToFloat(0x7f800001)))), "signalling NaN must not become inf");
    }

    @Test
    void float16RoundsToNearestEven() {
        double e10 = Math.scalb(1.0, -10), e11 = Math.scalb(1.0, -11), sub = Math.scalb(1.0, -24);
        double[][] cases = {
                {1 + e11, 1},                 // tie -> even
                {1 + 3 * e11, 1 + 2 * e10},   // tie -> even (up)
                {1 + e11 + Math.scalb(1.0, -22), 1 + e10},
                {65504, 65504},               // largest half
                {65519, 65504},               // below the midpoint to 65536
                {65520, Double.POSITIVE_INFINITY}, // midpoint: ties to even = overflow
                {sub, sub},                   // smallest subnormal
                {sub / 2, 0},                 // tie between 0 and the smallest subnormal -> 0
                {sub / 2 + Math.scalb(1.0, -30), sub},
                {3 * sub / 2, 2 * sub},       // tie -> even subnormal
                {-0.0, -0.0},
                {-3.140625, -3.140625},
        };
        for (DType from : new DType[]{DType.F32, DType.F64}) {
            double[] in = new double[cases.length];
            for (int i = 0; i < cases.length; i++) in[i] = cases[i][0];
            try (Tensor x = Tensor.fromDoubles(from, in); Tensor y = x.to(DType.F16)) {
                for (int i = 0; i < cases.length; i++) assertBits(cases[i][1], y.getFlat(i), from + " -> f16 case " + i);
            }
        }
    }

    @Test
    void halfTypesConvertToEachOther() {
        // 1 + 2^-7 is exact in both; 1 + 2^-10 is exact in f16 but rounds to 1 in bf16
        try (Tensor h = Tensor.fromDoubles(DType.F16, new double[]{1 + Math.scalb(1.0, -7), 1 + Math.scalb(1.0, -10)});
             Tensor b = h.to(DType.BF16); Tensor h2 = b.to(DType.F16)) {
            assertEquals(1 + Math.scalb(1.0, -7), b.getFlat(0));
            assertEquals(1.0, b.getFlat(1));
            assertEquals(1 + Math.scalb(1.0, -7), h2.getFlat(0));
            assertEquals(1.0, h2.getFlat(1));
        }
    }

    @Test
    void promotion() {
        assertEquals(DType.F32, DType.promote(DType.BF16, DType.F16));
        assertEquals(DType.BF16, DType.promote(DType.BF16, DType.I64));
        assertEquals(DType.F64, DType.promote(DType.F32, DType.F64));
        assertEquals(DType.I64, DType.promote(DType.I32, DType.I64));
        assertEquals(DType.I8, DType.promote(DType.BOOL, DType.I8));
        assertEquals(DType.BOOL, DType.promote(DType.BOOL, DType.BOOL));
        assertEquals(DType.F16, DType.promote(DType.I8, DType.F16));
        for (DType a : DType.values()) for (DType b : DType.values()) assertEquals(DType.promote(a, b), DType.promote(b, a), a + "," + b);
    }
}
