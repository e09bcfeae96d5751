package dev.kiln.cli;

import dev.kiln.compress.ModelCheckpoint;
import dev.kiln.io.Safetensors;
import dev.kiln.io.SafetensorsFile;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.train.Checkpoint;
import dev.kiln.train.Models;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code kiln quantize --out}: the int8 model is saved with I8 weights, about 4x smaller, and reloads to identical outputs. */
class QuantizeSaveCommandTest {
    @TempDir Path tmp;

    @Test
    void savesReloadableInt8Model() throws Exception {
        Path ckpt = tmp.resolve("mlp.safetensors"), out = tmp.resolve("mlp-int8.safetensors");
        try (var model = Models.mlp(new Generator(1))) {
            Checkpoint.save(ckpt, model, null, Map.of("model", "mlp"));
        }
        CliRun r = CliRun.of("quantize", ckpt.toString(), "--mode", "static", "--data", "fashion-mnist", "--calib-batches", "1",
                "--latency-seconds", "0.02", "--out", out.toString());
        assertEquals(Main.OK, r.code(), r.err());
        assertTrue(r.out().contains("max |output difference| = 0.0"), r.out());
        Matcher m = Pattern.compile("saved .*: ([0-9,]+) bytes \\(fp32 model checkpoint: ([0-9,]+) bytes, ([0-9.]+)x smaller").matcher(r.out());
        assertTrue(m.find(), r.out());
        assertEquals(Files.size(out), Long.parseLong(m.group(1).replace(",", "")));
        assertTrue(Double.parseDouble(m.group(3)) >= 3.5, r.out());
        try (SafetensorsFile f = Safetensors.map(out)) {
            assertEquals(DType.I8, f.tensors().get("model.1.weight_int8").dtype());
        }
        assertEquals("static minmax", ModelCheckpoint.metadata(out).get("quantization"));
        try (var files = Files.list(tmp)) { assertEquals(2, files.count(), "no stray temporary fp32 file"); }
    }
}
