package dev.kiln.onnx.export;

import dev.kiln.onnx.proto.ProtoWriter;

/**
 * Writes a {@link GraphBuilder}'s graph as an ONNX ModelProto (onnx.proto3 field numbers): IR
 * version 8, one default-domain opset import, initializers as raw_data, tensor-typed graph
 * inputs/outputs whose dims are dim_value or dim_param.
 */
final class ModelEncoder {
    static final long IR_VERSION = 8;

    // ModelProto
    private static final int MODEL_IR_VERSION = 1, MODEL_PRODUCER_NAME = 2, MODEL_PRODUCER_VERSION = 3,
            MODEL_GRAPH = 7, MODEL_OPSET_IMPORT = 8;
    // OperatorSetIdProto
    private static final int OPSET_DOMAIN = 1, OPSET_VERSION = 2;
    // GraphProto
    private static final int GRAPH_NODE = 1, GRAPH_NAME = 2, GRAPH_INITIALIZER = 5, GRAPH_INPUT = 11, GRAPH_OUTPUT = 12;
    // NodeProto
    private static final int NODE_INPUT = 1, NODE_OUTPUT = 2, NODE_NAME = 3, NODE_OP_TYPE = 4, NODE_ATTRIBUTE = 5;
    // AttributeProto and its AttributeType enum
    private static final int ATTR_NAME = 1, ATTR_F = 2, ATTR_I = 3, ATTR_S = 4, ATTR_FLOATS = 7, ATTR_INTS = 8, ATTR_TYPE = 20;
    private static final int TYPE_FLOAT = 1, TYPE_INT = 2, TYPE_STRING = 3, TYPE_FLOATS = 6, TYPE_INTS = 7;
    // TensorProto
    private static final int TENSOR_DIMS = 1, TENSOR_DATA_TYPE = 2, TENSOR_NAME = 8, TENSOR_RAW_DATA = 9;
    // ValueInfoProto, TypeProto, TypeProto.Tensor, TensorShapeProto, TensorShapeProto.Dimension
    private static final int VI_NAME = 1, VI_TYPE = 2, TYPE_TENSOR = 1, TT_ELEM_TYPE = 1, TT_SHAPE = 2,
            SHAPE_DIM = 1, DIM_VALUE = 1, DIM_PARAM = 2;

    private ModelEncoder() {}

    static byte[] encode(GraphBuilder g, String graphName, int opset, String producerVersion) {
        ProtoWriter w = new ProtoWriter(1 << 16);
        w.int64(MODEL_IR_VERSION, IR_VERSION);
        w.string(MODEL_PRODUCER_NAME, "kiln");
        w.string(MODEL_PRODUCER_VERSION, producerVersion);
        w.message(MODEL_GRAPH, gw -> graph(gw, g, graphName));
        w.message(MODEL_OPSET_IMPORT, o -> o.string(OPSET_DOMAIN, "").int64(OPSET_VERSION, opset));
        return w.toByteArray();
    }

    private static void graph(ProtoWriter w, GraphBuilder g, String name) {
        for (GraphBuilder.Node n : g.nodes) w.message(GRAPH_NODE, nw -> node(nw, n));
        w.string(GRAPH_NAME, name);
        for (GraphBuilder.Initializer t : g.initializers) w.message(GRAPH_INITIALIZER, tw -> tensor(tw, t));
        for (GraphBuilder.Io io : g.inputs) w.message(GRAPH_INPUT, vw -> valueInfo(vw, io));
        for (GraphBuilder.Io io : g.outputs) w.message(GRAPH_OUTPUT, vw -> valueInfo(vw, io));
    }

    private static void node(ProtoWriter w, GraphBuilder.Node n) {
        for (String in : n.inputs()) w.string(NODE_INPUT, in);
        for (String out : n.outputs()) w.string(NODE_OUTPUT, out);
        w.string(NODE_NAME, n.name());
        w.string(NODE_OP_TYPE, n.opType());
        for (OnnxAttr a : n.attrs()) w.message(NODE_ATTRIBUTE, aw -> attribute(aw, a));
    }

    private static void attribute(ProtoWriter w, OnnxAttr a) {
        w.string(ATTR_NAME, a.name());
        switch (a.kind()) {
            case INT -> w.int64(ATTR_I, a.i()).int64(ATTR_TYPE, TYPE_INT);
            case FLOAT -> w.float32(ATTR_F, a.f()).int64(ATTR_TYPE, TYPE_FLOAT);
            case STRING -> w.string(ATTR_S, a.s()).int64(ATTR_TYPE, TYPE_STRING);
            case INTS -> w.packedInt64(ATTR_INTS, a.ints()).int64(ATTR_TYPE, TYPE_INTS);
            case FLOATS -> w.packedFloat(ATTR_FLOATS, a.floats()).int64(ATTR_TYPE, TYPE_FLOATS);
        }
    }

    private static void tensor(ProtoWriter w, GraphBuilder.Initializer t) {
        w.packedInt64(TENSOR_DIMS, t.dims());
        w.int64(TENSOR_DATA_TYPE, t.dataType());
        w.string(TENSOR_NAME, t.name());
        w.bytes(TENSOR_RAW_DATA, t.raw());
    }

    private static void valueInfo(ProtoWriter w, GraphBuilder.Io io) {
        w.string(VI_NAME, io.name());
        w.message(VI_TYPE, tw -> tw.message(TYPE_TENSOR, tt -> {
            tt.int64(TT_ELEM_TYPE, io.elemType());
            tt.message(TT_SHAPE, sw -> {
                for (Object d : io.dims())
                    sw.message(SHAPE_DIM, dw -> {
                        if (d instanceof String p) dw.string(DIM_PARAM, p);
                        else dw.int64(DIM_VALUE, ((Number) d).longValue());
                    });
            });
        }));
    }
}
