package dev.kiln.onnx;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.kiln.fuzz.FuzzChecks;
import dev.kiln.io.KilnFormatException;
import dev.kiln.onnx.proto.ProtoReader;

import org.junit.jupiter.api.Test;

import java.io.InputStream;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Fuzzes the ONNX protobuf reader: whole models ({@link OnnxReader#read(byte[], String, Path)},
 * nested graphs, attributes of every kind, initializers) and single TensorProto / test-data
 * files ({@link OnnxTensors#decodeAny}). External data resolves against the scratch directory,
 * which holds one 64-byte file "w.bin", so in-directory reads, range checks and "../" refusals
 * are all reachable. Seeds: small models and test-data tensors of the ONNX backend node tests and
 * Kiln's MLP. Any input must read or fail with a one-line KilnFormatException or OnnxException.
 */
class OnnxFuzzTest {
    private static Path dir() {
        Path d = FuzzChecks.scratchDir();
        FuzzChecks.write("w.bin", new byte[64]);
        return d;
    }

    @FuzzTest(maxDuration = "2m")
    void model(byte[] data) throws Exception {
        Path d = dir();
        FuzzChecks.expectCleanOutcome("fuzz.onnx", () -> {
            OnnxModel m = OnnxReader.read(data, "fuzz.onnx", d);
            for (Value v : m.graph().initializers().values()) if (v instanceof Value.TensorValue tv) tv.tensor().close();
        }, KilnFormatException.class, OnnxException.class);
    }

    @FuzzTest(maxDuration = "2m")
    void tensorProto(byte[] data) throws Exception {
        Path d = dir();
        FuzzChecks.expectCleanOutcome("fuzz.pb", () -> {
            Value v = OnnxTensors.decodeAny(ProtoReader.of(data, "fuzz.pb"), d);
            if (v instanceof Value.TensorValue tv) tv.tensor().close();
        }, KilnFormatException.class, OnnxException.class);
    }

    // ------------------------------------------------------------------ regression tests for findings

    /** Fuzzer finding: a tensor name holding a newline made a two-line error; names are escaped. */
    @Test
    void findingNewlineInTensorName() throws Exception {
        byte[] data;
        try (InputStream in = getClass().getResourceAsStream("OnnxFuzzTestInputs/model/finding-newline-in-tensor-name")) {
            data = in.readAllBytes();
        }
        KilnFormatException e = assertThrows(KilnFormatException.class, () -> OnnxReader.read(data, "fuzz.onnx", null));
        assertEquals(1, e.getMessage().lines().count(), e.getMessage());
        assertTrue(e.getMessage().contains("\\x0a"), e.getMessage());
    }
}
