package dev.kiln.savedmodel;

import dev.kiln.onnx.proto.ProtoReader;

import java.util.List;
import java.util.Map;

/**
 * The parts of TensorFlow's protobufs a SavedModel reader needs, as read by {@link TfProtoReader}:
 * one {@code MetaGraphDef} (tags, signatures, graph, function library). Tensor-valued attributes
 * stay undecoded ({@link Attr#tensor}) until a node that is actually run asks for them, so the
 * saver's and initializers' constants cost nothing.
 */
public final class TfGraph {
    private TfGraph() {}

    /** One {@code MetaGraphDef}: its tags, signatures by key, the graph's nodes and its function library. */
    public record MetaGraph(List<String> tags, Map<String, Signature> signatures, List<Node> nodes,
                            Map<String, Function> functions) {}

    /** A {@code SignatureDef}: inputs and outputs by key (in key order, as TensorFlow sorts them). */
    public record Signature(String key, Map<String, TensorInfo> inputs, Map<String, TensorInfo> outputs, String method) {}

    /**
     * A {@code TensorInfo}: the graph tensor ("x:0") a signature key names, its {@code DataType} and
     * shape ({@code shape} null: unknown rank; -1 entries: unknown sizes).
     */
    public record TensorInfo(String name, int dtype, long[] shape) {}

    /**
     * A {@code NodeDef}. Inputs are as written: "node", "node:1", "^control" in graphs;
     * "arg", "node:out_arg:index" in function bodies.
     */
    public record Node(String name, String op, List<String> inputs, Map<String, Attr> attrs) {
        /** "MatMul 'dense/MatMul'", for errors. */
        public String describe() { return ProtoReader.printable(op, 80) + " '" + ProtoReader.printable(name, 120) + "'"; }
    }

    /**
     * A {@code FunctionDef}: its signature's argument and result names and types, its body, and
     * {@code ret} (result name -> "node:out_arg:index" in the body).
     */
    public record Function(String name, List<Arg> inputs, List<Arg> outputs, List<Node> body, Map<String, String> ret) {}

    /** An {@code OpDef.ArgDef}: name and {@code DataType} (0 when given through a type attribute). */
    public record Arg(String name, int type) {}

    /**
     * An {@code AttrValue}: exactly one of the value fields is meaningful, the one {@code kind} names.
     * {@code tensor} is a reader positioned on an undecoded {@code TensorProto} (read it through
     * {@link TfTensors#decode}); {@code list} holds a {@code ListValue}.
     */
    public record Attr(Kind kind, byte[] s, long i, float f, boolean b, int type, long[] shape,
                       ProtoReader tensor, AttrList list, NameAttrList func) {
        public enum Kind { S, I, F, B, TYPE, SHAPE, TENSOR, LIST, FUNC, PLACEHOLDER, NONE }

        public String string() { return new String(s, java.nio.charset.StandardCharsets.UTF_8); }
    }

    /** {@code AttrValue.ListValue}. {@code shapes} entries are null for unknown rank. */
    public record AttrList(List<byte[]> s, long[] i, float[] f, long[] b, long[] type, List<long[]> shapes,
                           List<ProtoReader> tensors, List<NameAttrList> funcs) {}

    /** {@code NameAttrList}: a function name and the attributes it is instantiated with. */
    public record NameAttrList(String name, Map<String, Attr> attrs) {}
}
