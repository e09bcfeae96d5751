package dev.kiln.onnx;

import dev.kiln.io.KilnFormatException;
import dev.kiln.onnx.proto.LongList;
import dev.kiln.onnx.proto.ProtoReader;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads an ONNX {@code ModelProto} into an {@link OnnxModel}: the opset imports, the graph (nodes,
 * initializers, inputs, outputs, value_info) and every attribute kind, nested graphs included.
 * The model file is memory-mapped; initializers are copied into Kiln tensors (see
 * {@link OnnxTensors} for the size checks and external data rules) and the mapping is released
 * before {@link #read(Path)} returns. Sparse initializers are refused with a clear error.
 */
public final class OnnxReader {
    private final String file;
    private final Path baseDir;

    private OnnxReader(String file, Path baseDir) {
        this.file = file;
        this.baseDir = baseDir;
    }

    /** Reads a {@code .onnx} file; external data is resolved relative to its directory. */
    public static OnnxModel read(Path path) throws IOException {
        Path abs = path.toAbsolutePath();
        // an automatic arena: large initializers stay in the mapping (OnnxTensors.fromRaw), which the
        // GC unmaps once no tensor refers to it
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            MemorySegment seg = size == 0 ? MemorySegment.NULL : ch.map(FileChannel.MapMode.READ_ONLY, 0, size, Arena.ofAuto());
            return new OnnxReader(path.toString(), abs.getParent()).model(ProtoReader.of(seg, path.toString()));
        }
    }

    /**
     * Reads a model from bytes; {@code nameForErrors} names it in messages and {@code baseDirOrNull}
     * resolves external data (null: external data is refused).
     */
    public static OnnxModel read(byte[] bytes, String nameForErrors, Path baseDirOrNull) throws IOException {
        return new OnnxReader(nameForErrors, baseDirOrNull).model(ProtoReader.of(bytes, nameForErrors));
    }

    // ------------------------------------------------------------------ ModelProto

    private OnnxModel model(ProtoReader r) throws IOException {
        long ir = 0;
        String producer = "", producerVersion = "";
        Map<String, Long> opsets = new LinkedHashMap<>();
        OnnxGraph graph = null;
        while (r.next()) {
            switch (r.field()) {
                case 1 -> ir = r.readInt64();
                case 2 -> producer = r.readString();
                case 3 -> producerVersion = r.readString();
                case 7 -> graph = graph(r.readMessage("graph"));
                case 8 -> opset(r.readMessage("opset_import[" + opsets.size() + "]"), opsets);
                default -> r.skip();
            }
        }
        if (graph == null) throw new KilnFormatException(file + ": not an ONNX model (no graph)");
        return new OnnxModel(ir, producer, producerVersion, Collections.unmodifiableMap(opsets), graph);
    }

    private static void opset(ProtoReader r, Map<String, Long> out) throws KilnFormatException {
        String domain = "";
        long version = 0;
        while (r.next()) {
            if (r.field() == 1) domain = r.readString();
            else if (r.field() == 2) version = r.readInt64();
            else r.skip();
        }
        out.put(domain, version);
    }

    // ------------------------------------------------------------------ GraphProto

    private OnnxGraph graph(ProtoReader r) throws IOException {
        String name = "";
        List<OnnxNode> nodes = new ArrayList<>();
        List<ValueInfo> inputs = new ArrayList<>(), outputs = new ArrayList<>(), valueInfo = new ArrayList<>();
        Map<String, Value> inits = new LinkedHashMap<>();
        while (r.next()) {
            switch (r.field()) {
                case 1 -> nodes.add(node(r.readMessage("node[" + nodes.size() + "]")));
                case 2 -> name = r.readString();
                case 5 -> tensorWithName(r.readMessage("initializer[" + inits.size() + "]"), inits);
                case 11 -> inputs.add(valueInfo(r.readMessage("input[" + inputs.size() + "]")));
                case 12 -> outputs.add(valueInfo(r.readMessage("output[" + outputs.size() + "]")));
                case 13 -> valueInfo.add(valueInfo(r.readMessage("value_info[" + valueInfo.size() + "]")));
                case 15 -> throw r.error("sparse_initializer is not supported");
                default -> r.skip();
            }
        }
        return new OnnxGraph(name, List.copyOf(nodes), List.copyOf(inputs), List.copyOf(outputs), List.copyOf(valueInfo),
                Collections.unmodifiableMap(inits));
    }

    /** Decodes an initializer and stores it under its name (the name is a field of the TensorProto). */
    private void tensorWithName(ProtoReader r, Map<String, Value> out) throws IOException {
        String name = tensorName(r);
        if (out.containsKey(name)) throw r.error("duplicate initializer '" + name + "'");
        out.put(name, OnnxTensors.decodeAny(r, baseDir));
    }

    /** The name field (8) of a TensorProto, read ahead on a copy of the reader. */
    private String tensorName(ProtoReader r) throws KilnFormatException {
        ProtoReader copy = r.copy();
        String name = "";
        while (copy.next()) {
            if (copy.field() == 8) name = copy.readString();
            else copy.skip();
        }
        return name;
    }

    // ------------------------------------------------------------------ NodeProto

    private OnnxNode node(ProtoReader r) throws IOException {
        String name = "", opType = "", domain = "";
        List<String> inputs = new ArrayList<>(), outputs = new ArrayList<>();
        Map<String, OnnxAttribute> attrs = new LinkedHashMap<>();
        while (r.next()) {
            switch (r.field()) {
                case 1 -> inputs.add(r.readString());
                case 2 -> outputs.add(r.readString());
                case 3 -> name = r.readString();
                case 4 -> opType = r.readString();
                case 7 -> domain = r.readString();
                case 5 -> {
                    OnnxAttribute a = attribute(r.readMessage("attribute[" + attrs.size() + "]"));
                    attrs.put(a.name(), a);
                }
                default -> r.skip();
            }
        }
        if (opType.isEmpty()) throw r.error("node '" + name + "' has no op_type");
        return new OnnxNode(name, opType, domain, List.copyOf(inputs), List.copyOf(outputs), Collections.unmodifiableMap(attrs));
    }

    // ------------------------------------------------------------------ AttributeProto

    private OnnxAttribute attribute(ProtoReader r) throws IOException {
        String name = "", ref = null;
        int typeCode = 0;
        float f = 0;
        long i = 0;
        byte[] s = null;
        Value t = null;
        OnnxGraph g = null;
        LongList floats = new LongList(), ints = new LongList();
        List<byte[]> strings = new ArrayList<>();
        List<Value.TensorValue> tensors = new ArrayList<>();
        List<OnnxGraph> graphs = new ArrayList<>();
        boolean sparse = false, typeProto = false;
        while (r.next()) {
            switch (r.field()) {
                case 1 -> name = r.readString();
                case 20 -> typeCode = r.readInt32();
                case 21 -> ref = r.readString();
                case 2 -> f = r.readFloat();
                case 3 -> i = r.readInt64();
                case 4 -> s = r.readBytes();
                case 5 -> t = OnnxTensors.decodeAny(r.readMessage("t"), baseDir);
                case 6 -> g = graph(r.readMessage("g"));
                case 7 -> r.readFixed32s(floats);
                case 8 -> r.readVarints(ints);
                case 9 -> strings.add(r.readBytes());
                case 10 -> tensors.add(OnnxTensors.decode(r.readMessage("tensors[" + tensors.size() + "]"), baseDir));
                case 11 -> graphs.add(graph(r.readMessage("graphs[" + graphs.size() + "]")));
                case 22, 23 -> { sparse = true; r.skip(); }
                case 14, 15 -> { typeProto = true; r.skip(); }
                default -> r.skip();
            }
        }
        OnnxAttribute.Type type;
        if (typeCode != 0) {
            try {
                type = OnnxAttribute.Type.fromCode(typeCode);
            } catch (IllegalArgumentException e) {
                throw r.error("attribute '" + name + "' has unknown type " + typeCode);
            }
        } else {
            type = inferType(f, i, s, t, g, floats, ints, strings, tensors, graphs, sparse, typeProto);
        }
        return new OnnxAttribute(name, type, f, i, s, t, g, floats.toFloatArray(), ints.toArray(),
                List.copyOf(strings), List.copyOf(tensors), List.copyOf(graphs), ref);
    }

    /** Pre-IR-3 attributes carry no type: the populated field tells it. */
    private static OnnxAttribute.Type inferType(float f, long i, byte[] s, Value t, OnnxGraph g, LongList floats,
                                                LongList ints, List<byte[]> strings, List<Value.TensorValue> tensors,
                                                List<OnnxGraph> graphs, boolean sparse, boolean typeProto) {
        if (t != null) return OnnxAttribute.Type.TENSOR;
        if (g != null) return OnnxAttribute.Type.GRAPH;
        if (s != null) return OnnxAttribute.Type.STRING;
        if (floats.size() > 0) return OnnxAttribute.Type.FLOATS;
        if (ints.size() > 0) return OnnxAttribute.Type.INTS;
        if (!strings.isEmpty()) return OnnxAttribute.Type.STRINGS;
        if (!tensors.isEmpty()) return OnnxAttribute.Type.TENSORS;
        if (!graphs.isEmpty()) return OnnxAttribute.Type.GRAPHS;
        if (sparse) return OnnxAttribute.Type.SPARSE_TENSOR;
        if (typeProto) return OnnxAttribute.Type.TYPE_PROTO;
        if (f != 0) return OnnxAttribute.Type.FLOAT;
        return OnnxAttribute.Type.INT;
    }

    // ------------------------------------------------------------------ ValueInfoProto / TypeProto

    private static ValueInfo valueInfo(ProtoReader r) throws KilnFormatException {
        String name = "";
        ValueInfo type = null;
        while (r.next()) {
            if (r.field() == 1) name = r.readString();
            else if (r.field() == 2) type = type(r.readMessage("type"), name);
            else r.skip();
        }
        if (type == null) return new ValueInfo(name, ValueInfo.Kind.UNKNOWN, null, null, null);
        return new ValueInfo(name, type.kind(), type.elemType(), type.dims(), type.elem());
    }

    /** A TypeProto as a nameless ValueInfo. */
    static ValueInfo type(ProtoReader r, String name) throws KilnFormatException {
        ValueInfo out = new ValueInfo(name, ValueInfo.Kind.UNKNOWN, null, null, null);
        while (r.next()) {
            switch (r.field()) {
                case 1 -> out = tensorType(r.readMessage("tensor_type"), name);
                case 4 -> out = new ValueInfo(name, ValueInfo.Kind.SEQUENCE, null, null, elemOf(r.readMessage("sequence_type")));
                case 9 -> out = new ValueInfo(name, ValueInfo.Kind.OPTIONAL, null, null, elemOf(r.readMessage("optional_type")));
                case 5 -> { out = new ValueInfo(name, ValueInfo.Kind.MAP, null, null, null); r.skip(); }
                default -> r.skip();
            }
        }
        return out;
    }

    private static ValueInfo elemOf(ProtoReader r) throws KilnFormatException {
        ValueInfo elem = null;
        while (r.next()) {
            if (r.field() == 1) elem = type(r.readMessage("elem_type"), "");
            else r.skip();
        }
        return elem;
    }

    private static ValueInfo tensorType(ProtoReader r, String name) throws KilnFormatException {
        ElemType elem = ElemType.UNDEFINED;
        List<Object> dims = null;
        while (r.next()) {
            if (r.field() == 1) {
                int code = r.readInt32();
                try {
                    elem = ElemType.fromCode(code);
                } catch (IllegalArgumentException e) {
                    throw r.error("value '" + name + "' has unknown element type " + code);
                }
            } else if (r.field() == 2) {
                dims = shape(r.readMessage("shape"));
            } else r.skip();
        }
        return new ValueInfo(name, ValueInfo.Kind.TENSOR, elem, dims == null ? null : Collections.unmodifiableList(dims), null);
    }

    private static List<Object> shape(ProtoReader r) throws KilnFormatException {
        List<Object> dims = new ArrayList<>();
        while (r.next()) {
            if (r.field() != 1) {
                r.skip();
                continue;
            }
            ProtoReader d = r.readMessage("dim[" + dims.size() + "]");
            Object dim = null;
            while (d.next()) {
                if (d.field() == 1) dim = d.readInt64();
                else if (d.field() == 2) dim = d.readString();
                else d.skip();
            }
            dims.add(dim);
        }
        return dims;
    }
}
