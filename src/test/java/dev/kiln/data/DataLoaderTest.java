package dev.kiln.data;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;

import static org.junit.jupiter.api.Assertions.*;

/** Batching, shuffling, drop-last, the prefetch worker's lifetime, and memory ownership. */
class DataLoaderTest {
    /** Row i of the features is [i, i + 0.5, -i] (F32 [n, 3]); label i is i (I64 [n]). */
    static TensorDataset numbered(int n) {
        float[] x = new float[n * 3];
        long[] y = new long[n];
        for (int i = 0; i < n; i++) {
            x[3 * i] = i;
            x[3 * i + 1] = i + 0.5f;
            x[3 * i + 2] = -i;
            y[i] = i;
        }
        return new TensorDataset(Tensor.fromArray(x, n, 3), Tensor.fromArray(y, n));
    }

    /** Checks each row matches its label and returns the labels of one epoch, batch by batch. */
    static List<long[]> epoch(DataLoader loader) {
        List<long[]> out = new ArrayList<>();
        for (Batch b : loader) {
            try (b) {
                long[] y = b.y().toLongArray();
                float[] x = b.x().toFloatArray();
                assertArrayEquals(new int[]{y.length, 3}, b.x().shape());
                assertEquals(DType.F32, b.x().dtype());
                for (int j = 0; j < y.length; j++) {
                    assertEquals(y[j], x[3 * j]);
                    assertEquals(y[j] + 0.5f, x[3 * j + 1]);
                    assertEquals(-y[j], x[3 * j + 2]);
                }
                out.add(y);
            }
        }
        return out;
    }

    static long[] flat(List<long[]> batches) {
        return batches.stream().flatMapToLong(Arrays::stream).toArray();
    }

    static boolean workerAlive() {
        return Thread.getAllStackTraces().keySet().stream()
                .anyMatch(t -> t.getName().startsWith(PrefetchIterator.THREAD_PREFIX) && t.isAlive());
    }

    @Test
    void sequentialBatchesKeepThePartialLast() {
        try (TensorDataset ds = numbered(10); DataLoader loader = new DataLoader(ds, 4, false, 0, false)) {
            assertEquals(3, loader.numBatches());
            List<long[]> b = epoch(loader);
            assertEquals(3, b.size());
            assertArrayEquals(new long[]{0, 1, 2, 3}, b.get(0));
            assertArrayEquals(new long[]{4, 5, 6, 7}, b.get(1));
            assertArrayEquals(new long[]{8, 9}, b.get(2));
            assertEquals(b.size(), epoch(loader).size(), "a second epoch");
        }
    }

    @Test
    void dropLast() {
        try (TensorDataset ds = numbered(10)) {
            DataLoader loader = DataLoader.builder(ds).batchSize(4).dropLast(true).build();
            assertEquals(2, loader.numBatches());
            List<long[]> b = epoch(loader);
            assertEquals(2, b.size());
            for (long[] y : b) assertEquals(4, y.length);
            DataLoader exact = DataLoader.builder(ds).batchSize(5).dropLast(true).build();
            assertEquals(2, exact.numBatches());
            DataLoader tooBig = DataLoader.builder(ds).batchSize(11).dropLast(true).build();
            assertEquals(0, tooBig.numBatches());
            assertTrue(epoch(tooBig).isEmpty());
        }
    }

    @Test
    void shuffleCoversEveryIndexOnceAndChangesPerEpoch() {
        int n = 103;
        try (TensorDataset ds = numbered(n)) {
            DataLoader loader = DataLoader.builder(ds).batchSize(8).shuffle(7).build();
            long[] e0 = flat(epoch(loader));
            long[] e1 = flat(epoch(loader));
            for (long[] e : new long[][]{e0, e1}) {
                assertEquals(n, e.length);
                long[] sorted = e.clone();
                Arrays.sort(sorted);
                for (int i = 0; i < n; i++) assertEquals(i, sorted[i], "every index exactly once");
            }
            assertFalse(Arrays.equals(e0, e1), "epochs differ");
            long[] identity = new long[n];
            Arrays.setAll(identity, i -> i);
            assertFalse(Arrays.equals(e0, identity), "shuffled");
            assertEquals(2, loader.epoch());
        }
    }

    @Test
    void shuffleIsReproducibleFromTheSeed() {
        try (TensorDataset ds = numbered(50)) {
            DataLoader a = DataLoader.builder(ds).batchSize(6).shuffle(42).build();
            DataLoader b = DataLoader.builder(ds).batchSize(6).shuffle(42).prefetch(false).build();
            DataLoader c = DataLoader.builder(ds).batchSize(6).shuffle(43).build();
            long[] a0 = flat(epoch(a)), a1 = flat(epoch(a));
            assertArrayEquals(a0, flat(epoch(b)), "same seed, same first epoch (with or without prefetch)");
            assertArrayEquals(a1, flat(epoch(b)), "same seed, same second epoch");
            assertFalse(Arrays.equals(a0, flat(epoch(c))), "another seed, another order");
            // epoch e is the permutation of Generator(seed + e): resuming at an epoch repeats it
            b.setEpoch(1);
            assertArrayEquals(a1, flat(epoch(b)));
            assertArrayEquals(Arrays.stream(a.order(0)).asLongStream().toArray(), a0);
        }
    }

    @Test
    void workerEndsAfterTheEpochAndMemoryReturns() throws InterruptedException {
        try (TensorDataset ds = numbered(1000)) {
            long before = Storage.liveBytes();
            DataLoader loader = DataLoader.builder(ds).batchSize(32).shuffle(1).build();
            for (int e = 0; e < 3; e++) assertEquals(32, epoch(loader).size());
            assertFalse(workerAlive(), "worker thread ended with the epoch");
            MemoryCheck.assertNoGrowth(before, "all batches closed");
        }
    }

    @Test
    void breakingOutEarlyThenClosingLeaksNothing() {
        try (TensorDataset ds = numbered(1000)) {
            long before = Storage.liveBytes();
            DataLoader loader = DataLoader.builder(ds).batchSize(10).build();
            for (Batch b : loader) {
                b.close();
                break; // the worker has batches queued and is blocked on the full queue
            }
            Iterator<Batch> it = loader.iterator(); // a new epoch stops the abandoned one
            try (Batch b = it.next()) {
                assertEquals(0, b.y().getLong(0), "new epoch starts from the first batch");
            }
            loader.close();
            assertFalse(workerAlive(), "closing the loader ends the worker");
            assertFalse(it.hasNext(), "a closed iteration is over");
            MemoryCheck.assertNoGrowth(before, "queued batches freed on close");
        }
    }

    @Test
    void iteratorContract() {
        try (TensorDataset ds = numbered(3); DataLoader loader = new DataLoader(ds, 2, false, 0, false)) {
            Iterator<Batch> it = loader.iterator();
            assertTrue(it.hasNext());
            assertTrue(it.hasNext(), "hasNext is idempotent");
            it.next().close();
            it.next().close();
            assertFalse(it.hasNext());
            assertThrows(NoSuchElementException.class, it::next);
        }
    }

    @Test
    void workerFailureReachesTheConsumer() {
        Dataset failing = new Dataset() {
            @Override public int size() { return 10; }
            @Override public Example get(int i) {
                if (i == 5) throw new IllegalStateException("example 5 is broken");
                return new Example(Tensor.full(i, DType.F32, 2), Tensor.scalar(i, DType.I64));
            }
        };
        long before = Storage.liveBytes();
        DataLoader loader = DataLoader.builder(failing).batchSize(2).build();
        Iterator<Batch> it = loader.iterator();
        it.next().close();
        it.next().close();
        IllegalStateException e = assertThrows(IllegalStateException.class, it::hasNext);
        assertEquals("example 5 is broken", e.getMessage());
        assertFalse(workerAlive());
        loader.close();
        MemoryCheck.assertNoGrowth(before, "a failed batch frees its partial tensors");
    }

    @Test
    void genericBatchStacksExamples() {
        Dataset generic = new Dataset() {
            @Override public int size() { return 7; }
            @Override public Example get(int i) {
                return new Example(Tensor.fromArray(new float[]{i, i + 0.5f, -i}, 3), Tensor.scalar(i, DType.I64));
            }
        };
        try (TensorDataset ds = numbered(7);
             Batch a = generic.batch(new int[]{6, 0, 3});
             Batch b = ds.batch(new int[]{6, 0, 3})) {
            assertArrayEquals(new int[]{3, 3}, a.x().shape());
            assertArrayEquals(new int[]{3}, a.y().shape());
            assertArrayEquals(b.x().toFloatArray(), a.x().toFloatArray());
            assertArrayEquals(new long[]{6, 0, 3}, a.y().toLongArray());
        }
    }

    @Test
    void tensorDatasetCopiesNonContiguousInputAndViewsRows() {
        // features given transposed: [4, 3] view of a [3, 4] tensor
        Tensor base = Tensor.fromArray(new float[]{0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23}, 3, 4);
        try (TensorDataset ds = new TensorDataset(base.t(), Tensor.fromArray(new int[]{5, 6, 7, 8}, 4))) {
            base.close();
            assertTrue(ds.features().isContiguous());
            try (Batch b = ds.batch(new int[]{3, 1})) {
                assertArrayEquals(new float[]{3, 13, 23, 1, 11, 21}, b.x().toFloatArray());
                assertArrayEquals(new int[]{8, 6}, b.y().toIntArray());
            }
            try (Example e = ds.get(2)) {
                assertArrayEquals(new float[]{2, 12, 22}, e.x().toFloatArray());
                assertEquals(7, e.y().item());
            }
            assertFalse(ds.features().isClosed(), "closing an example leaves the dataset intact");
            assertThrows(IndexOutOfBoundsException.class, () -> ds.get(4));
            assertThrows(IndexOutOfBoundsException.class, () -> ds.batch(new int[]{0, -1}));
        }
        assertThrows(IllegalArgumentException.class, () -> new TensorDataset(Tensor.zeros(3, 2), Tensor.zeros(4)));
    }

    @Test
    void datasetSurvivesTheScopeItWasMadeIn() {
        TensorDataset ds;
        try (Scope s = Scope.open()) {
            ds = numbered(5);
        }
        try (ds; Batch b = ds.batch(new int[]{4})) {
            assertEquals(4, b.y().getLong(0));
        }
    }

    @Test
    void badSettings() {
        try (TensorDataset ds = numbered(3)) {
            assertThrows(IllegalArgumentException.class, () -> DataLoader.builder(ds).batchSize(0));
            assertThrows(IllegalArgumentException.class, () -> DataLoader.builder(null));
        }
    }
}
