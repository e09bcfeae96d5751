package dev.kiln.onnx.proto;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.function.Consumer;

/**
 * Protocol-buffers wire-format writer (proto2/proto3 encoding, no schema): varints, 32/64-bit
 * fixed fields, length-delimited bytes/strings, packed repeated scalars and nested messages.
 * Each {@code field} method writes one tag (field number + wire type) and its payload; a nested
 * message is written by a callback into a child writer whose bytes are then length-prefixed.
 * <pre>
 * ProtoWriter w = new ProtoWriter();
 * w.int64(1, 8);                                   // ModelProto.ir_version
 * w.message(8, op -> { op.string(1, ""); op.int64(2, 17); });   // opset_import
 * byte[] bytes = w.toByteArray();
 * </pre>
 */
public final class ProtoWriter {
    /** Wire types of the encoding. */
    public static final int VARINT = 0, FIXED64 = 1, LEN = 2, FIXED32 = 5;

    private final ByteArrayOutputStream out;

    public ProtoWriter() { this(256); }

    public ProtoWriter(int initialCapacity) { this.out = new ByteArrayOutputStream(initialCapacity); }

    public byte[] toByteArray() { return out.toByteArray(); }

    public int size() { return out.size(); }

    /** A field key: {@code (field << 3) | wireType}, as a varint. */
    public ProtoWriter tag(int field, int wireType) {
        if (field <= 0) throw new IllegalArgumentException("protobuf field number must be positive, got " + field);
        rawVarint(((long) field << 3) | wireType);
        return this;
    }

    /** int32/int64/uint64/enum/bool (negative values take ten bytes, as protobuf does). */
    public ProtoWriter int64(int field, long v) {
        tag(field, VARINT);
        rawVarint(v);
        return this;
    }

    public ProtoWriter bool(int field, boolean v) { return int64(field, v ? 1 : 0); }

    /** sint32/sint64 (zig-zag). */
    public ProtoWriter sint64(int field, long v) { return int64(field, (v << 1) ^ (v >> 63)); }

    public ProtoWriter float32(int field, float v) {
        tag(field, FIXED32);
        rawFixed32(Float.floatToRawIntBits(v));
        return this;
    }

    public ProtoWriter float64(int field, double v) {
        tag(field, FIXED64);
        rawFixed64(Double.doubleToRawLongBits(v));
        return this;
    }

    public ProtoWriter string(int field, String s) { return bytes(field, s.getBytes(StandardCharsets.UTF_8)); }

    public ProtoWriter bytes(int field, byte[] b) {
        tag(field, LEN);
        rawVarint(b.length);
        out.write(b, 0, b.length);
        return this;
    }

    /** Bytes already encoded as whole fields (see {@code ProtoReader.rawField}), written as they are. */
    public ProtoWriter raw(java.lang.foreign.MemorySegment encoded) {
        byte[] buf = new byte[(int) Math.min(encoded.byteSize(), 1 << 20)];
        for (long at = 0; at < encoded.byteSize(); at += buf.length) {
            int n = (int) Math.min(buf.length, encoded.byteSize() - at);
            java.lang.foreign.MemorySegment.copy(encoded, java.lang.foreign.ValueLayout.JAVA_BYTE, at, buf, 0, n);
            out.write(buf, 0, n);
        }
        return this;
    }

    /** A nested message: {@code body} writes its fields into a fresh writer. */
    public ProtoWriter message(int field, Consumer<ProtoWriter> body) {
        ProtoWriter child = new ProtoWriter(64);
        body.accept(child);
        return bytes(field, child.toByteArray());
    }

    /** A packed repeated varint field (int32/int64/enum); nothing is written for an empty array. */
    public ProtoWriter packedInt64(int field, long[] values) {
        if (values.length == 0) return this;
        ProtoWriter body = new ProtoWriter(values.length * 2);
        for (long v : values) body.rawVarint(v);
        return bytes(field, body.toByteArray());
    }

    /** A packed repeated float field; nothing is written for an empty array. */
    public ProtoWriter packedFloat(int field, float[] values) {
        if (values.length == 0) return this;
        ProtoWriter body = new ProtoWriter(values.length * 4);
        for (float v : values) body.rawFixed32(Float.floatToRawIntBits(v));
        return bytes(field, body.toByteArray());
    }

    /** Base-128 varint, low groups first; a negative long is written as its 64-bit two's complement. */
    public void rawVarint(long v) {
        while ((v & ~0x7FL) != 0) {
            out.write((int) ((v & 0x7F) | 0x80));
            v >>>= 7;
        }
        out.write((int) v);
    }

    public void rawFixed32(int v) {
        for (int i = 0; i < 4; i++) out.write((v >>> (8 * i)) & 0xFF);
    }

    public void rawFixed64(long v) {
        for (int i = 0; i < 8; i++) out.write((int) ((v >>> (8 * i)) & 0xFF));
    }
}
