package dev.kiln.data;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** Fashion-MNIST: the embedded subset always, the full files when installed. */
class FashionMnistTest {
    @TempDir Path dir;

    /** Mean and standard deviation (population) over all elements, in float64. */
    static double[] stats(Tensor t) {
        MemorySegment s = t.segment();
        long n = t.numel();
        double sum = 0, sq = 0;
        for (long i = 0; i < n; i++) {
            double v = s.getAtIndex(Storage.F32, i);
            sum += v;
            sq += v * v;
        }
        double mean = sum / n;
        return new double[]{mean, Math.sqrt(sq / n - mean * mean)};
    }

    static long[] classCounts(Tensor y) {
        long[] c = new long[10];
        for (long v : y.toLongArray()) c[(int) v]++;
        return c;
    }

    @Test
    void embeddedTrainAndTest() {
        long before = Storage.liveBytes();
        try (TensorDataset train = FashionMnist.embedded(true, false);
             TensorDataset test = FashionMnist.embedded(false, false)) {
            assertEquals(2000, train.size());
            assertEquals(500, test.size());
            assertArrayEquals(new int[]{2000, 1, 28, 28}, train.features().shape());
            assertEquals(DType.F32, train.features().dtype());
            assertEquals(DType.I64, train.labels().dtype());
            assertArrayEquals(new int[]{500}, test.labels().shape());
            // the counts tools/make_embedded_data.py printed when it cut the subset
            assertArrayEquals(new long[]{194, 216, 202, 195, 186, 200, 194, 215, 198, 200}, classCounts(train.labels()));
            assertArrayEquals(new long[]{55, 52, 65, 46, 57, 39, 47, 47, 44, 48}, classCounts(test.labels()));
            double[] st = stats(train.features());
            assertEquals(FashionMnist.MEAN, st[0], 0.02, "pixel mean of the subset");
            assertEquals(FashionMnist.STD, st[1], 0.02, "pixel std of the subset");
            float[] px = train.features().toFloatArray();
            float lo = Float.MAX_VALUE, hi = -Float.MAX_VALUE;
            for (float v : px) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
            assertEquals(0f, lo);
            assertEquals(1f, hi);
            // every pixel is k/255 for an integer k
            for (int i = 0; i < px.length; i += 97) assertEquals(Math.rint(px[i] * 255), px[i] * 255, 1e-3);
        }
        MemoryCheck.assertNoGrowth(before, "datasets closed");
    }

    @Test
    void normalizationIsTheUsualAffineMap() {
        try (TensorDataset raw = FashionMnist.embedded(false, false);
             TensorDataset norm = FashionMnist.embedded(false)) {
            float[] a = raw.features().toFloatArray();
            float[] b = norm.features().toFloatArray();
            for (int i = 0; i < a.length; i++)
                assertEquals((a[i] - 0.2860) / 0.3530, b[i], 1e-5, "pixel " + i);
            assertArrayEquals(raw.labels().toLongArray(), norm.labels().toLongArray());
        }
    }

    @Test
    void classNames() {
        assertEquals(10, FashionMnist.classNames().size());
        assertEquals("T-shirt/top", FashionMnist.className(0));
        assertEquals("Ankle boot", FashionMnist.className(9));
        assertEquals(Path.of("/usr/share/datasets/fashion-mnist"), FashionMnist.defaultDir());
    }

    @Test
    void realFilesWhenInstalled() {
        Assumptions.assumeTrue(FashionMnist.available(), "Fashion-MNIST not installed in " + FashionMnist.defaultDir());
        try (TensorDataset train = FashionMnist.load(FashionMnist.defaultDir(), true, false)) {
            assertArrayEquals(new int[]{60000, 1, 28, 28}, train.features().shape());
            assertArrayEquals(new int[]{60000}, train.labels().shape());
            for (long c : classCounts(train.labels())) assertEquals(6000, c);
            double[] st = stats(train.features());
            assertEquals(0.2860, st[0], 5e-4, "train pixel mean");
            assertEquals(0.3530, st[1], 5e-4, "train pixel std");
            // the embedded subset is the first 2000 training examples
            try (TensorDataset emb = FashionMnist.embedded(true, false);
                 Batch head = train.batch(java.util.stream.IntStream.range(0, 2000).toArray())) {
                assertArrayEquals(emb.features().toFloatArray(), head.x().toFloatArray());
                assertArrayEquals(emb.labels().toLongArray(), head.y().toLongArray());
            }
        }
        try (TensorDataset test = FashionMnist.load(FashionMnist.defaultDir(), false)) {
            assertEquals(10000, test.size());
            for (long c : classCounts(test.labels())) assertEquals(1000, c);
            double[] st = stats(test.features());
            assertEquals(0, st[0], 0.02, "normalized test mean");
            assertEquals(1, st[1], 0.02, "normalized test std");
        }
    }

    @Test
    void loadOrEmbeddedAlwaysGivesData() {
        try (TensorDataset t = FashionMnist.loadOrEmbedded(false)) {
            assertEquals(FashionMnist.available() ? 10000 : 500, t.size());
        }
    }

    // ---- a directory of hand-made files: uncompressed names, missing files, bad contents

    private void writeSplit(boolean train, int[] imageDims, byte[] labels, boolean gz) throws IOException {
        String split = train ? "train" : "t10k";
        int n = 1;
        for (int d : imageDims) n *= d;
        byte[] pixels = new byte[n];
        for (int i = 0; i < n; i++) pixels[i] = (byte) (i % 256);
        byte[] img = IdxTest.idx(0x08, imageDims, pixels);
        byte[] lab = IdxTest.idx(0x08, new int[]{labels.length}, labels);
        String ext = gz ? ".gz" : "";
        Files.write(dir.resolve(split + "-images-idx3-ubyte" + ext), gz ? IdxTest.gzip(img) : img);
        Files.write(dir.resolve(split + "-labels-idx1-ubyte" + ext), gz ? IdxTest.gzip(lab) : lab);
    }

    @Test
    void loadsUncompressedFilesFromAnyDirectory() throws IOException {
        assertFalse(FashionMnist.available(dir));
        writeSplit(true, new int[]{3, 28, 28}, new byte[]{0, 9, 4}, false);
        assertFalse(FashionMnist.available(dir), "test split still missing");
        writeSplit(false, new int[]{2, 28, 28}, new byte[]{1, 2}, true);
        assertTrue(FashionMnist.available(dir));
        try (TensorDataset t = FashionMnist.load(dir, true, false)) {
            assertArrayEquals(new long[]{0, 9, 4}, t.labels().toLongArray());
            assertEquals(5 / 255.0, t.features().getDouble(0, 0, 0, 5), 1e-7);
            assertEquals((784 + 30) % 256 / 255.0, t.features().getDouble(1, 0, 1, 2), 1e-7);
        }
    }

    @Test
    void badContentsAreReported() throws IOException {
        long before = Storage.liveBytes();
        writeSplit(true, new int[]{2, 28, 28}, new byte[]{3, 10}, true);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> FashionMnist.load(dir, true));
        assertTrue(e.getMessage().contains("label 10 at index 1") && e.getMessage().contains("train-labels"), e.getMessage());
        writeSplit(true, new int[]{2, 28, 28}, new byte[]{3}, true);
        e = assertThrows(IllegalArgumentException.class, () -> FashionMnist.load(dir, true));
        assertTrue(e.getMessage().contains("for 2 images"), e.getMessage());
        writeSplit(true, new int[]{2, 32, 32}, new byte[]{3, 4}, true);
        e = assertThrows(IllegalArgumentException.class, () -> FashionMnist.load(dir, true));
        assertTrue(e.getMessage().contains("[2, 32, 32]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> FashionMnist.load(dir, false));
        assertTrue(e.getMessage().contains("t10k"), e.getMessage());
        MemoryCheck.assertNoGrowth(before, "failed loads free what they read");
    }
}
