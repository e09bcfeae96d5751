package dev.kiln.onnx;

import dev.kiln.io.KilnFormatException;
import dev.kiln.onnx.conformance.OutputCompare;
import dev.kiln.onnx.proto.ProtoReader;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static dev.kiln.onnx.ProtoBytes.model;
import static dev.kiln.onnx.ProtoBytes.msg;
import static dev.kiln.onnx.ProtoBytes.node;
import static dev.kiln.onnx.ProtoBytes.tensor;
import static dev.kiln.onnx.ProtoBytes.valueInfo;
import static org.junit.jupiter.api.Assertions.*;

/** ONNX STRING tensors: TensorProto string_data read/write, string initializers and constants, comparison. */
class StringTensorsTest {
    private static Value decodeAny(byte[] b) throws IOException {
        return OnnxTensors.decodeAny(ProtoReader.of(b, "t.pb"), null);
    }

    @Test
    void readsStringDataWithShapeAndUtf8() throws IOException {
        byte[] b = tensor("s", 8, 2, 2).string(6, "a").string(6, "").string(6, "héllo").string(6, "日本").build();
        Value.StringTensorValue v = (Value.StringTensorValue) decodeAny(b);
        assertArrayEquals(new int[]{2, 2}, v.shape());
        assertArrayEquals(new String[]{"a", "", "héllo", "日本"}, v.data());
        assertEquals(ElemType.STRING, v.type());
    }

    @Test
    void stringCountMustMatchTheShape() {
        byte[] few = tensor("s", 8, 3).string(6, "a").build();
        KilnFormatException e = assertThrows(KilnFormatException.class, () -> decodeAny(few));
        assertTrue(e.getMessage().contains("needs 3 strings, found 1"), e.getMessage());
        byte[] huge = tensor("s", 8, 1L << 30, 1L << 30).string(6, "a").build();
        assertThrows(KilnFormatException.class, () -> decodeAny(huge));
        byte[] raw = tensor("s", 8, 1).bytes(9, new byte[]{1}).build();
        assertThrows(KilnFormatException.class, () -> decodeAny(raw));
    }

    @Test
    void encodeRoundTripsStringsAndNumbers() throws IOException {
        var s = Value.strings(new String[]{"x", "yz", "", "ü"}, 2, 2);
        var back = (Value.StringTensorValue) decodeAny(OnnxTensors.encode(s, "s"));
        assertArrayEquals(s.shape(), back.shape());
        assertArrayEquals(s.data(), back.data());
        var scalar = Value.strings(new String[]{"only"});
        assertArrayEquals(new int[0], ((Value.StringTensorValue) decodeAny(OnnxTensors.encode(scalar, "c"))).shape());

        long live = Storage.liveCountIgnoringCleaner();
        try (Tensor t = Tensor.fromArray(new int[]{0, 65535, 7}, 3)) {
            var u16 = Value.of(t, ElemType.UINT16);
            var decoded = (Value.TensorValue) decodeAny(OnnxTensors.encode(u16, "u"));
            try (Tensor d = decoded.tensor()) {
                assertEquals(ElemType.UINT16, decoded.type());
                assertArrayEquals(new long[]{0, 65535, 7}, d.toLongArray());
            }
        }
        try (Tensor f = Tensor.fromArray(new float[]{1.5f, -2f}, 2);
             Tensor d = ((Value.TensorValue) decodeAny(OnnxTensors.encode(Value.of(f), "f"))).tensor()) {
            assertArrayEquals(new float[]{1.5f, -2f}, d.toFloatArray());
        }
        assertEquals(live, Storage.liveCountIgnoringCleaner());
    }

    @Test
    void stringTensorShapeMustMatchItsData() {
        assertThrows(IllegalArgumentException.class, () -> Value.strings(new String[]{"a"}, 2));
        assertThrows(IllegalArgumentException.class, () -> Value.strings(new String[]{null}, 1));
    }

    @Test
    void stringInitializersConstantsAndInputsFlowThroughTheExecutor() throws IOException {
        // out = Concat-free plumbing: Identity of a string initializer, a Constant and a string input.
        ProtoBytes constNode = node("Constant", "c", new String[0], new String[]{"k"})
                .message(5, msg().string(1, "value_strings").varint(20, 8).string(9, "p").string(9, "q"));
        ProtoBytes g = msg()
                .message(1, node("Identity", "i1", new String[]{"init"}, new String[]{"o1"}))
                .message(1, constNode)
                .message(1, node("Identity", "i2", new String[]{"x"}, new String[]{"o3"}))
                .message(5, tensor("init", 8, 2).string(6, "u").string(6, "v"))
                .message(11, valueInfo("x", 8, "n"))
                .message(12, valueInfo("o1", 8, 2L))
                .message(12, valueInfo("k", 8, 2L))
                .message(12, valueInfo("o3", 8, "n"));
        OnnxModel m = OnnxReader.read(model(g, 13), "str.onnx", null);
        try (OnnxExecutor ex = new OnnxExecutor(m)) {
            Map<String, Value> in = new LinkedHashMap<>();
            in.put("x", Value.strings(new String[]{"a", "b", "c"}, 3));
            Map<String, Value> out = ex.run(in);
            assertArrayEquals(new String[]{"u", "v"}, ((Value.StringTensorValue) out.get("o1")).data());
            assertArrayEquals(new String[]{"p", "q"}, ((Value.StringTensorValue) out.get("k")).data());
            assertArrayEquals(new String[]{"a", "b", "c"}, ((Value.StringTensorValue) out.get("o3")).data());
            out.values().forEach(Values::close); // no-op for strings
            try (Tensor t = Tensor.fromArray(new float[]{1}, 1)) {
                OnnxException e = assertThrows(OnnxException.class, () -> ex.run(Map.of("x", Value.of(t))));
                assertTrue(e.getMessage().contains("must be STRING"), e.getMessage());
            }
        }
    }

    @Test
    void outputCompareComparesStringsExactly() {
        var a = Value.strings(new String[]{"a", "b"}, 2);
        assertNull(OutputCompare.compare(a, Value.strings(new String[]{"a", "b"}, 2)));
        assertTrue(OutputCompare.compare(a, Value.strings(new String[]{"a", "B"}, 2)).contains("1 of 2 strings differ"));
        assertTrue(OutputCompare.compare(a, Value.strings(new String[]{"a", "b"}, 1, 2)).contains("shape"));
        try (Tensor t = Tensor.fromArray(new float[]{1, 2}, 2)) {
            assertTrue(OutputCompare.compare(a, Value.of(t)).contains("expected a string tensor"));
            assertTrue(OutputCompare.compare(Value.of(t), a).contains("expected a tensor"));
        }
        assertEquals("string tensor [2]", Values.describe(a));
        assertEquals(List.of(), collect(a));
    }

    private static List<Tensor> collect(Value v) {
        List<Tensor> out = new java.util.ArrayList<>();
        Values.forEachTensor(v, out::add);
        return out;
    }
}
