package dev.kiln.onnx.proto;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Byte-exact checks of the wire format against the protobuf encoding documentation's examples. */
class ProtoWriterTest {
    private static byte[] b(int... v) {
        byte[] out = new byte[v.length];
        for (int k = 0; k < v.length; k++) out[k] = (byte) v[k];
        return out;
    }

    @Test
    void varintsAndZigZag() {
        assertArrayEquals(b(0x08, 0x96, 0x01), new ProtoWriter().int64(1, 150).toByteArray());
        assertArrayEquals(b(0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01), new ProtoWriter().int64(1, -1).toByteArray());
        assertArrayEquals(b(0x10, 0x03), new ProtoWriter().sint64(2, -2).toByteArray());
        assertArrayEquals(b(0x80, 0x01, 0x01), new ProtoWriter().bool(16, true).toByteArray());
    }

    @Test
    void fixedWidthAndStrings() {
        assertArrayEquals(b(0x15, 0x00, 0x00, 0x80, 0x3F), new ProtoWriter().float32(2, 1f).toByteArray());
        assertArrayEquals(b(0x09, 0, 0, 0, 0, 0, 0, 0xF0, 0x3F), new ProtoWriter().float64(1, 1.0).toByteArray());
        assertArrayEquals(b(0x12, 0x07, 't', 'e', 's', 't', 'i', 'n', 'g'), new ProtoWriter().string(2, "testing").toByteArray());
    }

    @Test
    void packedAndNested() {
        assertArrayEquals(b(0x22, 0x06, 0x03, 0x8E, 0x02, 0x9E, 0xA7, 0x05),
                new ProtoWriter().packedInt64(4, new long[]{3, 270, 86942}).toByteArray());
        assertArrayEquals(b(0x1A, 0x03, 0x08, 0x96, 0x01), new ProtoWriter().message(3, m -> m.int64(1, 150)).toByteArray());
        assertArrayEquals(b(0x3A, 0x04, 0, 0, 0x80, 0x3F), new ProtoWriter().packedFloat(7, new float[]{1f}).toByteArray());
        assertArrayEquals(new byte[0], new ProtoWriter().packedInt64(1, new long[0]).toByteArray());
        assertThrows(IllegalArgumentException.class, () -> new ProtoWriter().int64(0, 1));
    }
}
