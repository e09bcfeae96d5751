package dev.kiln.dist;

import dev.kiln.cli.LaunchCommand;
import dev.kiln.cli.TrainCommand;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * `kiln launch --nproc 2 -- train --batch 32` (two real worker JVMs, CPU backend) ends with the same
 * parameters as one `train --batch 64` on the same data order (1e-5: float sums in another order),
 * and bit for bit the parameters of one `train --batch 32 --accumulate 2` (the same arithmetic).
 */
class DistributedTrainingTest {

    static String[] trainArgs(Path data, int batch, Path save, String... extra) {
        String[] base = {"train", "--data", data.toString(), "--model", "mlp", "--epochs", "1", "--batch", Integer.toString(batch),
                "--threads", "1", "--no-progress", "--no-prefetch", "--save", save.toString()};
        String[] all = java.util.Arrays.copyOf(base, base.length + extra.length);
        System.arraycopy(extra, 0, all, base.length, extra.length);
        return all;
    }

    private static void train(String[] args) {
        assertEquals(0, new CommandLine(new TrainCommand()).setOut(new PrintWriter(new StringWriter()))
                .execute(java.util.Arrays.copyOfRange(args, 1, args.length)));
    }

    /** A tiny Fashion-MNIST lookalike (seeded random 28x28 images, 10 classes) in IDX files: fast to load in every worker. */
    static Path tinyFashion(Path dir, int train, int test) throws java.io.IOException {
        java.util.Random rnd = new java.util.Random(5);
        for (String split : new String[]{"train", "t10k"}) {
            int n = split.equals("train") ? train : test;
            java.nio.ByteBuffer img = java.nio.ByteBuffer.allocate(16 + n * 784).putInt(0x803).putInt(n).putInt(28).putInt(28);
            java.nio.ByteBuffer lab = java.nio.ByteBuffer.allocate(8 + n).putInt(0x801).putInt(n);
            for (int i = 0; i < n; i++) {
                int label = rnd.nextInt(10);
                lab.put((byte) label);
                for (int j = 0; j < 784; j++) img.put((byte) (rnd.nextInt(128) + (j % 10 == label ? 127 : 0)));
            }
            java.nio.file.Files.write(dir.resolve(split + "-images-idx3-ubyte"), img.array());
            java.nio.file.Files.write(dir.resolve(split + "-labels-idx1-ubyte"), lab.array());
        }
        return dir;
    }

    @Test
    void twoProcessesWithHalfBatchesEqualOneProcess(@TempDir Path dir) throws Exception {
        Path single = dir.resolve("single.safetensors"), dist = dir.resolve("dist.safetensors");
        Path data = tinyFashion(dir, 320, 50);
        String[] one = trainArgs(data, 64, single);
        train(one);
        Path accumulated = dir.resolve("accumulated.safetensors");
        train(trainArgs(data, 32, accumulated, "--accumulate", "2"));

        StringWriter out = new StringWriter(), err = new StringWriter();
        String[] launch = new String[3 + one.length];
        launch[0] = "--nproc";
        launch[1] = "2";
        launch[2] = "--";
        System.arraycopy(trainArgs(data, 32, dist), 0, launch, 3, one.length);
        int code = new CommandLine(new LaunchCommand()).setOut(new PrintWriter(out, true)).setErr(new PrintWriter(err, true)).execute(launch);
        assertEquals(0, code, "launch failed:\n" + out + err);
        assertTrue(out.toString().contains("[0] data parallel: 2 ranks (cpu backend)"), out.toString());
        assertFalse(out.toString().contains("[1] epoch"), "only rank 0 logs:\n" + out);

        DistributedTraining.Difference d = DistributedTraining.compareCheckpoints(single, dist);
        assertEquals(6, d.tensors());
        assertTrue(d.maxRelative() <= 1e-5, "max relative difference " + d.maxRelative() + " in " + d.tensor());
        // the same arithmetic in one process (batch 32, 2 accumulation steps): bit for bit
        DistributedTraining.Difference exact = DistributedTraining.compareCheckpoints(accumulated, dist);
        assertEquals(0.0, exact.maxRelative(), "vs one process with --accumulate 2: " + exact.tensor());
    }

    @Test
    void singleProcessEnvironmentChangesNothing() {
        try (DistributedTraining t = DistributedTraining.fromEnv(Map.of())) {
            assertFalse(t.isDistributed());
            assertTrue(t.isMain());
            assertEquals(1, t.size());
        }
        try (DistributedTraining t = DistributedTraining.fromEnv(Map.of("WORLD_SIZE", "1", "RANK", "0"))) {
            assertFalse(t.isDistributed());
        }
    }

    @Test
    void relativeDifferenceIsScaledByTheTensorsMagnitude() {
        assertEquals(0.01, DistributedTraining.relative(new double[]{1, 2.02}, new double[]{1, 2}), 1e-12);
        assertEquals(0.0, DistributedTraining.relative(new double[]{3}, new double[]{3}), 0.0);
    }
}
