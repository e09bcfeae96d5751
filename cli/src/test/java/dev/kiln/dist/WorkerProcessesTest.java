package dev.kiln.dist;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.cli.BenchAllreduce;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.lang.ProcessBuilder.Redirect;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Real worker JVMs: two processes of the all-reduce benchmark's worker form a CPU group through
 * the environment and report; a worker that fails is named by rank.
 */
@Timeout(60)
class WorkerProcessesTest {

    @Test
    void twoWorkerJvmsFormAGroupAndReport() throws Exception {
        var spec = new WorkerProcesses.Spec(2, BenchAllreduce.Worker.class.getName(), List.of("1024", "4096", "4"),
                Map.of("KILN_DIST_TIMEOUT_S", "20"), List.of("-Xmx256m"));
        try (WorkerProcesses w = WorkerProcesses.start(spec, r -> r == 0 ? Redirect.PIPE : Redirect.DISCARD)) {
            List<String> lines;
            try (BufferedReader in = new BufferedReader(new InputStreamReader(w.process(0).getInputStream(), StandardCharsets.UTF_8))) {
                lines = in.lines().filter(l -> l.startsWith("RESULT ")).toList();
            }
            w.awaitAll(Duration.ofSeconds(30));
            assertEquals(2, lines.size(), "one result per size: " + lines);
            assertTrue(lines.get(0).startsWith("RESULT 1024 200 ") && lines.get(1).startsWith("RESULT 4096 200 "), lines.toString());
        }
    }

    @Test
    void failedWorkerIsNamedByRank() {
        var spec = new WorkerProcesses.Spec(2, "dev.kiln.dist.NoSuchMain", List.of());
        try (WorkerProcesses w = WorkerProcesses.start(spec, r -> Redirect.DISCARD)) {
            DistException e = assertThrows(DistException.class, () -> w.awaitAll(Duration.ofSeconds(30)));
            assertTrue(e.getMessage().matches("workers: rank [01] exited with code 1"), e.getMessage());
        }
    }
}
