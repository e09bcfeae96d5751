package dev.kiln.onnx.export;

import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.OnnxAttribute;
import dev.kiln.onnx.OnnxException;
import dev.kiln.onnx.OnnxGraph;
import dev.kiln.onnx.OnnxModel;
import dev.kiln.onnx.OnnxNode;
import dev.kiln.onnx.OnnxTensors;
import dev.kiln.onnx.Value;
import dev.kiln.onnx.ValueInfo;
import dev.kiln.onnx.proto.ProtoWriter;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * Writes an in-memory {@link OnnxModel} (e.g. a SavedModel signature lowered by
 * {@code dev.kiln.savedmodel}) as an ONNX ModelProto: its opset imports, nodes with INT, INTS,
 * FLOAT, FLOATS, STRING, STRINGS and TENSOR attributes, initializers as raw data, tensor inputs and
 * outputs with their dims (fixed or symbolic). Subgraph attributes are refused. The whole model
 * is one protobuf, so it must stay under 2 GB (ONNX's own limit without external data).
 */
public final class OnnxModelWriter {
    private OnnxModelWriter() {}

    public static void write(OnnxModel model, Path out) throws IOException {
        Path tmp = out.resolveSibling(out.getFileName() + ".tmp");
        Files.write(tmp, encode(model));
        Files.move(tmp, out, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    }

    public static byte[] encode(OnnxModel model) {
        long bytes = 0;
        for (Value v : model.graph().initializers().values())
            if (v instanceof Value.TensorValue tv) bytes += tv.tensor().numel() * OnnxTensors.rawSize(tv.type());
        if (bytes > Integer.MAX_VALUE - (64 << 20))
            throw new OnnxException("the model's constants take " + bytes + " bytes; a single-file ONNX model must stay under 2 GB");
        ProtoWriter w = new ProtoWriter(1 << 16);
        w.int64(1, model.irVersion());
        w.string(2, model.producerName().isEmpty() ? "kiln" : model.producerName());
        w.string(3, model.producerVersion());
        w.message(7, g -> graph(g, model.graph()));
        for (Map.Entry<String, Long> e : model.opsets().entrySet())
            w.message(8, o -> o.string(1, e.getKey()).int64(2, e.getValue()));
        return w.toByteArray();
    }

    private static void graph(ProtoWriter w, OnnxGraph g) {
        for (OnnxNode n : g.nodes()) w.message(1, nw -> node(nw, n));
        w.string(2, g.name());
        for (Map.Entry<String, Value> e : g.initializers().entrySet())
            w.bytes(5, OnnxTensors.encode(e.getValue(), e.getKey()));
        for (ValueInfo vi : g.inputs())
            if (!g.initializers().containsKey(vi.name())) w.message(11, v -> valueInfo(v, vi));
        for (ValueInfo vi : g.outputs()) w.message(12, v -> valueInfo(v, vi));
    }

    private static void node(ProtoWriter w, OnnxNode n) {
        for (String in : n.inputs()) w.string(1, in);
        for (String out : n.outputs()) w.string(2, out);
        if (!n.name().isEmpty()) w.string(3, n.name());
        w.string(4, n.opType());
        if (!n.domain().isEmpty()) w.string(7, n.domain());
        for (OnnxAttribute a : n.attributes().values()) w.message(5, aw -> attribute(aw, a, n));
    }

    private static void attribute(ProtoWriter w, OnnxAttribute a, OnnxNode n) {
        w.string(1, a.name());
        switch (a.type()) {
            case INT -> w.int64(3, a.i());
            case FLOAT -> w.float32(2, a.f());
            case STRING -> w.bytes(4, a.s());
            case INTS -> w.packedInt64(8, a.ints());
            case FLOATS -> w.packedFloat(7, a.floats());
            case STRINGS -> { for (byte[] s : a.strings()) w.bytes(9, s); }
            case TENSOR -> w.bytes(5, OnnxTensors.encode(a.t(), ""));
            default -> throw new OnnxException(n.describe() + ": attribute '" + a.name() + "' of type " + a.type() + " cannot be exported");
        }
        w.int64(20, a.type().code);
    }

    private static void valueInfo(ProtoWriter w, ValueInfo vi) {
        w.string(1, vi.name());
        if (vi.kind() != ValueInfo.Kind.TENSOR) throw new OnnxException("value '" + vi.name() + "': only tensor inputs and outputs can be exported");
        ElemType t = vi.elemType() == null ? ElemType.UNDEFINED : vi.elemType();
        w.message(2, tw -> tw.message(1, tt -> {
            tt.int64(1, t.code());
            if (vi.dims() != null)
                tt.message(2, sw -> {
                    for (Object d : vi.dims())
                        sw.message(1, dw -> {
                            if (d instanceof String p) dw.string(2, p);
                            else if (d instanceof Number num) dw.int64(1, num.longValue());
                        });
                });
        }));
    }
}
