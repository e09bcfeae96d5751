package dev.kiln.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;
import java.io.ByteArrayOutputStream;
import java.math.BigDecimal;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The documented conversion rules ({@link Casts}, kernels/kiln_convert.cuh): out-of-range float to
 * int saturates (i8, i32, i64), NaN to 0; f64 and i64 to bf16/f16 round once; checked through
 * Tensor.to on the CPU backend, against an exact BigDecimal nearest-value reference, and (when nvcc
 * is here) against the CUDA header itself compiled for the host.
 */
class CastsTest {
    private static short[] bits16(Tensor t) {
        short[] out = new short[(int) t.numel()];
        for (int i = 0; i < out.length; i++) out[i] = t.segment().getAtIndex(Storage.I16, t.offset() + i);
        return out;
    }

    @Test
    void floatToIntSaturatesAndNanIsZero() {
        try (Tensor f = Tensor.fromArray(new float[] {3e9f, -3e9f, Float.NaN, 2.9f, -2.9f, 300f, -300f, 1e30f, Float.NEGATIVE_INFINITY}, 9);
             Tensor i32 = f.to(DType.I32); Tensor i8 = f.to(DType.I8); Tensor i64 = f.to(DType.I64)) {
            assertArrayEquals(new int[] {Integer.MAX_VALUE, Integer.MIN_VALUE, 0, 2, -2, 300, -300, Integer.MAX_VALUE, Integer.MIN_VALUE},
                    i32.toIntArray());
            assertArrayEquals(new long[] {127, -128, 0, 2, -2, 127, -128, 127, -128}, i8.toLongArray());
            assertArrayEquals(new long[] {3_000_000_000L, -3_000_000_000L, 0, 2, -2, 300, -300, Long.MAX_VALUE, Long.MIN_VALUE},
                    i64.toLongArray());
        }
        try (Tensor d = Tensor.fromArray(new double[] {1e19, -1e19, 2147483647.5, -2147483648.9}, 4); Tensor i32 = d.to(DType.I32)) {
            assertArrayEquals(new int[] {Integer.MAX_VALUE, Integer.MIN_VALUE, Integer.MAX_VALUE, Integer.MIN_VALUE}, i32.toIntArray());
        }
    }

    @Test
    void intToIntStillWraps() {
        try (Tensor i = Tensor.fromArray(new long[] {300, -129, 1L << 40}, 3); Tensor i8 = i.to(DType.I8); Tensor i32 = i.to(DType.I32)) {
            assertArrayEquals(new long[] {44, 127, 0}, i8.toLongArray());
            assertArrayEquals(new int[] {300, -129, 0}, i32.toIntArray());
        }
    }

    @Test
    void f64AndI64RoundOnceToBf16AndF16() {
        double bfTie = 1 + Math.scalb(1.0, -8) + Math.scalb(1.0, -30);  // just above a bf16 tie; via f32 exactly the tie
        double hTie = 1 + Math.scalb(1.0, -11) + Math.scalb(1.0, -40);  // the same for f16
        try (Tensor d = Tensor.fromArray(new double[] {bfTie, hTie}, 2); Tensor bf = d.to(DType.BF16); Tensor h = d.to(DType.F16)) {
            assertEquals(DType.floatToBf16(1.0078125f), bits16(bf)[0], "f64 -> bf16 rounds up from above the tie (via f32: 1.0)");
            assertEquals(Float.floatToFloat16(1 + 1f / 1024), bits16(h)[1], "f64 -> f16 rounds up from above the tie (via f32: 1.0)");
        }
        long big = (1L << 24) + (1L << 16) + 1;                          // via f32: 2^24 + 2^16, a bf16 tie -> 2^24
        try (Tensor i = Tensor.fromArray(new long[] {big, Long.MIN_VALUE, 65520, 65519}, 4); Tensor bf = i.to(DType.BF16);
             Tensor h = i.to(DType.F16)) {
            assertEquals(DType.floatToBf16((float) ((1L << 24) + (1L << 17))), bits16(bf)[0]);
            assertEquals(DType.floatToBf16(-0x1p63f), bits16(bf)[1]);
            assertEquals((short) 0x7c00, bits16(h)[2], "65520 is past f16's largest finite value + half a quantum: inf");
            assertEquals(Float.floatToFloat16(65504f), bits16(h)[3]);
        }
    }

    @Test
    void floatsAgreeWithTheJdkAndEveryHalfRoundTrips() {
        SplittableRandom r = new SplittableRandom(17);
        for (int i = 0; i < 200_000; i++) {
            float f = Float.intBitsToFloat(r.nextInt());
            if (Float.isNaN(f)) continue;
            assertEquals(Float.floatToFloat16(f), Casts.doubleToF16(f), () -> "f16 of " + f);
            assertEquals(DType.floatToBf16(f), Casts.doubleToBf16(f), () -> "bf16 of " + f);
        }
        for (int h = 0; h < 65536; h++) {
            float f = Float.float16ToFloat((short) h);
            if (!Float.isNaN(f)) assertEquals((short) h, Casts.doubleToF16(f), "f16 " + Integer.toHexString(h));
        }
        assertEquals((short) 0x7e00, Casts.doubleToF16(Double.NaN));
        assertEquals((short) 0xffc0, Casts.doubleToBf16(Double.longBitsToDouble(0xfff8000000000000L)), "negative NaN keeps its sign");
    }

    /** Nearest representable value by exact arithmetic, ties to the even bit pattern. */
    private static void assertNearest(short got, BigDecimal exact, boolean half, String what) {
        int g = got & 0x7fff;
        if (g == (half ? 0x7c00 : 0x7f80)) return; // overflow checked separately
        BigDecimal mine = value(g, half).subtract(exact.abs()).abs();
        for (int nb : new int[] {g - 1, g + 1}) {
            if (nb < 0 || nb >= (half ? 0x7c00 : 0x7f80)) continue;
            int c = value(nb, half).subtract(exact.abs()).abs().compareTo(mine);
            assertTrue(c > 0 || (c == 0 && (g & 1) == 0), what + ": " + Integer.toHexString(nb) + " is nearer than " + Integer.toHexString(g));
        }
    }

    private static BigDecimal value(int bits, boolean half) {
        double d = half ? Float.float16ToFloat((short) bits) : DType.bf16ToFloat((short) bits);
        return new BigDecimal(d);
    }

    @Test
    void doublesAndLongsRoundToTheNearestValue() {
        SplittableRandom r = new SplittableRandom(3);
        for (int i = 0; i < 20_000; i++) {
            double v = Math.scalb(r.nextDouble(0.5, 1), r.nextInt(-30, 20)) * (r.nextBoolean() ? 1 : -1);
            assertNearest(Casts.doubleToF16(v), new BigDecimal(v), true, "f16 of " + v);
            double w = Math.scalb(r.nextDouble(0.5, 1), r.nextInt(-140, 130));
            assertNearest(Casts.doubleToBf16(w), new BigDecimal(w), false, "bf16 of " + w);
            long l = r.nextLong() >> r.nextInt(64);
            assertNearest(Casts.longToBf16(l), new BigDecimal(l), false, "bf16 of " + l);
            long s = r.nextLong(-70000, 70000);
            assertNearest(Casts.longToF16(s), new BigDecimal(s), true, "f16 of " + s);
        }
    }

    // ---- the CUDA header, compiled for the host, against this class ----

    private static final String HOST_CHECK = """
            #include <cstdio>
            #include "kiln_convert.cuh"
            int main() {
                double d; long long l;
                while (fread(&d, 8, 1, stdin) == 1 && fread(&l, 8, 1, stdin) == 1) {
                    printf("%04x %04x %04x %04x %d %lld %d\\n", kiln_double_to_f16(d).bits, kiln_double_to_bf16(d).bits,
                           kiln_long_to_f16(l).bits, kiln_long_to_bf16(l).bits, kiln_double_to_i32_sat(d),
                           kiln_double_to_i64_sat(d), (int)kiln_double_to_i8_sat(d));
                }
                return 0;
            }
            """;

    @Test
    void theCudaHeaderGivesTheSameBits(@TempDir Path dir) throws Exception {
        Path nvcc = Path.of(System.getenv().getOrDefault("NVCC", "/usr/local/cuda/bin/nvcc"));
        Assumptions.assumeTrue(Files.isExecutable(nvcc), "no nvcc at " + nvcc + ": the CUDA header is not compiled here");
        Path src = dir.resolve("check.cu"), exe = dir.resolve("check");
        Files.writeString(src, HOST_CHECK);
        Process p = new ProcessBuilder(nvcc.toString(), "-std=c++17", "-I", Path.of("kernels").toAbsolutePath().toString(), "-o",
                exe.toString(), src.toString()).redirectErrorStream(true).start();
        String log = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(300, TimeUnit.SECONDS) && p.exitValue() == 0, "nvcc failed:\n" + log);

        SplittableRandom r = new SplittableRandom(11);
        double[] special = {0.0, -0.0, Double.NaN, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY, 65504, 65519.99, 65520, 3e9, -3e9,
                1e300, -1e-300, Double.MIN_VALUE, 5.960464477539063E-8, 2.9802322387695312E-8, 1 + Math.scalb(1.0, -11) + Math.scalb(1.0, -40),
                127.9, -128.9, 9.3e18, -9.3e18};
        long[] specialL = {0, 1, -1, Long.MIN_VALUE, Long.MAX_VALUE, (1L << 24) + (1L << 16) + 1, 65520, 65519, 2049, -2049};
        int fixed = Math.max(special.length, specialL.length);
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        List<Long> longs = new ArrayList<>();
        List<Double> doubles = new ArrayList<>();
        for (int i = 0; i < fixed + 20_000; i++) {
            double d;
            long l;
            if (i < fixed) {
                d = special[i % special.length];
                l = specialL[i % specialL.length];
            } else {
                d = r.nextBoolean() ? Double.longBitsToDouble(r.nextLong()) : Math.scalb(r.nextDouble(-1, 1), r.nextInt(-150, 140));
                l = r.nextLong() >> r.nextInt(64);
            }
            doubles.add(d);
            longs.add(l);
            bytes.write(ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putDouble(d).putLong(l).array());
        }
        Path input = dir.resolve("input.bin");
        Files.write(input, bytes.toByteArray());
        Process run = new ProcessBuilder(exe.toString()).redirectInput(input.toFile()).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String[] lines = new String(run.getInputStream().readAllBytes()).split("\n");
        assertTrue(run.waitFor(60, TimeUnit.SECONDS) && run.exitValue() == 0);
        assertEquals(doubles.size(), lines.length);
        for (int i = 0; i < lines.length; i++) {
            double d = doubles.get(i);
            long l = longs.get(i);
            String want = String.format("%04x %04x %04x %04x %d %d %d", Casts.doubleToF16(d) & 0xffff, Casts.doubleToBf16(d) & 0xffff,
                    Casts.longToF16(l) & 0xffff, Casts.longToBf16(l) & 0xffff, Casts.floatToInt(d, DType.I32),
                    Casts.floatToInt(d, DType.I64), Casts.floatToInt(d, DType.I8));
            assertEquals(want, lines[i], "double " + d + " (" + Long.toHexString(Double.doubleToRawLongBits(d)) + "), long " + l);
        }
    }
}
