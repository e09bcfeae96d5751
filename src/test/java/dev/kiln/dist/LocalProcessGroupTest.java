package dev.kiln.dist;

import dev.kiln.dist.ProcessGroup.ReduceOp;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Collectives of the in-JVM backend against a float64 reference, plus timeouts and failures. */
class LocalProcessGroupTest {

    /** Rank r's input: seeded uniform values in [-2, 2]. */
    static double[] input(int rank, int n) {
        Generator g = new Generator(100 + rank);
        double[] v = new double[n];
        for (int i = 0; i < n; i++) v[i] = (float) (g.nextUniform() * 4 - 2);
        return v;
    }

    static double reference(ReduceOp op, int size, int n, int i) {
        double acc = op == ReduceOp.MAX ? Double.NEGATIVE_INFINITY : 0;
        for (int r = 0; r < size; r++) {
            double x = input(r, n)[i];
            acc = op == ReduceOp.MAX ? Math.max(acc, x) : acc + x;
        }
        return op == ReduceOp.AVG ? acc / size : acc;
    }

    @ParameterizedTest
    @CsvSource({"1,SUM,7", "2,SUM,2925", "3,AVG,1025", "4,MAX,45", "4,AVG,1"})
    void allReduceMatchesFloat64Reference(int size, ReduceOp op, int n) {
        List<float[]> got = LocalProcessGroup.world(size).run(pg -> {
            try (Tensor t = Tensor.fromDoubles(DType.F32, input(pg.rank(), n), n)) {
                pg.allReduce(t, op).await();
                return t.toFloatArray();
            }
        });
        for (float[] r : got) {
            for (int i = 0; i < n; i++) {
                double ref = reference(op, size, n, i);
                assertEquals(ref, r[i], 1e-6 + 1e-6 * Math.abs(ref), "element " + i);
            }
            assertArrayEquals(got.get(0), r, "every rank ends with the same values");
        }
    }

    @Test
    void allReduceF64IsExactInRankOrder() {
        List<double[]> got = LocalProcessGroup.world(3).run(pg -> {
            try (Tensor t = Tensor.fromArray(input(pg.rank(), 65), 5, 13)) {
                pg.allReduce(t, ReduceOp.SUM).await();
                return t.toDoubleArray();
            }
        });
        for (int i = 0; i < 65; i++) assertEquals(input(0, 65)[i] + input(1, 65)[i] + input(2, 65)[i], got.get(2)[i], 0.0);
    }

    @Test
    void broadcastAllGatherReduceScatter() {
        int n = 6;
        List<double[][]> got = LocalProcessGroup.world(3).run(pg -> {
            int r = pg.rank();
            try (Tensor b = Tensor.fromArray(input(r, n), n);
                 Tensor in = Tensor.fromArray(input(r, 3 * n), 3, n);
                 Tensor rs = Tensor.zeros(DType.F64, 1, n)) {
                List<Tensor> gathered = new ArrayList<>();
                for (int k = 0; k < 3; k++) gathered.add(Tensor.zeros(DType.F64, n));
                Work w1 = pg.broadcast(b, 1);
                Work w2 = pg.allGather(gathered, b);       // runs after the broadcast: sees root 1's data
                Work w3 = pg.reduceScatter(rs, in, ReduceOp.SUM);
                w3.await();                                 // awaited out of order
                w1.await();
                w2.await();
                assertTrue(w1.isCompleted() && w2.isCompleted());
                double[][] res = {b.toDoubleArray(), gathered.get(2).toDoubleArray(), rs.toDoubleArray()};
                for (Tensor t : gathered) t.close();
                pg.barrier().await();
                return res;
            }
        });
        for (int r = 0; r < 3; r++) {
            double[][] res = got.get(r);
            assertArrayEquals(input(1, n), res[0], 0.0, "broadcast from root 1");
            assertArrayEquals(input(1, n), res[1], 0.0, "all-gather after broadcast");
            for (int i = 0; i < n; i++) {
                double ref = 0;
                for (int q = 0; q < 3; q++) ref += input(q, 3 * n)[r * n + i];
                assertEquals(ref, res[2][i], 1e-12, "reduce-scatter slice of rank " + r);
            }
        }
    }

    @Test
    void timeoutFailsEveryRankAndNamesTheMissingRank() {
        var world = new LocalProcessGroup.World(2, Duration.ofMillis(300));
        long t0 = System.nanoTime();
        DistException e = assertThrows(DistException.class, () -> world.run(pg -> {
            try (Tensor t = Tensor.ones(4)) {
                if (pg.rank() == 0) pg.allReduce(t, ReduceOp.SUM).await();  // rank 1 never joins
                else {
                    sleep(600);
                    pg.allReduce(t, ReduceOp.SUM).await();                 // too late: the world has failed
                }
            }
            return null;
        }));
        assertTrue(e.getMessage().contains("timed out") && e.getMessage().contains("ranks [1]"), e.getMessage());
        assertTrue((System.nanoTime() - t0) / 1e9 < 5, "no hang");
    }

    @Test
    void mismatchedShapesAndOpsFail() {
        DistException e = assertThrows(DistException.class, () -> LocalProcessGroup.world(2).run(pg -> {
            try (Tensor t = Tensor.ones(pg.rank() == 0 ? 4 : 5)) {
                pg.allReduce(t, ReduceOp.SUM).await();
            }
            return null;
        }));
        assertTrue(e.getMessage().contains("allReduce") && e.getMessage().contains("elements"), e.getMessage());
        DistException e2 = assertThrows(DistException.class, () -> LocalProcessGroup.world(2).run(pg -> {
            try (Tensor t = Tensor.ones(4)) {
                (pg.rank() == 0 ? pg.broadcast(t, 0) : pg.allReduce(t, ReduceOp.SUM)).await();
            }
            return null;
        }));
        assertTrue(e2.getMessage().contains("broadcast") && e2.getMessage().contains("allReduce"), e2.getMessage());
    }

    @Test
    void abortAndEarlyCloseFailThePeers() {
        DistException e = assertThrows(DistException.class, () -> LocalProcessGroup.world(2).run(pg -> {
            try (Tensor t = Tensor.ones(4)) {
                if (pg.rank() == 1) pg.abort("out of memory");
                else pg.allReduce(t, ReduceOp.SUM).await();
            }
            return null;
        }));
        assertTrue(e.getMessage().contains("rank 1 aborted: out of memory"), e.getMessage());
        DistException e2 = assertThrows(DistException.class, () -> LocalProcessGroup.world(2).run(pg -> {
            try (Tensor t = Tensor.ones(4)) {
                if (pg.rank() == 0) pg.allReduce(t, ReduceOp.SUM).await();   // rank 1 just returns and closes
            }
            return null;
        }));
        assertTrue(e2.getMessage().contains("rank 1") && e2.getMessage().contains("closed"), e2.getMessage());
    }

    static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
