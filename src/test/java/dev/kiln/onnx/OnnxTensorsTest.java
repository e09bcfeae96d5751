package dev.kiln.onnx;

import dev.kiln.io.KilnFormatException;
import dev.kiln.onnx.proto.ProtoReader;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Storage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;

import static dev.kiln.onnx.ProtoBytes.le;
import static dev.kiln.onnx.ProtoBytes.tensor;
import static org.junit.jupiter.api.Assertions.*;

class OnnxTensorsTest {
    @TempDir Path dir;

    private static Value.TensorValue decode(ProtoBytes t) throws IOException {
        return OnnxTensors.decode(ProtoReader.of(t.build(), "t.pb"), null);
    }

    private static void check(Value.TensorValue v, ElemType type, int[] shape, long... values) {
        try (var t = v.tensor()) {
            assertEquals(type, v.type());
            assertEquals(type.storage(), t.dtype());
            assertArrayEquals(shape, t.shape());
            assertArrayEquals(values, t.toLongArray());
        }
    }

    @Test
    void rawDataOfEveryIntegerType() throws IOException {
        long[] vals = {0, 1, 7, 100};
        record Case(int code, ElemType type, int size, long[] raw, long[] expect) {}
        Case[] cases = {
                new Case(2, ElemType.UINT8, 1, new long[]{0, 255, 7, 128}, new long[]{0, 255, 7, 128}),
                new Case(3, ElemType.INT8, 1, new long[]{0, -1, 7, -128}, new long[]{0, -1, 7, -128}),
                new Case(4, ElemType.UINT16, 2, new long[]{0, 65535, 7, 40000}, new long[]{0, 65535, 7, 40000}),
                new Case(5, ElemType.INT16, 2, new long[]{0, -1, 7, -30000}, new long[]{0, -1, 7, -30000}),
                new Case(6, ElemType.INT32, 4, new long[]{0, -1, 7, Integer.MIN_VALUE}, new long[]{0, -1, 7, Integer.MIN_VALUE}),
                new Case(7, ElemType.INT64, 8, new long[]{0, -1, 7, Long.MAX_VALUE}, new long[]{0, -1, 7, Long.MAX_VALUE}),
                new Case(12, ElemType.UINT32, 4, new long[]{0, 0xffffffffL, 7, 1L << 31}, new long[]{0, 0xffffffffL, 7, 1L << 31}),
                new Case(13, ElemType.UINT64, 8, new long[]{0, -1, 7, 5}, new long[]{0, -1, 7, 5}),
                new Case(9, ElemType.BOOL, 1, new long[]{0, 1, 0, 1}, new long[]{0, 1, 0, 1}),
        };
        assertEquals(4, vals.length);
        for (Case c : cases) {
            ByteBuffer b = le(4 * c.size);
            for (long v : c.raw) {
                switch (c.size) {
                    case 1 -> b.put((byte) v);
                    case 2 -> b.putShort((short) v);
                    case 4 -> b.putInt((int) v);
                    default -> b.putLong(v);
                }
            }
            check(decode(tensor("r", c.code, 2, 2).bytes(9, b.array())), c.type, new int[]{2, 2}, c.expect);
            // typed field: int64_data for INT64, uint64_data for UINT32/UINT64, int32_data otherwise
            int field = c.type == ElemType.INT64 ? 7 : c.code == 12 || c.code == 13 ? 11 : 5;
            long[] typed = c.raw.clone();
            if (field == 5) for (int i = 0; i < 4; i++) typed[i] = (int) typed[i] & 0xffffffffL; // as int32 varints
            check(decode(tensor("t", c.code, 4).packed(field, typed)), c.type, new int[]{4}, c.expect);
        }
    }

    @Test
    void floatTypesRawAndTyped() throws IOException {
        float[] f = {1.5f, -2f, 0f, 1e-3f};
        ByteBuffer b = le(16);
        for (float x : f) b.putFloat(x);
        assertArrayEquals(f, decode(tensor("f", 1, 4).bytes(9, b.array())).tensor().toFloatArray());
        ProtoBytes typed = tensor("f", 1, 2, 2);
        for (float x : f) typed.fixed32(4, Float.floatToIntBits(x)); // unpacked float_data
        var tv = decode(typed);
        assertArrayEquals(new int[]{2, 2}, tv.tensor().shape());
        assertArrayEquals(f, tv.tensor().toFloatArray());

        ProtoBytes d = tensor("d", 11, 2);
        ByteBuffer db = le(16).putDouble(0.25).putDouble(-1e300);
        d.bytes(10, db.array()); // packed double_data
        assertArrayEquals(new double[]{0.25, -1e300}, decode(d).tensor().toDoubleArray());

        // float16 / bfloat16: raw 2 bytes each, typed as int32_data bit patterns
        short h = Float.floatToFloat16(1.5f), bf = DType.floatToBf16(-3f);
        var f16 = decode(tensor("h", 10, 2).bytes(9, le(4).putShort(h).putShort(h).array()));
        assertEquals(DType.F16, f16.tensor().dtype());
        assertArrayEquals(new float[]{1.5f, 1.5f}, f16.tensor().toFloatArray());
        var f16t = decode(tensor("h", 10, 1).packed(5, h & 0xffff));
        assertArrayEquals(new float[]{1.5f}, f16t.tensor().toFloatArray());
        var b16 = decode(tensor("b", 16, 1).packed(5, bf & 0xffff));
        assertEquals(ElemType.BFLOAT16, b16.type());
        assertArrayEquals(new float[]{-3f}, b16.tensor().toFloatArray());
        var b16raw = decode(tensor("b", 16, 1).bytes(9, le(2).putShort(bf).array()));
        assertArrayEquals(new float[]{-3f}, b16raw.tensor().toFloatArray());
    }

    @Test
    void scalarsAndZeroSizeTensors() throws IOException {
        var s = decode(tensor("s", 1).bytes(9, le(4).putFloat(2f).array()));
        assertEquals(0, s.tensor().dim());
        assertEquals(2f, s.tensor().toFloatArray()[0]);
        var z = decode(tensor("z", 1, 3, 0));
        assertArrayEquals(new int[]{3, 0}, z.tensor().shape());
        var z2 = decode(tensor("z", 7, 0).bytes(9, new byte[0]));
        assertEquals(0, z2.tensor().numel());
    }

    @Test
    void hugeDeclaredShapeIsRefusedBeforeAllocating() {
        long live = Storage.liveCountIgnoringCleaner();
        ProtoBytes t = tensor("big", 1, 1_000_000, 1_000_000).bytes(9, new byte[16]);
        KilnFormatException e = assertThrows(KilnFormatException.class, () -> decode(t));
        assertTrue(e.getMessage().contains("needs 4000000000000 bytes of raw_data, found 16"), e.getMessage());
        assertTrue(e.getMessage().contains("'big'"), e.getMessage());
        KilnFormatException e2 = assertThrows(KilnFormatException.class, () -> decode(tensor("big", 1, 1_000_000, 1_000_000)));
        assertTrue(e2.getMessage().contains("needs 1000000000000 FLOAT values, found 0"), e2.getMessage());
        assertThrows(KilnFormatException.class, () -> decode(tensor("o", 1, 1L << 40, 1L << 40)));
        assertThrows(KilnFormatException.class, () -> decode(tensor("neg", 1, -1)));
        assertEquals(live, Storage.liveCountIgnoringCleaner());
    }

    @Test
    void stringTensorsDecodeAsStringValuesNotAsNumericTensors() throws IOException {
        ProtoBytes t = tensor("s", 8, 1).string(6, "hello");
        OnnxException e = assertThrows(OnnxException.class, () -> decode(t));
        assertTrue(e.getMessage().contains("string tensor where a numeric tensor is needed"), e.getMessage());
        Value v = OnnxTensors.decodeAny(ProtoReader.of(t.build(), "t.pb"), null);
        assertArrayEquals(new String[]{"hello"}, ((Value.StringTensorValue) v).data());
    }

    @Test
    void readsTensorProtoFiles() throws IOException {
        Path f = dir.resolve("input_0.pb");
        Files.write(f, tensor("x", 7, 3).packed(7, 1, 2, 3).build());
        var v = OnnxTensors.readTensorProto(f);
        assertArrayEquals(new long[]{1, 2, 3}, v.tensor().toLongArray());
        Files.write(f, new byte[]{0x0a, 0x05, 1});
        KilnFormatException e = assertThrows(KilnFormatException.class, () -> OnnxTensors.readTensorProto(f));
        assertTrue(e.getMessage().startsWith(f.toString()), e.getMessage());
    }

    @Test
    void sequenceAndOptionalFiles() throws IOException {
        Path f = dir.resolve("seq.pb");
        ProtoBytes seq = ProtoBytes.msg().string(1, "s").varint(2, 1)
                .message(3, tensor("", 7, 1).packed(7, 4)).message(3, tensor("", 7, 2).packed(7, 5, 6));
        Files.write(f, seq.build());
        ValueInfo seqInfo = new ValueInfo("s", ValueInfo.Kind.SEQUENCE, null, null,
                new ValueInfo("", ValueInfo.Kind.TENSOR, ElemType.INT64, null, null));
        var sv = (Value.SequenceValue) OnnxTensors.readValue(f, seqInfo);
        assertEquals(2, sv.items().size());
        assertEquals(ElemType.INT64, sv.elemType());
        assertArrayEquals(new long[]{5, 6}, sv.items().get(1).tensor().toLongArray());
        Files.write(f, ProtoBytes.msg().string(1, "o").varint(2, 1).build());
        var empty = (Value.OptionalValue) OnnxTensors.readValue(f, new ValueInfo("o", ValueInfo.Kind.OPTIONAL, null, null, null));
        assertNull(empty.value());
    }

    // ------------------------------------------------------------------ external data

    private ProtoBytes external(String location, long offset, long length, long... dims) {
        ProtoBytes t = tensor("w", 1, dims).varint(14, 1);
        t.message(13, ProtoBytes.msg().string(1, "location").string(2, location));
        if (offset >= 0) t.message(13, ProtoBytes.msg().string(1, "offset").string(2, Long.toString(offset)));
        if (length >= 0) t.message(13, ProtoBytes.msg().string(1, "length").string(2, Long.toString(length)));
        return t;
    }

    private Value.TensorValue decodeIn(Path base, ProtoBytes t) throws IOException {
        return OnnxTensors.decode(ProtoReader.of(t.build(), "m.onnx"), base);
    }

    @Test
    void externalDataReadsARangeOfAFileNextToTheModel() throws IOException {
        ByteBuffer b = le(24);
        for (int i = 0; i < 6; i++) b.putFloat(i);
        Files.createDirectories(dir.resolve("model/data"));
        Files.write(dir.resolve("model/data/w.bin"), b.array());
        var v = decodeIn(dir.resolve("model"), external("data/w.bin", 8, 12, 3));
        assertArrayEquals(new float[]{2, 3, 4}, v.tensor().toFloatArray());
        var all = decodeIn(dir.resolve("model"), external("data/w.bin", -1, -1, 2, 3));
        assertArrayEquals(new float[]{0, 1, 2, 3, 4, 5}, all.tensor().toFloatArray());
        // a range past the end, and a length not matching the shape
        assertThrows(KilnFormatException.class, () -> decodeIn(dir.resolve("model"), external("data/w.bin", 16, 12, 3)));
        KilnFormatException e = assertThrows(KilnFormatException.class,
                () -> decodeIn(dir.resolve("model"), external("data/w.bin", 0, 8, 3)));
        assertTrue(e.getMessage().contains("holds 8 bytes"), e.getMessage());
    }

    @Test
    void externalDataOutsideTheModelDirectoryIsRefused() throws IOException {
        Files.createDirectories(dir.resolve("model"));
        Files.write(dir.resolve("secret.bin"), new byte[12]);
        Path base = dir.resolve("model");
        KilnFormatException up = assertThrows(KilnFormatException.class, () -> decodeIn(base, external("../secret.bin", 0, 12, 3)));
        assertTrue(up.getMessage().contains("escapes the model's directory"), up.getMessage());
        assertThrows(KilnFormatException.class, () -> decodeIn(base, external("a/../../secret.bin", 0, 12, 3)));
        KilnFormatException abs = assertThrows(KilnFormatException.class,
                () -> decodeIn(base, external(dir.resolve("secret.bin").toString(), 0, 12, 3)));
        assertTrue(abs.getMessage().contains("is absolute"), abs.getMessage());
        KilnFormatException none = assertThrows(KilnFormatException.class, () -> decodeIn(null, external("w.bin", 0, 12, 3)));
        assertTrue(none.getMessage().contains("needs the model's directory"), none.getMessage());
        assertThrows(KilnFormatException.class, () -> decodeIn(base, external("missing.bin", 0, 12, 3)));
    }
}
