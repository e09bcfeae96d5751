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
 * parameters as one `train --batch 64` on the same data order, on a small --limit subset.
 */
class DistributedTrainingTest {

    static String[] trainArgs(Path data, int batch, Path save) {
        return new String[]{"train", "--data", data.toString(), "--model", "mlp", "--epochs", "1", "--batch", Integer.toString(batch),
                "--threads", "1", "--no-progress", "--no-prefetch", "--save", save.toString()};
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
        assertEquals(0, new CommandLine(new TrainCommand()).setOut(new PrintWriter(new StringWriter()))
                .execute(java.util.Arrays.copyOfRange(one, 1, one.length)));

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
