package dev.kiln.dist;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.io.File;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The MPI process group under Open MPI's {@code mpirun} ({@link MpiChild} on 2 and 3 ranks): every
 * collective against the TCP ring and the expected values, a collective one rank never joins
 * (the watchdog ends the waiting rank, then mpirun the job), and a rank that dies mid-run. Without mpirun on the PATH
 * the tests are skipped, unless KILN_REQUIRE_MPI=1 (CI sets it: .ci/run installs Open MPI).
 */
class MpiProcessGroupTest {
    private static Path mpirun() {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
            Path p = Path.of(dir, "mpirun");
            if (Files.isExecutable(p)) return p;
        }
        if ("1".equals(System.getenv("KILN_REQUIRE_MPI"))) throw new AssertionError("KILN_REQUIRE_MPI=1 but mpirun is not on the PATH");
        Assumptions.abort("mpirun (Open MPI) is not installed");
        return null;
    }

    private record Run(int exit, String out, double seconds) {}

    private static Run run(int ranks, long timeoutS, String... args) throws Exception {
        String java = ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        List<String> cmd = new ArrayList<>(List.of(mpirun().toString(), "--allow-run-as-root", "--oversubscribe", "-np", Integer.toString(ranks),
                "-x", "KILN_DIST_TIMEOUT_S=3", java, "-Xshare:auto", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xmx256m",
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-cp", System.getProperty("java.class.path"), MpiChild.class.getName()));
        cmd.addAll(List.of(args));
        Path log = Files.createTempFile("kiln-mpi-", ".log");
        try {
            long t0 = System.nanoTime();
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
            if (!p.waitFor(timeoutS, TimeUnit.SECONDS)) {
                p.descendants().forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly();
                throw new AssertionError("mpirun still running after " + timeoutS + " s: " + Files.readString(log, StandardCharsets.UTF_8));
            }
            return new Run(p.exitValue(), Files.readString(log, StandardCharsets.UTF_8), (System.nanoTime() - t0) / 1e9);
        } finally {
            Files.deleteIfExists(log);
        }
    }

    private static int freePort() throws Exception {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    @Test
    void everyCollectiveEqualsTheRingAndTheExpectedValues() throws Exception {
        for (int ranks : new int[]{2, 3}) {
            Run r = run(ranks, 180, "collectives", Integer.toString(freePort()));
            assertEquals(0, r.exit(), r.out());
            for (int k = 0; k < ranks; k++) assertTrue(r.out().contains("rank " + k + " ok"), ranks + " ranks: " + r.out());
            assertTrue(!r.out().contains("FAIL"), r.out());
        }
    }

    @Test
    void dataParallelTrainingEqualsOneProcess() throws Exception {
        Run r = run(2, 120, "ddp");
        assertEquals(0, r.exit(), r.out());
        assertTrue(r.out().contains("ddp rank 0 ok") && r.out().contains("ddp rank 1 ok"), r.out());
    }

    @Test
    void aCollectiveOneRankNeverJoinsEndsTheJobWithItsReason() throws Exception {
        Run r = run(2, 90, "timeout");
        assertNotEquals(0, r.exit(), r.out());
        assertTrue(r.out().contains("rank 0 backend mpi"), r.out());
        assertTrue(r.out().contains("kiln: mpi allReduce #2 (rank 0): not finished after 3 s") && r.out().contains("ending this rank (exit 3) so that mpirun ends the job"), r.out());
        assertTrue(r.seconds() < 30, "took " + r.seconds() + " s");
    }

    @Test
    void aRankThatDiesEndsTheJob() throws Exception {
        Run r = run(2, 90, "die");
        assertNotEquals(0, r.exit(), r.out());
        assertTrue(r.out().contains("rank 1 halting"), r.out());
        assertTrue(r.seconds() < 30, "took " + r.seconds() + " s: " + r.out());
    }
}
