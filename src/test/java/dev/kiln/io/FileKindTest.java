package dev.kiln.io;

import dev.kiln.nn.Sequential;
import dev.kiln.onnx.export.OnnxExport;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;
import dev.kiln.train.Checkpoint;
import dev.kiln.train.Models;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Files known by content: each kind, ONNX cut at every length, and random bytes. */
class FileKindTest {
    @TempDir Path dir;

    @Test
    void eachKindIsRecognizedWhateverTheName() throws IOException {
        Path ckpt = dir.resolve("a.onnx"), onnx = dir.resolve("b.ckpt");
        try (Sequential m = Models.mlpSmall(new Generator(1))) {
            Checkpoint.save(ckpt, m, null, Map.of("model", "mlp-small"));
            m.eval();
            OnnxExport.export(m, new int[]{1, 1, 28, 28}, onnx, 17);
        }
        assertEquals(FileKind.SAFETENSORS, FileKind.of(ckpt));
        assertEquals(FileKind.ONNX, FileKind.of(onnx));
        assertEquals(FileKind.DIRECTORY, FileKind.of(dir));
        assertEquals(FileKind.EMPTY, FileKind.of(Files.write(dir.resolve("e"), new byte[0])));
        try (Tensor t = Tensor.fromArray(new float[]{1, 2, 3}, 3)) {
            Npy.write(dir.resolve("x.bin"), t);
        }
        assertEquals(FileKind.NPY, FileKind.of(dir.resolve("x.bin")));
        assertEquals(FileKind.ZIP, FileKind.of(Files.write(dir.resolve("m.pt"), new byte[]{'P', 'K', 3, 4, 0, 0, 0, 0})));
        assertThrows(NoSuchFileException.class, () -> FileKind.of(dir.resolve("missing")));
    }

    @Test
    void onnxCutAnywhereIsTruncatedAndRandomBytesAreNeverAModel() throws IOException {
        Path onnx = dir.resolve("m.onnx");
        try (Sequential m = Models.mlpSmall(new Generator(2))) {
            m.eval();
            OnnxExport.export(m, new int[]{1, 1, 28, 28}, onnx, 17);
        }
        byte[] full = Files.readAllBytes(onnx);
        Path cut = dir.resolve("cut");
        for (int n = 1; n < full.length; n += Math.max(1, n / 16)) {
            Files.write(cut, Arrays.copyOf(full, n));
            FileKind k = FileKind.of(cut);
            // a cut that falls exactly between two top-level fields is a shorter, complete-looking model
            if (k != FileKind.ONNX) assertEquals(FileKind.ONNX_TRUNCATED, k, "first " + n + " of " + full.length + " bytes");
        }
        Files.write(cut, Arrays.copyOf(full, full.length - 1));
        assertEquals(FileKind.ONNX_TRUNCATED, FileKind.of(cut), "the last byte missing");
        Random r = new Random(5);
        for (int i = 0; i < 500; i++) {
            byte[] b = new byte[1 + r.nextInt(4096)];
            r.nextBytes(b);
            Files.write(cut, b);
            FileKind k = FileKind.of(cut);
            assertNotEquals(FileKind.ONNX, k, "random bytes #" + i);
            assertNotEquals(FileKind.SAFETENSORS, k, "random bytes #" + i);
        }
    }
}
