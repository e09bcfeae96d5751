package dev.kiln.dist;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.dist.ProcessGroup.ReduceOp;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Tensor;

import java.net.ServerSocket;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Faults of the CPU ring: a rank that never calls (timeout on every rank), a rank that leaves
 * while the others are inside a collective, mismatched collectives; plus a group of one, bad
 * arguments and the environment factory. Never a hang: every test bounds its own time.
 */
@Timeout(30)
class CpuProcessGroupFaultTest {

    /** Outcome of one rank: its error message (or "ok") and how long its collective took. */
    record Outcome(String message, long millis) {}

    private static Outcome attempt(Work w) {
        long t0 = System.nanoTime();
        try {
            w.await();
            return new Outcome("ok", (System.nanoTime() - t0) / 1_000_000);
        } catch (DistException e) {
            return new Outcome(e.getMessage(), (System.nanoTime() - t0) / 1_000_000);
        }
    }

    @Test
    void rankThatNeverCallsTimesOutOnEveryRank() throws Exception {
        Duration timeout = Duration.ofSeconds(1);
        List<Outcome> out = CpuRanks.run(2, timeout, pg -> {
            try (Tensor x = Tensor.ones(DType.F32, 1000)) {
                if (pg.rank() == 0) return attempt(pg.allReduce(x, ReduceOp.SUM));
                Thread.sleep(1800); // rank 1 is late: rank 0 gave up meanwhile
                return attempt(pg.allReduce(x, ReduceOp.SUM));
            }
        });
        assertEquals("cpu allReduce #1 (rank 0): timed out after 1 s waiting for rank 1", out.get(0).message());
        assertTrue(out.get(0).millis() >= 900 && out.get(0).millis() < 3000, "rank 0 timed out after " + out.get(0).millis() + " ms");
        assertTrue(out.get(1).message().startsWith("cpu allReduce #1 (rank 1): lost peer rank 0"), out.get(1).message());
        assertTrue(out.get(1).millis() < 1500, "rank 1 failed after " + out.get(1).millis() + " ms");
    }

    @Test
    void peerThatLeavesMidCollectiveFailsTheOthers() throws Exception {
        List<Outcome> out = CpuRanks.run(3, Duration.ofSeconds(20), pg -> {
            try (Tensor x = Tensor.ones(DType.F64, 200_000)) {
                if (pg.rank() == 2) {
                    Thread.sleep(200); // ranks 0 and 1 are inside the all-reduce, waiting for rank 2
                    pg.abort("rank 2 leaves"); // as a process that dies: its sockets close
                }
                Outcome o = attempt(pg.allReduce(x, ReduceOp.SUM));
                Outcome later = attempt(pg.allReduce(x, ReduceOp.SUM));
                assertTrue(later.message().contains("group aborted"), "a failed group fails later collectives at once: " + later);
                return o;
            }
        });
        for (int r = 0; r < 2; r++) {
            String m = out.get(r).message();
            assertTrue(m.startsWith("cpu allReduce #1 (rank " + r + "): lost peer rank "), m);
            assertTrue(out.get(r).millis() < 5000, "rank " + r + " took " + out.get(r).millis() + " ms to notice");
        }
        assertEquals("cpu allReduce #1 (rank 2): group aborted: rank 2 leaves", out.get(2).message());
    }

    @Test
    void mismatchedCollectivesFailWithBothCalls() throws Exception {
        List<Outcome> out = CpuRanks.run(2, Duration.ofSeconds(5), pg -> {
            try (Tensor x = Tensor.ones(DType.F32, 10 + pg.rank())) {
                return attempt(pg.allReduce(x, ReduceOp.SUM));
            }
        });
        assertEquals("cpu allReduce #1 (rank 0): rank 1 called allReduce #1 on 11 float32 elements but this rank called allReduce #1 on 10 float32 elements",
                out.get(0).message());
        assertTrue(out.get(1).message().startsWith("cpu allReduce #1 (rank 1): "), out.get(1).message());
    }

    @Test
    void groupOfOneNeedsNoStore() {
        try (ProcessGroup pg = ProcessGroups.cpu(0, 1, "127.0.0.1", 1, Duration.ofSeconds(1));
             Tensor x = Tensor.fromArray(new float[]{1, 2, 3}, 3);
             Tensor y = Tensor.zeros(3);
             Tensor z = Tensor.zeros(3)) {
            pg.allReduce(x, ReduceOp.AVG).await();
            pg.broadcast(x, 0).await();
            pg.barrier().await();
            pg.allGather(List.of(y), x).await();
            pg.reduceScatter(z, x, ReduceOp.SUM).await();
            assertEquals(3.0f, y.getFloat(2));
            assertEquals(2.0f, z.getFloat(1));
            assertEquals(2.0f, x.getFloat(1));
        }
    }

    @Test
    void badArgumentsAreRejectedWithTheOpName() {
        try (ProcessGroup pg = ProcessGroups.cpu(0, 1, "127.0.0.1", 1, Duration.ofSeconds(1));
             Tensor m = Tensor.zeros(3, 4);
             Tensor h = Tensor.zeros(DType.BF16, 4)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> pg.allReduce(m.t(), ReduceOp.SUM));
            assertTrue(e.getMessage().startsWith("cpu allReduce: tensor [4, 3] is not contiguous"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> pg.broadcast(h, 0));
            assertTrue(e.getMessage().contains("bfloat16 is not supported"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> pg.broadcast(m, 1));
            assertTrue(e.getMessage().contains("root 1"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> pg.reduceScatter(Tensor.zeros(5), m, ReduceOp.SUM));
            assertTrue(e.getMessage().startsWith("cpu reduceScatter: input is float32"), e.getMessage());
        }
    }

    @Test
    void fromEnvFormsAGroup() throws Exception {
        int port;
        try (ServerSocket probe = new ServerSocket(0)) {
            port = probe.getLocalPort();
        }
        var rank1 = java.util.concurrent.CompletableFuture.supplyAsync(() -> sumFromEnv(1, port));
        assertEquals(3.0, sumFromEnv(0, port));
        assertEquals(3.0, rank1.get(10, java.util.concurrent.TimeUnit.SECONDS));
        DistException e = assertThrows(DistException.class, () -> ProcessGroups.fromEnv(Map.of("KILN_DIST_BACKEND", "gloo")));
        assertEquals("KILN_DIST_BACKEND=gloo is not a backend (cpu, nccl, mpi)", e.getMessage());
        // under mpirun (OMPI_COMM_WORLD_*) the backend defaults to mpi; WORLD_SIZE (kiln launch) keeps cpu
        assertEquals("mpi", ProcessGroups.backendOf(Map.of("OMPI_COMM_WORLD_SIZE", "2")));
        assertEquals("cpu", ProcessGroups.backendOf(Map.of("OMPI_COMM_WORLD_SIZE", "2", "WORLD_SIZE", "2")));
        assertEquals("cpu", ProcessGroups.backendOf(Map.of("OMPI_COMM_WORLD_SIZE", "2", "KILN_DIST_BACKEND", "cpu")));
        assertEquals(2, ProcessGroups.worldSize(Map.of("OMPI_COMM_WORLD_SIZE", "2")));
        assertEquals(4, ProcessGroups.worldSize(Map.of("OMPI_COMM_WORLD_SIZE", "2", "WORLD_SIZE", "4")));
    }

    private static double sumFromEnv(int rank, int port) {
        Map<String, String> env = Map.of("RANK", "" + rank, "WORLD_SIZE", "2", "MASTER_ADDR", "127.0.0.1",
                "MASTER_PORT", "" + port, "KILN_DIST_TIMEOUT_S", "5");
        try (ProcessGroup pg = ProcessGroups.fromEnv(env);
             Tensor x = Tensor.full(rank + 1, DType.F32, 4)) {
            assertEquals(Duration.ofSeconds(5), pg.timeout());
            assertEquals("cpu", pg.backend());
            pg.allReduce(x, ReduceOp.SUM).await();
            pg.barrier().await();
            return x.getDouble(3);
        }
    }
}
