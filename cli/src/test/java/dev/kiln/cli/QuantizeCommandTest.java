package dev.kiln.cli;

import dev.kiln.tensor.Generator;
import dev.kiln.train.Checkpoint;
import dev.kiln.train.Models;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code kiln quantize} (Fashion-MNIST, or the embedded subset without the package): each mode prints fp32 and int8 rows with int8 weights about 4x smaller. */
class QuantizeCommandTest {
    @TempDir Path tmp;

    @Test
    void withoutModelTheArchitectureRecordedInTheCheckpointIsUsed() {
        Path cnn = tmp.resolve("cnn.ckpt"), anonymous = tmp.resolve("anonymous.ckpt");
        try (var model = Models.cnn(new Generator(1))) {
            Checkpoint.save(cnn, model, null, Map.of("model", "cnn", "epoch", "1"));
            Checkpoint.save(anonymous, model, null, Map.of());
        }
        CliRun r = CliRun.of("quantize", cnn.toString(), "--mode", "dynamic", "--latency-seconds", "0.01");
        assertEquals(Main.OK, r.code(), r.err());
        assertTrue(r.out().contains("int8"), r.out());
        CliRun none = CliRun.of("quantize", anonymous.toString(), "--mode", "dynamic", "--latency-seconds", "0.01");
        assertEquals(Main.BAD_INPUT, none.code());
        assertTrue(none.err().contains(anonymous + " does not record its model; give --model"), none.err());
        CliRun given = CliRun.of("quantize", anonymous.toString(), "--model", "cnn", "--mode", "dynamic", "--latency-seconds", "0.01");
        assertEquals(Main.OK, given.code(), given.err());
    }

    @Test
    void everyModeReportsAccuracyAndSmallerWeights() {
        Path ckpt = tmp.resolve("mlp.safetensors");
        try (var model = Models.mlp(new Generator(1))) {
            Checkpoint.save(ckpt, model, null, Map.of("model", "mlp"));
        }
        for (String mode : new String[]{"static", "dynamic", "qat"}) {
            CliRun r = CliRun.of("quantize", ckpt.toString(), "--mode", mode, "--data", "fashion-mnist", "--calib-batches", "2", "--qat-epochs", "0", "--latency-seconds", "0.02");
            assertEquals(Main.OK, r.code(), mode + ": " + r.err());
            Matcher fp = Pattern.compile("fp32\\s+([0-9.]+)\\s+([0-9,]+)").matcher(r.out());
            Matcher q = Pattern.compile("int8\\s+([0-9.]+)\\s+([0-9,]+)").matcher(r.out());
            assertTrue(fp.find() && q.find(), r.out());
            double ratio = Double.parseDouble(fp.group(2).replace(",", "")) / Double.parseDouble(q.group(2).replace(",", ""));
            assertTrue(ratio > 3.8 && ratio < 4.0, mode + ": weights " + ratio + "x smaller");
            assertTrue(Math.abs(Double.parseDouble(fp.group(1)) - Double.parseDouble(q.group(1))) < 0.05, r.out());
        }
        CliRun bad = CliRun.of("quantize", ckpt.toString(), "--mode", "fp4");
        assertEquals(Main.BAD_INPUT, bad.code());
        assertTrue(bad.err().contains("unknown mode"), bad.err());
    }
}
