package dev.kiln.savedmodel;

import dev.kiln.fuzz.FuzzChecks;
import dev.kiln.io.KilnFormatException;
import dev.kiln.onnx.OnnxExecutor;
import dev.kiln.onnx.OnnxModel;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Hostile and broken SavedModels: each gives one clean {@link KilnFormatException} (one line,
 * naming the file) before anything runs, never a stray exception, a hang or a huge allocation.
 */
class SavedModelHostileTest {
    @TempDir Path tmp;

    private Path copyFixture(String name) throws IOException {
        Path src = SavedModelFixturesTest.DIR.resolve(name), dst = tmp.resolve(name);
        try (Stream<Path> s = Files.walk(src)) {
            for (Path p : s.toList()) {
                Path t = dst.resolve(src.relativize(p).toString());
                if (Files.isDirectory(p)) Files.createDirectories(t);
                else Files.copy(p, t);
            }
        }
        return dst;
    }

    private static KilnFormatException clean(Class<KilnFormatException> c, org.junit.jupiter.api.function.Executable body, String mustName) {
        KilnFormatException e = assertThrows(c, body);
        assertEquals(1, e.getMessage().lines().count(), e.getMessage());
        assertTrue(e.getMessage().contains(mustName), "'" + e.getMessage() + "' should name " + mustName);
        return e;
    }

    private Path writeModel(byte[] pb) throws IOException {
        Path d = Files.createDirectories(tmp.resolve("m" + System.nanoTime()));
        Files.write(d.resolve("saved_model.pb"), pb);
        return d;
    }

    private static OnnxModel lowerDefault(Path dir) throws IOException {
        SavedModel sm = SavedModel.load(dir);
        return sm.toOnnx(sm.defaultSignature());
    }

    @Test
    void truncatedGraphFile() throws IOException {
        Path d = copyFixture("mlp");
        Path pb = d.resolve("saved_model.pb");
        byte[] all = Files.readAllBytes(pb);
        Files.write(pb, java.util.Arrays.copyOf(all, all.length / 2));
        clean(KilnFormatException.class, () -> SavedModel.load(d), "saved_model.pb");
    }

    @Test
    void everyTruncationAndCorruptionOfAGraphFileFailsCleanly() throws Exception {
        byte[] all = Files.readAllBytes(SavedModelFixturesTest.DIR.resolve("transformer/saved_model.pb"));
        Path d = Files.createDirectories(tmp.resolve("cut"));
        Random r = new Random(19);
        for (int k = 0; k < 150; k++) {
            byte[] b = k < 50 ? java.util.Arrays.copyOf(all, r.nextInt(all.length)) : all.clone();
            if (k >= 50) for (int j = 0; j < 1 + r.nextInt(8); j++) b[r.nextInt(b.length)] = (byte) r.nextInt(256);
            Files.write(d.resolve("saved_model.pb"), b);
            Files.createDirectories(d.resolve("variables"));
            FuzzChecks.expectCleanOutcome(d.resolve("saved_model.pb").toString(), () -> OnnxExecutor.release(lowerDefault(d)),
                    KilnFormatException.class);
        }
    }

    @Test
    void truncatedCheckpointIndex() throws IOException {
        Path d = copyFixture("mlp");
        Path index = d.resolve("variables/variables.index");
        byte[] all = Files.readAllBytes(index);
        Files.write(index, java.util.Arrays.copyOf(all, all.length - 20));
        clean(KilnFormatException.class, () -> SavedModel.load(d), "variables.index");
    }

    @Test
    void corruptedCheckpointIndexFailsItsChecksum() throws IOException {
        Path d = copyFixture("mlp");
        Path index = d.resolve("variables/variables.index");
        byte[] all = Files.readAllBytes(index);
        all[3] ^= 0x20;   // inside the first data block
        Files.write(index, all);
        KilnFormatException e = clean(KilnFormatException.class, () -> SavedModel.load(d), "variables.index");
        assertTrue(e.getMessage().contains("CRC32C"), e.getMessage());
    }

    @Test
    void corruptedVariableBytesFailTheirChecksumBeforeRunning() throws IOException {
        Path d = copyFixture("mlp");
        Path data = d.resolve("variables/variables.data-00000-of-00001");
        byte[] all = Files.readAllBytes(data);
        all[all.length / 2] ^= 1;
        Files.write(data, all);
        KilnFormatException e = clean(KilnFormatException.class, () -> lowerDefault(d), "variables.index");
        assertTrue(e.getMessage().contains("CRC32C mismatch"), e.getMessage());
    }

    @Test
    void truncatedDataShard() throws IOException {
        Path d = copyFixture("mlp");
        Path data = d.resolve("variables/variables.data-00000-of-00001");
        Files.write(data, java.util.Arrays.copyOf(Files.readAllBytes(data), 10));
        KilnFormatException e = clean(KilnFormatException.class, () -> lowerDefault(d), "variables.index");
        assertTrue(e.getMessage().contains("past the end"), e.getMessage());
    }

    /** A checkpoint index written by hand, with one entry for a variable "v" of 4 floats. */
    private Path modelWithVariable(byte[] entry, byte[] data) throws IOException {
        byte[] pb = TfBytes.savedModel(List.of(TfBytes.placeholder("x"),
                        TfBytes.node("v", "VarHandleOp", List.of(), n -> n.message(5, e -> e.string(1, "shared_name").message(2, a -> a.bytes(2, "v".getBytes())))),
                        TfBytes.node("read", "ReadVariableOp", List.of("v"), null),
                        TfBytes.node("y", "AddV2", List.of("x", "read"), TfBytes.typeAttr("T", 1))),
                List.of(), Map.of("x", "x:0"), Map.of("y", "y:0"));
        Path d = writeModel(pb);
        Files.createDirectories(d.resolve("variables"));
        Map<String, byte[]> entries = new TreeMap<>();
        entries.put("", TfBytes.header());
        entries.put("v", entry);
        Files.write(d.resolve("variables/variables.index"), TfBytes.table(entries));
        Files.write(d.resolve("variables/variables.data-00000-of-00001"), data);
        return d;
    }

    @Test
    void handMadeCheckpointRuns() throws IOException {
        byte[] data = new byte[16];
        java.nio.ByteBuffer.wrap(data).order(java.nio.ByteOrder.LITTLE_ENDIAN).putFloat(1).putFloat(2).putFloat(3).putFloat(4);
        Path d = modelWithVariable(TfBytes.entry(1, new long[] {4}, 0, 0, 16, TfBytes.maskedCrc(data)), data);
        try (Tensor x = Tensor.fromArray(new float[] {10, 20, 30, 40}, 4)) {
            Map<String, Tensor> out = SavedModel.load(d).run("serving_default", Map.of("x", x));
            try (Tensor y = out.get("y")) {
                assertEquals(List.of(11.0, 22.0, 33.0, 44.0), java.util.Arrays.stream(y.toDoubleArray()).boxed().toList());
            }
        }
    }

    @Test
    void absurdVariableShapeIsRefusedBeforeAllocating() throws IOException {
        Path d = modelWithVariable(TfBytes.entry(1, new long[] {1L << 20, 1L << 20, 1L << 20}, 0, 0, 16, 0), new byte[16]);
        KilnFormatException e = clean(KilnFormatException.class, () -> lowerDefault(d), "variables.index");
        assertTrue(e.getMessage().contains("elements"), e.getMessage());
    }

    @Test
    void variableBytesPastTheShardAreRefused() throws IOException {
        Path d = modelWithVariable(TfBytes.entry(1, new long[] {4}, 0, 1L << 40, 16, 0), new byte[16]);
        clean(KilnFormatException.class, () -> lowerDefault(d), "past the end");
    }

    @Test
    void variableInAShardThatDoesNotExistIsRefused() throws IOException {
        Path d = modelWithVariable(TfBytes.entry(1, new long[] {4}, 7, 0, 16, 0), new byte[16]);
        clean(KilnFormatException.class, () -> SavedModel.load(d), "shard 7");
    }

    @Test
    void sizeThatDisagreesWithShapeIsRefused() throws IOException {
        Path d = modelWithVariable(TfBytes.entry(1, new long[] {4}, 0, 0, 12, 0), new byte[16]);
        clean(KilnFormatException.class, () -> lowerDefault(d), "12 bytes stored");
    }

    @Test
    void recursiveFunctionIsRefused() throws IOException {
        byte[] pb = TfBytes.savedModel(List.of(TfBytes.placeholder("x"), TfBytes.node("call", "PartitionedCall", List.of("x"), TfBytes.funcAttr("f"))),
                List.of(TfBytes.function("f", List.of("a"), Map.of("out", "g:output:0"),
                        List.of(TfBytes.node("g", "PartitionedCall", List.of("a"), TfBytes.funcAttr("h")))),
                        TfBytes.function("h", List.of("b"), Map.of("out", "k:output:0"),
                                List.of(TfBytes.node("k", "PartitionedCall", List.of("b"), TfBytes.funcAttr("f"))))),
                Map.of("x", "x:0"), Map.of("y", "call:0"));
        Path d = writeModel(pb);
        clean(KilnFormatException.class, () -> lowerDefault(d), "calls itself");
    }

    @Test
    void graphCycleIsRefused() throws IOException {
        byte[] pb = TfBytes.savedModel(List.of(TfBytes.placeholder("x"),
                        TfBytes.node("a", "AddV2", List.of("x", "b"), null), TfBytes.node("b", "AddV2", List.of("x", "a"), null)),
                List.of(), Map.of("x", "x:0"), Map.of("y", "a:0"));
        clean(KilnFormatException.class, () -> lowerDefault(writeModel(pb)), "cycle");
    }

    @Test
    void everyUnsupportedOpIsNamedInOneError() throws IOException {
        byte[] pb = TfBytes.savedModel(List.of(TfBytes.placeholder("x"),
                        TfBytes.node("a", "FancyOp", List.of("x"), null), TfBytes.node("b", "Relu", List.of("a"), null),
                        TfBytes.node("c", "OtherOp", List.of("b"), null)),
                List.of(), Map.of("x", "x:0"), Map.of("y", "c:0"));
        KilnFormatException e = clean(KilnFormatException.class, () -> lowerDefault(writeModel(pb)), "saved_model.pb");
        assertTrue(e.getMessage().contains("FancyOp, OtherOp"), e.getMessage());
    }

    @Test
    void constantWhoseBytesDisagreeWithItsShape() throws IOException {
        byte[] pb = TfBytes.savedModel(List.of(TfBytes.constNode("c", new long[] {1L << 30, 1L << 30}, new byte[8])),
                List.of(), Map.of(), Map.of("y", "c:0"));
        clean(KilnFormatException.class, () -> lowerDefault(writeModel(pb)), "saved_model.pb");
    }

    @Test
    void variablesWithoutACheckpoint() throws IOException {
        byte[] pb = TfBytes.savedModel(List.of(TfBytes.node("v", "VarHandleOp", List.of(), null), TfBytes.node("r", "ReadVariableOp", List.of("v"), null)),
                List.of(), Map.of(), Map.of("y", "r:0"));
        clean(KilnFormatException.class, () -> lowerDefault(writeModel(pb)), "no variables/ checkpoint");
    }

    @Test
    void textFormatAndMissingGraph() throws IOException {
        Path d = Files.createDirectories(tmp.resolve("txt"));
        Files.writeString(d.resolve("saved_model.pbtxt"), "meta_graphs {}");
        clean(KilnFormatException.class, () -> SavedModel.load(d), "text-format");
        Path e = Files.createDirectories(tmp.resolve("empty"));
        assertThrows(java.nio.file.NoSuchFileException.class, () -> SavedModel.load(e));
    }

    @Test
    void unknownSignatureAndTags() throws IOException {
        SavedModel sm = SavedModel.load(SavedModelFixturesTest.DIR.resolve("multi_signature"));
        clean(KilnFormatException.class, () -> sm.toOnnx("nope"), "embed, serving_default");
        clean(KilnFormatException.class, () -> SavedModel.load(SavedModelFixturesTest.DIR.resolve("mlp"), java.util.Set.of("train")), "tagged train");
    }
}
