package dev.kiln.onnx;

import java.util.List;

/**
 * One {@code AttributeProto}. Exactly the field matching {@code type} is meaningful; the others are
 * zero, null or empty. Strings are kept as the raw bytes ONNX stores (usually UTF-8). A tensor
 * attribute {@code t} is a {@link Value.TensorValue} or, for a STRING tensor, a {@link Value.StringTensorValue}.
 */
public record OnnxAttribute(String name, Type type, float f, long i, byte[] s, Value t,
                            OnnxGraph g, float[] floats, long[] ints, List<byte[]> strings,
                            List<Value.TensorValue> tensors, List<OnnxGraph> graphs, String refAttrName) {

    /** {@code AttributeProto.AttributeType} (numbers as in onnx.proto). */
    public enum Type {
        UNDEFINED(0), FLOAT(1), INT(2), STRING(3), TENSOR(4), GRAPH(5), SPARSE_TENSOR(11), TYPE_PROTO(13),
        FLOATS(6), INTS(7), STRINGS(8), TENSORS(9), GRAPHS(10), SPARSE_TENSORS(12), TYPE_PROTOS(14);

        public final int code;

        Type(int code) { this.code = code; }

        public static Type fromCode(int c) {
            for (Type t : values()) if (t.code == c) return t;
            throw new IllegalArgumentException("unknown ONNX attribute type " + c);
        }
    }

    /** An INT attribute (the other fields empty). */
    public static OnnxAttribute ofInt(String name, long v) { return of(name, Type.INT, 0, v, null, new long[0]); }

    public static OnnxAttribute ofInts(String name, long... v) { return of(name, Type.INTS, 0, 0, null, v.clone()); }

    public static OnnxAttribute ofFloat(String name, float v) { return of(name, Type.FLOAT, v, 0, null, new long[0]); }

    public static OnnxAttribute ofString(String name, String v) {
        return of(name, Type.STRING, 0, 0, v.getBytes(java.nio.charset.StandardCharsets.UTF_8), new long[0]);
    }

    private static OnnxAttribute of(String name, Type type, float f, long i, byte[] s, long[] ints) {
        return new OnnxAttribute(name, type, f, i, s, null, null, new float[0], ints, List.of(), List.of(), List.of(), null);
    }

    public String string() { return s == null ? null : new String(s, java.nio.charset.StandardCharsets.UTF_8); }
}
