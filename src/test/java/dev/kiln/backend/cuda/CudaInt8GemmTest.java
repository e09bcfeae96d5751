package dev.kiln.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.backend.cuda.CudaInt8Gemm.Launch;
import dev.kiln.backend.cuda.CudaInt8Gemm.Variant;
import dev.kiln.compress.quant.Int8Gemm;
import dev.kiln.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The host side of {@link CudaInt8Gemm} without a GPU: kernel choice and launch shapes of
 * {@link CudaInt8Gemm#plan}, the block rasterization mirror, the Java variants against the tile
 * definitions in {@code kernels/int8_gemm.cu}, and the requantize recipe against
 * {@link Int8Gemm#requantize}. The device run ({@code @Tag("gpu")}) checks every kernel bit-exact
 * against the CPU through {@link Int8GpuCheck#checkCorrectness}; it skips with the reason elsewhere.
 */
class CudaInt8GemmTest {
    private static final int H200 = 9, H200_SMS = 132;

    @Test
    void alignedProblemsGoToTheTensorCoreTiles() {
        Launch big = CudaInt8Gemm.plan(8192, 8192, 8192, 0, 1 << 20, H200, H200_SMS, null);
        assertEquals(Variant.TILE_128x256, big.variant());
        assertEquals(64 * 32, big.grid());
        assertEquals(256, big.blockX());
        assertEquals(3 * (128 + 256) * 64, big.sharedBytes());
        Launch mid = CudaInt8Gemm.plan(512, 512, 512, 0, 1 << 20, H200, H200_SMS, null);
        assertEquals(Variant.TILE_128x128, mid.variant(), "8 blocks of 128 x 256 would leave most SMs idle");
        assertEquals(16, mid.grid());
        assertEquals(4 * (128 + 128) * 64, mid.sharedBytes());
        Launch odd = CudaInt8Gemm.plan(129, 65, 96, 0, 4096, H200, H200_SMS, null);
        assertEquals(Variant.TILE_128x128, odd.variant());
        assertEquals(2, odd.grid(), "ceil(129 / 128) x ceil(65 / 128) blocks");
    }

    @Test
    void unalignedOddKTinyMOrOldGpusFallBackToDp4a() {
        assertEquals(Variant.DP4A, CudaInt8Gemm.plan(512, 512, 33, 0, 0, H200, H200_SMS, null).variant());
        assertEquals(Variant.DP4A, CudaInt8Gemm.plan(512, 512, 512, 1, 0, H200, H200_SMS, null).variant());
        assertEquals(Variant.DP4A, CudaInt8Gemm.plan(512, 512, 512, 0, 8, H200, H200_SMS, null).variant());
        assertEquals(Variant.DP4A, CudaInt8Gemm.plan(15, 512, 512, 0, 0, H200, H200_SMS, null).variant());
        assertEquals(Variant.DP4A, CudaInt8Gemm.plan(512, 512, 512, 0, 0, 7, 80, null).variant());
        Launch l = CudaInt8Gemm.plan(1, 7, 33, 0, 0, H200, H200_SMS, null);
        assertEquals(1, l.grid());
        assertEquals(16, l.blockX());
        assertEquals(16, l.blockY());
        assertEquals(0, l.sharedBytes());
        Launch huge = CudaInt8Gemm.plan(100_000, 100_000, 33, 0, 0, H200, H200_SMS, null);
        assertEquals(CudaInt8Gemm.MAX_STRIDE_GRID, huge.grid(), "grid-stride kernel: capped grid");
    }

    @Test
    void forcedVariantsAndBadSizesFailWithTheReason() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> CudaInt8Gemm.plan(129, 65, 100, 0, 0, H200, H200_SMS, Variant.TILE_128x128));
        assertTrue(e.getMessage().contains("kiln_int8_gemm_nt_128x128") && e.getMessage().contains("K = 100"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> CudaInt8Gemm.plan(64, 64, 64, 3, 0, H200, H200_SMS, Variant.TILE_128x256));
        assertTrue(e.getMessage().contains("16-byte aligned"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> CudaInt8Gemm.plan(64, 64, 64, 0, 0, 7, 80, Variant.TILE_128x128));
        assertTrue(e.getMessage().contains("sm_80"), e.getMessage());
        assertEquals(Variant.DP4A, CudaInt8Gemm.plan(64, 64, 64, 0, 0, H200, H200_SMS, Variant.DP4A).variant());
        assertEquals(Variant.TILE_128x256, CudaInt8Gemm.plan(1, 1, 16, 0, 0, H200, H200_SMS, Variant.TILE_128x256).variant());
        e = assertThrows(IllegalArgumentException.class, () -> CudaInt8Gemm.plan(-1, 4, 4, 0, 0, H200, H200_SMS, null));
        assertTrue(e.getMessage().contains("negative size"), e.getMessage());
    }

    @Test
    void blockRasterizationCoversEveryTileOnce() {
        int[][] grids = {{1, 1}, {3, 5}, {8, 2}, {17, 3}, {9, 1}, {64, 32}};
        for (int[] g : grids) {
            int tm = g[0], tn = g[1];
            int[] seen = new int[tm * tn];
            for (long pid = 0; pid < (long) tm * tn; pid++) {
                long[] t = CudaInt8Gemm.blockTile(pid, tm, tn);
                assertTrue(t[0] >= 0 && t[0] < tm && t[1] >= 0 && t[1] < tn, "pid " + pid + " -> " + t[0] + "," + t[1]);
                seen[(int) (t[0] * tn + t[1])]++;
            }
            for (int s : seen) assertEquals(1, s, tm + "x" + tn + " tiles");
        }
        // consecutive blocks share block columns (b tiles) within a group of 8 block rows
        assertEquals(0, CudaInt8Gemm.blockTile(7, 64, 32)[1]);
        assertEquals(1, CudaInt8Gemm.blockTile(8, 64, 32)[1]);
    }

    /** Tile shape and stages of each Java variant must be those the .cu file instantiates (shared memory size). */
    @Test
    void variantsMatchTheKernelSource() throws IOException {
        String src = Files.readString(Path.of("kernels/int8_gemm.cu"));
        Matcher m = Pattern.compile("(?m)^KILN_DEF_I8_TILED\\((\\w+), (\\d+), (\\d+), (\\d+)\\)").matcher(src);
        int found = 0;
        while (m.find()) {
            Variant v = Variant.valueOf("TILE_128x" + m.group(2));
            assertEquals(v.kernel(), m.group(1));
            assertEquals(v.stages, Integer.parseInt(m.group(3)), v + " stages");
            assertTrue(src.contains("= " + v.sharedBytes() + " bytes"), "header documents " + v.sharedBytes() + " shared bytes");
            found++;
        }
        assertEquals(2, found);
        assertTrue(src.contains("extern \"C\" __global__ void " + Variant.DP4A.kernel() + "("));
        assertTrue(src.contains("extern \"C\" __global__ void kiln_int8_requantize_f32("));
    }

    @Test
    void requantizeRecipeMatchesTheCpuEpilogueBitForBit() {
        int m = 7, n = 37;
        SplittableRandom r = new SplittableRandom(3);
        int[] acc = new int[m * n], rowSum = new int[n];
        float[] wScale = new float[n], bias = new float[n];
        for (int i = 0; i < acc.length; i++) acc[i] = r.nextInt(-3_000_000, 3_000_000);
        acc[0] = Integer.MAX_VALUE;     // wraps when the zero-point correction is subtracted
        for (int j = 0; j < n; j++) {
            rowSum[j] = r.nextInt(-5000, 5000);
            wScale[j] = (float) r.nextDouble(1e-4, 1e-1);
            bias[j] = (float) r.nextDouble(-2, 2);
        }
        rowSum[0] = -7;
        acc[1] = 0;
        bias[1] = 0;                     // exactly zero: -0 vs +0 under ReLU
        for (boolean relu : new boolean[] {false, true})
            for (float[] bi : new float[][] {null, bias})
                for (int aZero : new int[] {0, 3, -128}) {
                    float[] ref;
                    try (Tensor a = Tensor.fromArray(acc, m, n);
                         Tensor y = Int8Gemm.requantize(a, 0.0213f, aZero, wScale, rowSum, bi, relu, 0, 0)) {
                        ref = y.toFloatArray();
                    }
                    for (int i = 0; i < acc.length; i++) {
                        int j = i % n;
                        float got = CudaInt8Gemm.requantizeMirror(acc[i], 0.0213f, aZero, wScale[j], rowSum[j], bi == null ? 0 : bi[j], relu);
                        assertEquals(Float.floatToRawIntBits(ref[i]), Float.floatToRawIntBits(got),
                                "element " + i + " relu=" + relu + " aZero=" + aZero + ": " + got + " vs " + ref[i]);
                    }
                }
    }

    @Test
    @Tag("gpu")
    void everyKernelIsExactAgainstTheCpuOnTheDevice() {
        if (!CudaAvailability.isAvailable()) System.out.println("CudaInt8GemmTest (gpu) skipped: " + CudaAvailability.reason());
        Assumptions.assumeTrue(CudaAvailability.isAvailable(), CudaAvailability.reason());
        try (CudaInt8Gemm gpu = new CudaInt8Gemm(0); CublasLtInt8 lt = new CublasLtInt8(gpu)) {
            List<String> failures = Int8GpuCheck.checkCorrectness(gpu, lt, System.out);
            assertTrue(failures.isEmpty(), String.join("\n", failures));
        }
    }
}
