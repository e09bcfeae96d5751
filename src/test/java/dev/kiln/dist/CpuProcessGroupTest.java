package dev.kiln.dist;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.dist.ProcessGroup.ReduceOp;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Tensor;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The CPU ring backend on 2, 3 and 4 ranks in one JVM (each rank a thread with its own group and
 * sockets): every collective against a float64 reference computed from every rank's inputs, on
 * odd sizes (0, 1, not divisible by the ranks, larger than one 1 MB transfer piece) and every
 * dtype; ordering of outstanding works.
 */
@Timeout(60)
class CpuProcessGroupTest {
    static final Duration T = Duration.ofSeconds(10);
    static final DType[] DTYPES = {DType.F32, DType.F64, DType.I32, DType.I64};
    static final int[] SIZES = {0, 1, 7, 1025};

    /** Rank r's deterministic input element i (integers for integer dtypes, exact in every dtype). */
    static double input(DType t, int rank, long i, int salt) {
        if (t.isFloating()) return Math.sin(rank * 31.7 + i * 0.37 + salt) * 2;
        return Math.floorMod(rank * 7919L + i * 31 + salt * 17L, 1001) - 500;
    }

    static Tensor inputTensor(DType t, int rank, int count, int salt) {
        double[] d = new double[count];
        for (int i = 0; i < count; i++) d[i] = input(t, rank, i, salt);
        return Tensor.fromDoubles(t, d, count);
    }

    static double reduce(DType t, ReduceOp op, int n, long i, int salt) {
        double acc = op == ReduceOp.MAX ? Double.NEGATIVE_INFINITY : 0;
        for (int r = 0; r < n; r++) {
            double v = input(t, r, i, salt);
            acc = op == ReduceOp.MAX ? Math.max(acc, v) : acc + v;
        }
        if (op != ReduceOp.AVG) return acc;
        return t.isFloating() ? acc / n : (double) ((long) acc / n);
    }

    static void assertClose(DType t, double want, double got, String what) {
        double tol = t == DType.F32 ? 1e-5 + 1e-5 * Math.abs(want) : t == DType.F64 ? 1e-12 : 0;
        if (Math.abs(want - got) > tol) throw new AssertionError(what + ": expected " + want + ", got " + got);
    }

    @Test
    void allReduceEveryOpDtypeAndSizeOnTwoThreeFourRanks() throws Exception {
        for (int n = 2; n <= 4; n++) {
            int world = n;
            CpuRanks.run(n, T, pg -> {
                int salt = 0;
                for (DType t : DTYPES)
                    for (int count : SIZES)
                        for (ReduceOp op : ReduceOp.values()) {
                            salt++;
                            try (Tensor x = inputTensor(t, pg.rank(), count, salt)) {
                                pg.allReduce(x, op).await();
                                for (int i = 0; i < count; i++)
                                    assertClose(t, reduce(t, op, world, i, salt), x.getDouble(i),
                                            "allReduce " + op + " " + t + "[" + count + "] n=" + world + " rank " + pg.rank() + " at " + i);
                            }
                        }
                return null;
            });
        }
    }

    @Test
    void allReduceOfTensorsLargerThanOnePieceAndViews() throws Exception {
        int count = 1_000_003; // 4 MB of float32: blocks span several 1 MB pieces
        CpuRanks.run(3, T, pg -> {
            try (Tensor x = inputTensor(DType.F32, pg.rank(), count, 5)) {
                pg.allReduce(x, ReduceOp.SUM).await();
                for (int i = 0; i < count; i += 9973) assertClose(DType.F32, reduce(DType.F32, ReduceOp.SUM, 3, i, 5), x.getDouble(i), "at " + i);
                assertClose(DType.F32, reduce(DType.F32, ReduceOp.SUM, 3, count - 1, 5), x.getDouble(count - 1), "last");
            }
            // a contiguous view with a storage offset: only the view's elements take part
            try (Tensor base = Tensor.full(1.0, DType.F64, 10)) {
                Tensor view = base.narrow(0, 3, 4);
                pg.allReduce(view, ReduceOp.SUM).await();
                assertEquals(List.of(1.0, 1.0, 1.0, 3.0, 3.0, 3.0, 3.0, 1.0, 1.0, 1.0), boxed(base.toDoubleArray()));
            }
            return null;
        });
    }

    @Test
    void broadcastFromEveryRoot() throws Exception {
        for (int n = 2; n <= 4; n++) {
            int world = n;
            CpuRanks.run(n, T, pg -> {
                for (int root = 0; root < world; root++)
                    for (DType t : DTYPES)
                        for (int count : new int[]{0, 1, 7, 300_001}) {
                            try (Tensor x = inputTensor(t, pg.rank(), count, root)) {
                                pg.broadcast(x, root).await();
                                for (int i = 0; i < count; i += (count > 100 ? 997 : 1))
                                    assertClose(t, input(t, root, i, root), x.getDouble(i), "broadcast root " + root + " " + t + "[" + count + "] rank " + pg.rank());
                            }
                        }
                return null;
            });
        }
    }

    @Test
    void allGatherAndReduceScatter() throws Exception {
        for (int n = 2; n <= 4; n++) {
            int world = n;
            CpuRanks.run(n, T, pg -> {
                int salt = 100;
                for (DType t : DTYPES)
                    for (int count : SIZES) {
                        salt++;
                        checkAllGather(pg, world, t, count, salt);
                        for (ReduceOp op : ReduceOp.values()) checkReduceScatter(pg, world, t, count, op, ++salt);
                    }
                return null;
            });
        }
    }

    private static void checkAllGather(ProcessGroup pg, int n, DType t, int count, int salt) {
        List<Tensor> out = new ArrayList<>();
        for (int r = 0; r < n; r++) out.add(Tensor.full(-7, t, count));
        try (Tensor in = inputTensor(t, pg.rank(), count, salt)) {
            pg.allGather(out, in).await();
            for (int r = 0; r < n; r++)
                for (int i = 0; i < count; i++)
                    assertClose(t, input(t, r, i, salt), out.get(r).getDouble(i), "allGather " + t + "[" + count + "] slot " + r + " rank " + pg.rank());
        } finally {
            out.forEach(Tensor::close);
        }
    }

    /** in has n blocks of count elements; input element (block b, i) is input(r, b*count + i). */
    private static void checkReduceScatter(ProcessGroup pg, int n, DType t, int count, ReduceOp op, int salt) {
        try (Tensor in = inputTensor(t, pg.rank(), n * count, salt).reshape(n, count);
             Tensor out = Tensor.full(-7, t, count)) {
            Tensor before = in.clone();
            pg.reduceScatter(out, in, op).await();
            for (int i = 0; i < count; i++)
                assertClose(t, reduce(t, op, n, (long) pg.rank() * count + i, salt), out.getDouble(i),
                        "reduceScatter " + op + " " + t + "[" + count + "] rank " + pg.rank() + " at " + i);
            assertEquals(boxed(before.toDoubleArray()), boxed(in.toDoubleArray()), "reduceScatter must leave its input as it was");
            before.close();
        }
    }

    @Test
    void outstandingWorksRunInCallOrder() throws Exception {
        CpuRanks.run(3, T, pg -> {
            List<Tensor> xs = new ArrayList<>();
            List<Work> works = new ArrayList<>();
            for (int k = 0; k < 6; k++) {
                Tensor x = inputTensor(DType.F64, pg.rank(), 50_000 + k, k);
                xs.add(x);
                works.add(k % 2 == 0 ? pg.allReduce(x, ReduceOp.SUM) : pg.broadcast(x, k % 3));
            }
            // the same tensor twice in a row: the second all-reduce must see the first one's result
            Tensor twice = Tensor.full(1.0, DType.I64, 5);
            Work w1 = pg.allReduce(twice, ReduceOp.SUM), w2 = pg.allReduce(twice, ReduceOp.SUM);
            for (int k = works.size() - 1; k >= 0; k--) works.get(k).await();
            w2.await();
            assertTrue(w1.isCompleted() && w2.isCompleted());
            assertEquals(9.0, twice.getDouble(4));
            for (int k = 0; k < xs.size(); k++) {
                for (int i = 0; i < xs.get(k).numel(); i += 4999) {
                    double want = k % 2 == 0 ? reduce(DType.F64, ReduceOp.SUM, 3, i, k) : input(DType.F64, k % 3, i, k);
                    assertClose(DType.F64, want, xs.get(k).getDouble(i), "work " + k + " at " + i);
                }
                xs.get(k).close();
            }
            twice.close();
            return null;
        });
    }

    @Test
    void barrierWaitsForTheLastRank() throws Exception {
        List<Long> waitedMs = CpuRanks.run(3, T, pg -> {
            if (pg.rank() == 2) Thread.sleep(400);
            long t0 = System.nanoTime();
            pg.barrier().await();
            return (System.nanoTime() - t0) / 1_000_000;
        });
        assertTrue(waitedMs.get(0) >= 300 && waitedMs.get(1) >= 300, "ranks 0 and 1 left the barrier before rank 2 came: " + waitedMs);
    }

    static List<Double> boxed(double[] a) {
        List<Double> l = new ArrayList<>();
        for (double v : a) l.add(v);
        return l;
    }
}
