package dev.kiln.onnx;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/** Test helper: writes protobuf wire format by hand (fields in the order they are added). */
final class ProtoBytes {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    static ProtoBytes msg() { return new ProtoBytes(); }

    ProtoBytes rawVarint(long v) {
        while ((v & ~0x7fL) != 0) {
            out.write((int) ((v & 0x7f) | 0x80));
            v >>>= 7;
        }
        out.write((int) v);
        return this;
    }

    ProtoBytes tag(int field, int wire) { return rawVarint(((long) field << 3) | wire); }

    ProtoBytes varint(int field, long v) { return tag(field, 0).rawVarint(v); }

    ProtoBytes fixed32(int field, int bits) { tag(field, 5); return raw(le(4).putInt(bits).array()); }

    ProtoBytes fixed64(int field, long bits) { tag(field, 1); return raw(le(8).putLong(bits).array()); }

    ProtoBytes bytes(int field, byte[] b) { tag(field, 2).rawVarint(b.length); return raw(b); }

    ProtoBytes string(int field, String s) { return bytes(field, s.getBytes(StandardCharsets.UTF_8)); }

    ProtoBytes message(int field, ProtoBytes m) { return bytes(field, m.build()); }

    /** A packed repeated varint field. */
    ProtoBytes packed(int field, long... vs) {
        ProtoBytes p = msg();
        for (long v : vs) p.rawVarint(v);
        return bytes(field, p.build());
    }

    ProtoBytes raw(byte[] b) {
        out.writeBytes(b);
        return this;
    }

    byte[] build() { return out.toByteArray(); }

    static ByteBuffer le(int n) { return ByteBuffer.allocate(n).order(ByteOrder.LITTLE_ENDIAN); }

    // ---- ONNX messages

    /** A TensorProto header: dims (packed), data_type, name. */
    static ProtoBytes tensor(String name, int dataType, long... dims) {
        ProtoBytes t = msg();
        if (dims.length > 0) t.packed(1, dims);
        return t.varint(2, dataType).string(8, name);
    }

    static ProtoBytes tensorType(int elemType, Object... dims) {
        ProtoBytes shape = msg();
        for (Object d : dims) {
            ProtoBytes dim = msg();
            if (d instanceof String s) dim.string(2, s);
            else dim.varint(1, ((Number) d).longValue());
            shape.message(1, dim);
        }
        ProtoBytes tt = msg().varint(1, elemType).message(2, shape);
        return msg().message(1, tt);
    }

    static ProtoBytes valueInfo(String name, int elemType, Object... dims) {
        return msg().string(1, name).message(2, tensorType(elemType, dims));
    }

    static ProtoBytes node(String op, String name, String[] inputs, String[] outputs) {
        ProtoBytes n = msg();
        for (String i : inputs) n.string(1, i);
        for (String o : outputs) n.string(2, o);
        return n.string(3, name).string(4, op);
    }

    /** A ModelProto around a graph, importing ai.onnx at {@code opset}. */
    static byte[] model(ProtoBytes graph, int opset) {
        return msg().varint(1, 8).string(2, "kiln-test").message(7, graph)
                .message(8, msg().string(1, "").varint(2, opset)).build();
    }
}
