package dev.kiln.onnx.conformance;

import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.OnnxTensors;
import dev.kiln.onnx.Value;
import dev.kiln.onnx.ValueInfo;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** How the node-test runner reads test data: bf16 stored as UINT16 (onnx 1.12), strings. */
class NodeTestDataTest {
    @TempDir Path dir;

    private static ValueInfo tensorDecl(ElemType t, long... dims) {
        List<Object> d = new java.util.ArrayList<>();
        for (long x : dims) d.add(x);
        return new ValueInfo("x", ValueInfo.Kind.TENSOR, t, d, null);
    }

    @Test
    void uint16DataDeclaredBfloat16IsReadAsBf16Bits() throws IOException {
        long live = Storage.liveCountIgnoringCleaner();
        Path f = dir.resolve("input_0.pb");
        try (Tensor bits = Tensor.fromArray(new int[]{0x3F80, 0xC000, 0x7FC0}, 3)) { // 1.0, -2.0, NaN
            Files.write(f, OnnxTensors.encode(Value.of(bits, ElemType.UINT16), "x"));
        }
        Value.TensorValue v = (Value.TensorValue) NodeTestRunner.readData(f, tensorDecl(ElemType.BFLOAT16, 3));
        try (Tensor t = v.tensor()) {
            assertEquals(ElemType.BFLOAT16, v.type());
            assertEquals(DType.BF16, t.dtype());
            double[] d = t.toDoubleArray();
            assertEquals(1.0, d[0]);
            assertEquals(-2.0, d[1]);
            assertTrue(Double.isNaN(d[2]));
        }
        Value.TensorValue plain = (Value.TensorValue) NodeTestRunner.readData(f, tensorDecl(ElemType.UINT16, 3));
        try (Tensor t = plain.tensor()) {
            assertEquals(ElemType.UINT16, plain.type()); // declared UINT16: read as is
            assertArrayEquals(new long[]{0x3F80, 0xC000, 0x7FC0}, t.toLongArray());
        }
        assertEquals(live, Storage.liveCountIgnoringCleaner());
    }

    @Test
    void stringDataIsReadAsStringTensors() throws IOException {
        Path f = dir.resolve("output_0.pb");
        Files.write(f, OnnxTensors.encode(Value.strings(new String[]{"a", "b"}, 2), "y"));
        Value v = NodeTestRunner.readData(f, tensorDecl(ElemType.STRING, 2));
        assertArrayEquals(new String[]{"a", "b"}, ((Value.StringTensorValue) v).data());
    }
}
