package dev.kiln.dist;

import dev.kiln.cli.LaunchCommand;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/** Killing one worker of a running `kiln launch` ends every process within 30 s with a message naming the rank. */
class LaunchCommandTest {

    @Test
    void killedWorkerStopsTheJobAndIsNamed(@TempDir Path dir) throws Exception {
        Path data = DistributedTrainingTest.tinyFashion(dir, 320, 50);
        StringWriter out = new StringWriter(), err = new StringWriter();
        CompletableFuture<Integer> job = CompletableFuture.supplyAsync(() -> new CommandLine(new LaunchCommand())
                .setOut(new PrintWriter(out, true)).setErr(new PrintWriter(err, true))
                .execute("--nproc", "2", "--", "train", "--data", data.toString(), "--epochs", "1000", "--batch", "32",
                        "--threads", "1", "--no-progress", "--no-prefetch"));
        List<Long> pids = new ArrayList<>();
        try {
            waitFor(() -> out.toString().contains("[0] epoch"), 60, "rank 0 to start training:\n" + out + err);
            Matcher m = Pattern.compile("launch: rank (\\d) is pid (\\d+)").matcher(err.toString());
            while (m.find()) pids.add(Long.parseLong(m.group(2)));
            assertEquals(2, pids.size(), err.toString());
            Thread.sleep(300);   // both ranks inside the training loop's collectives
            ProcessHandle.of(pids.get(1)).orElseThrow().destroyForcibly();
            long t0 = System.nanoTime();
            int code = job.get(30, TimeUnit.SECONDS);
            double secs = (System.nanoTime() - t0) / 1e9;
            assertEquals(1, code, err.toString());
            assertTrue(secs < 30, "stopped in " + secs + " s");
            assertTrue(err.toString().contains("launch: rank 1 exited with code 137 (killed by SIGKILL)"), err.toString());
            for (long pid : pids) assertFalse(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), "pid " + pid + " still alive");
        } finally {
            for (long pid : pids) ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
            job.cancel(true);
        }
    }

    @Test
    void badArgumentsAreUsageErrors() {
        StringWriter err = new StringWriter();
        int code = new CommandLine(new LaunchCommand()).setErr(new PrintWriter(err, true))
                .execute("--nproc", "2", "--nnodes", "2", "--", "train");
        assertTrue(code != 0, "missing --master with two nodes");
    }

    static void waitFor(java.util.function.BooleanSupplier cond, int seconds, String what) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (!cond.getAsBoolean()) {
            if (System.nanoTime() > deadline) fail("timed out waiting for " + what);
            Thread.sleep(50);
        }
    }
}
