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

    public String string() { return s == null ? null : new String(s, java.nio.charset.StandardCharsets.UTF_8); }
}
