package dev.kiln.onnx.proto;

import dev.kiln.io.KilnFormatException;

/**
 * The onnx.proto3 field numbers and the small encoders that Kiln's ONNX rewriters (kiln quantize,
 * kiln prune on .onnx files) share: they copy a file through field by field and re-encode only
 * what they change.
 */
public final class OnnxProtos {
    private OnnxProtos() {}

    // ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto
    public static final int MODEL_GRAPH = 7, MODEL_OPSET_IMPORT = 8;
    public static final int GRAPH_NODE = 1, GRAPH_INITIALIZER = 5, GRAPH_VALUE_INFO = 13;
    public static final int NODE_INPUT = 1, NODE_OUTPUT = 2, NODE_NAME = 3, NODE_OP_TYPE = 4, NODE_ATTRIBUTE = 5, NODE_DOMAIN = 7;
    public static final int ATTR_NAME = 1, ATTR_INT = 3, ATTR_TENSOR = 5, ATTR_TYPE = 20;
    public static final int ATTR_TYPE_INT = 2, ATTR_TYPE_TENSOR = 4;
    public static final int T_DIMS = 1, T_DATA_TYPE = 2, T_NAME = 8, T_RAW = 9, T_DATA_LOCATION = 14;
    public static final int VALUE_INFO_NAME = 1;

    /** An encoded TensorProto: name, element type code, dims and raw little-endian data. */
    public static byte[] tensor(String name, int type, long[] dims, byte[] raw) {
        ProtoWriter t = new ProtoWriter(raw.length + 64);
        for (long d : dims) t.int64(T_DIMS, d);
        t.int64(T_DATA_TYPE, type);
        if (name != null) t.string(T_NAME, name);
        t.bytes(T_RAW, raw);
        return t.toByteArray();
    }

    /** The first output name of a NodeProto ("" when it has none). */
    public static String firstOutput(ProtoReader node) throws KilnFormatException {
        while (node.next()) {
            if (node.field() == NODE_OUTPUT) return node.readString();
            node.skip();
        }
        return "";
    }

    /** A TensorProto's name; tool names the command in the error for initializers with external data. */
    public static String tensorName(ProtoReader tensor, String tool) throws KilnFormatException {
        String name = "";
        while (tensor.next()) {
            if (tensor.field() == T_NAME) name = tensor.readString();
            else if (tensor.field() == T_DATA_LOCATION && tensor.readInt64() == 1)
                throw tensor.error("initializers with external data are not supported by " + tool + " (save the model with its weights inside)");
            else tensor.skip();
        }
        return name;
    }

    /** A ValueInfoProto's name. */
    public static String valueInfoName(ProtoReader info) throws KilnFormatException {
        while (info.next()) {
            if (info.field() == VALUE_INFO_NAME) return info.readString();
            info.skip();
        }
        return "";
    }
}
