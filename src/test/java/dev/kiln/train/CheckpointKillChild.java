package dev.kiln.train;

import dev.kiln.nn.Linear;
import dev.kiln.nn.Sequential;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * The child process of {@link CheckpointCrashSafetyTest}: continues the version sequence of the
 * checkpoint at args[0] (or starts at 1) and saves version after version to that same path until it
 * is killed, printing "saved N" after each save has returned. Version N holds every element of
 * parameter i equal to {@link #value}(N, i), so a torn or mixed file cannot pass for a version.
 */
public final class CheckpointKillChild {
    private CheckpointKillChild() {}

    /** Linear(512, 512) + Linear(512, 256): about 1.5 MB of parameters, a write of a few ms. */
    static Sequential model() {
        Generator g = new Generator(1);
        return new Sequential(new Linear(512, 512, true, g), new Linear(512, 256, true, g));
    }

    static double value(long version, int param) { return version * 16 + param; }

    /** Sets every element of every parameter to its value for this version. */
    static void fill(Sequential m, long version) {
        List<Tensor> ps = m.parameters();
        for (int i = 0; i < ps.size(); i++) {
            try (Tensor v = Tensor.full(value(version, i), ps.get(i).dtype(), ps.get(i).shape())) {
                ps.get(i).copyFrom(v);
            }
        }
    }

    public static void main(String[] args) throws Exception {
        Path file = Path.of(args[0]);
        try (Sequential m = model()) {
            long version = 1;
            if (Files.exists(file)) version = Long.parseLong(Checkpoint.load(file, m, null).get("version")) + 1;
            System.out.println("start " + version);
            System.out.flush();
            for (; ; version++) {
                fill(m, version);
                Checkpoint.save(file, m, null, Map.of("version", Long.toString(version)));
                System.out.println("saved " + version);
                System.out.flush();
            }
        }
    }
}
