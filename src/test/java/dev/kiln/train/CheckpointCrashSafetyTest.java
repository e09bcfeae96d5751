package dev.kiln.train;

import dev.kiln.nn.Sequential;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Checkpoint crash safety: a child JVM ({@link CheckpointKillChild}) saves version after version of
 * a 1.5 MB model to one path, and is killed with SIGKILL at a random moment of its save loop, 50
 * times in a row ({@code -Dkiln.crashKills=N} changes the count). After every kill the file at the
 * path must load and hold exactly the last version the child reported saved, or the one after it
 * (saved on disk, killed before it could print); every element is checked, so a torn or mixed file
 * fails. Each child continues from the file the previous one left, so a leftover temporary file or
 * a damaged checkpoint would also break the next save. At the end no temporary file is left once a
 * save has run (the writer removes those of dead processes).
 */
class CheckpointCrashSafetyTest {
    @TempDir Path dir;

    @Test
    void sigkillDuringSavesNeverDamagesTheCheckpoint() throws Exception {
        int kills = Integer.getInteger("kiln.crashKills", 50);
        Path file = dir.resolve("model.safetensors");
        Random rnd = new Random(20240917);
        int midWrite = 0;
        long expectedStart = 1;
        long t0 = System.nanoTime();
        try (Sequential m = CheckpointKillChild.model()) {
            for (int k = 0; k < kills; k++) {
                long last;
                try (ChildJvm child = new ChildJvm(CheckpointKillChild.class, List.of("-XX:TieredStopAtLevel=1"), file.toString())) {
                    assertEquals("start " + expectedStart, child.await("start ", 60_000), "kill " + k + ": the child resumes after the last version");
                    last = version(child.await("saved ", 60_000));
                    Thread.sleep(rnd.nextInt(30));   // a random moment of the save loop
                    for (String l : child.kill()) if (l.startsWith("saved ")) last = version(l);
                }
                if (!tempFiles(file).isEmpty()) midWrite++;
                long v = loadAndCheck(file, m, k);
                assertTrue(v == last || v == last + 1, "kill " + k + ": the file holds version " + v + " but the child last reported " + last);
                expectedStart = v + 1;
            }
            // one more save (by this process) clears the temporary files of the killed writers
            CheckpointKillChild.fill(m, expectedStart);
            Checkpoint.save(file, m, null, Map.of("version", Long.toString(expectedStart)));
            assertEquals(List.of(), tempFiles(file), "temporary files of dead writers are removed by the next save");
            assertEquals(expectedStart, loadAndCheck(file, m, kills));
        }
        System.out.printf("CheckpointCrashSafetyTest: %d SIGKILLs, all checkpoints intact, %d landed mid-write (temp file left), %d versions, %.1f s%n",
                kills, midWrite, expectedStart, (System.nanoTime() - t0) / 1e9);
    }

    private static long version(String savedLine) { return Long.parseLong(savedLine.substring("saved ".length()).trim()); }

    /** Loads the checkpoint into m, checks every element against its version's values; returns the version. */
    private static long loadAndCheck(Path file, Sequential m, int kill) {
        long v;
        try {
            v = Long.parseLong(Checkpoint.load(file, m, null).get("version"));
        } catch (RuntimeException e) {
            throw new AssertionError("kill " + kill + ": the checkpoint does not load: " + e.getMessage(), e);
        }
        List<Tensor> ps = m.parameters();
        for (int i = 0; i < ps.size(); i++) {
            float want = (float) CheckpointKillChild.value(v, i);
            float[] got = ps.get(i).toFloatArray();
            for (int j = 0; j < got.length; j++)
                if (got[j] != want) fail("kill " + kill + ": version " + v + " parameter " + i + " element " + j + " is " + got[j] + ", expected " + want);
        }
        return v;
    }

    private static List<Path> tempFiles(Path file) throws IOException {
        try (Stream<Path> s = Files.list(file.getParent())) {
            return s.filter(p -> p.getFileName().toString().endsWith(".tmp")).toList();
        }
    }
}
