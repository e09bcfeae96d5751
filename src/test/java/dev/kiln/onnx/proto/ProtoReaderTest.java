package dev.kiln.onnx.proto;

import dev.kiln.io.KilnFormatException;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;

import static org.junit.jupiter.api.Assertions.*;

class ProtoReaderTest {
    private static byte[] bytes(int... b) {
        byte[] r = new byte[b.length];
        for (int i = 0; i < b.length; i++) r[i] = (byte) b[i];
        return r;
    }

    @Test
    void varintsOfEverySize() throws Exception {
        // field 1 = 0, field 2 = 300, field 3 = -1 (10 bytes), field 4 = 2^63-1
        byte[] b = bytes(0x08, 0x00, 0x10, 0xac, 0x02, 0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
                0x20, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f);
        ProtoReader r = ProtoReader.of(b, "v.pb");
        long[] expect = {0, 300, -1, Long.MAX_VALUE};
        for (int i = 0; i < expect.length; i++) {
            assertTrue(r.next());
            assertEquals(i + 1, r.field());
            assertEquals(expect[i], r.readInt64());
        }
        assertFalse(r.next());
    }

    @Test
    void packedAndUnpackedRepeatedGiveTheSameValues() throws Exception {
        byte[] packed = bytes(0x0a, 0x04, 0x01, 0xac, 0x02, 0x05);   // field 1, LEN 4: 1, 300, 5
        byte[] unpacked = bytes(0x08, 0x01, 0x08, 0xac, 0x02, 0x08, 0x05);
        for (byte[] b : new byte[][]{packed, unpacked}) {
            LongList l = new LongList();
            ProtoReader r = ProtoReader.of(b, "p.pb");
            while (r.next()) r.readVarints(l);
            assertArrayEquals(new long[]{1, 300, 5}, l.toArray());
        }
    }

    @Test
    void fixedWidthFieldsPackedAndNot() throws Exception {
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        o.write(0x0d); // field 1 fixed32
        o.writeBytes(le32(Float.floatToIntBits(1.5f)));
        o.write(0x0a); o.write(8); // field 1 packed: two floats
        o.writeBytes(le32(Float.floatToIntBits(-2f)));
        o.writeBytes(le32(Float.floatToIntBits(3.25f)));
        o.write(0x11); // field 2 fixed64
        for (int i = 0; i < 8; i++) o.write((int) (Double.doubleToLongBits(0.5) >>> (8 * i)));
        ProtoReader r = ProtoReader.of(o.toByteArray(), "f.pb");
        LongList f = new LongList();
        while (r.next()) {
            if (r.field() == 1) r.readFixed32s(f);
            else assertEquals(0.5, r.readDouble());
        }
        assertArrayEquals(new float[]{1.5f, -2f, 3.25f}, f.toFloatArray());
    }

    private static byte[] le32(int v) { return bytes(v, v >>> 8, v >>> 16, v >>> 24); }

    @Test
    void unknownFieldsAndGroupsAreSkipped() throws Exception {
        // field 5 group { field 1 varint 7, nested group 6 { } } end 5, then field 2 string "hi"
        byte[] b = bytes(0x2b, 0x08, 0x07, 0x33, 0x34, 0x2c, 0x12, 0x02, 'h', 'i', 0x1d, 1, 2, 3, 4, 0x21, 1, 2, 3, 4, 5, 6, 7, 8);
        ProtoReader r = ProtoReader.of(b, "g.pb");
        String s = null;
        int fields = 0;
        while (r.next()) {
            fields++;
            if (r.field() == 2) s = r.readString();
            else r.skip();
        }
        assertEquals("hi", s);
        assertEquals(4, fields);
    }

    @Test
    void truncatedVarintNamesTheFile() {
        ProtoReader r = ProtoReader.of(bytes(0x08, 0x80, 0x80), "cut.onnx");
        KilnFormatException e = assertThrows(KilnFormatException.class, () -> { r.next(); r.readInt64(); });
        assertTrue(e.getMessage().startsWith("cut.onnx: "), e.getMessage());
        assertTrue(e.getMessage().contains("truncated varint"), e.getMessage());
    }

    @Test
    void overLongLengthIsRefusedBeforeReading() throws Exception {
        // field 1 LEN declares 2^40 bytes, 2 present
        byte[] b = bytes(0x0a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20, 1, 2);
        ProtoReader r = ProtoReader.of(b, "big.onnx");
        assertTrue(r.next());
        KilnFormatException e = assertThrows(KilnFormatException.class, r::readBytes);
        assertTrue(e.getMessage().contains("declares 1099511627776 bytes but only 2 remain"), e.getMessage());
        ProtoReader r2 = ProtoReader.of(b, "big.onnx");
        r2.next();
        assertThrows(KilnFormatException.class, () -> r2.readMessage("graph"));
        ProtoReader r3 = ProtoReader.of(b, "big.onnx");
        r3.next();
        assertThrows(KilnFormatException.class, r3::skip);
    }

    @Test
    void nestedMessageErrorsNameTheFieldPath() throws Exception {
        byte[] inner = bytes(0x10, 0x80); // field 2 varint, truncated
        byte[] b = new byte[inner.length + 2];
        b[0] = 0x3a; b[1] = (byte) inner.length; // field 7 LEN
        System.arraycopy(inner, 0, b, 2, inner.length);
        ProtoReader r = ProtoReader.of(b, "m.onnx");
        r.next();
        ProtoReader g = r.readMessage("graph");
        KilnFormatException e = assertThrows(KilnFormatException.class, () -> { g.next(); g.readInt64(); });
        assertTrue(e.getMessage().startsWith("m.onnx: graph: "), e.getMessage());
    }

    @Test
    void nestingDepthIsBounded() {
        byte[] b = {};
        for (int i = 0; i < ProtoReader.MAX_DEPTH + 2; i++) {
            byte[] n = new byte[b.length + 1 + varintLen(b.length)];
            int p = 0;
            n[p++] = 0x0a;
            for (long v = b.length; ; ) {
                if (v < 0x80) { n[p++] = (byte) v; break; }
                n[p++] = (byte) ((v & 0x7f) | 0x80);
                v >>>= 7;
            }
            System.arraycopy(b, 0, n, p, b.length);
            b = n;
        }
        ProtoReader r = ProtoReader.of(b, "deep.onnx");
        KilnFormatException e = assertThrows(KilnFormatException.class, () -> {
            ProtoReader cur = r;
            while (cur.next()) cur = cur.readMessage("g");
        });
        assertTrue(e.getMessage().contains("nested deeper"), e.getMessage());
    }

    private static int varintLen(long v) {
        int n = 1;
        while (v >= 0x80) { v >>>= 7; n++; }
        return n;
    }

    @Test
    void wrongWireTypeIsAClearError() throws Exception {
        ProtoReader r = ProtoReader.of(bytes(0x0a, 0x00), "w.pb");
        r.next();
        KilnFormatException e = assertThrows(KilnFormatException.class, r::readInt64);
        assertTrue(e.getMessage().contains("wire type 2, expected 0"), e.getMessage());
    }
}
