package dev.kiln.savedmodel;

import dev.kiln.io.KilnFormatException;
import dev.kiln.onnx.proto.LongList;
import dev.kiln.onnx.proto.ProtoReader;
import dev.kiln.savedmodel.TfGraph.Arg;
import dev.kiln.savedmodel.TfGraph.Attr;
import dev.kiln.savedmodel.TfGraph.AttrList;
import dev.kiln.savedmodel.TfGraph.Function;
import dev.kiln.savedmodel.TfGraph.MetaGraph;
import dev.kiln.savedmodel.TfGraph.NameAttrList;
import dev.kiln.savedmodel.TfGraph.Node;
import dev.kiln.savedmodel.TfGraph.Signature;
import dev.kiln.savedmodel.TfGraph.TensorInfo;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Decodes {@code saved_model.pb} (field numbers of tensorflow/core/protobuf/saved_model.proto,
 * meta_graph.proto, framework/graph.proto, node_def.proto, attr_value.proto, function.proto,
 * op_def.proto, tensor_shape.proto) with Kiln's {@link ProtoReader}, which bounds every length and
 * the nesting depth. Fields Kiln does not use (saver, collections, the object graph, debug info)
 * are skipped. Errors name the file and the field path.
 */
public final class TfProtoReader {
    /** More nodes than any real graph has; a bound so that a hostile file cannot make us allocate without end. */
    static final int MAX_NODES = 10_000_000;

    private TfProtoReader() {}

    /** Every MetaGraphDef in a SavedModel protobuf. */
    public static List<MetaGraph> savedModel(ProtoReader r) throws KilnFormatException {
        List<MetaGraph> out = new ArrayList<>();
        while (r.next()) {
            if (r.field() == 2) out.add(metaGraph(r.readMessage("meta_graphs[" + out.size() + "]")));
            else r.skip();
        }
        return out;
    }

    private static MetaGraph metaGraph(ProtoReader r) throws KilnFormatException {
        List<String> tags = new ArrayList<>();
        Map<String, Signature> sigs = new TreeMap<>();
        List<Node> nodes = List.of();
        Map<String, Function> functions = Map.of();
        while (r.next()) {
            switch (r.field()) {
                case 1 -> { // MetaInfoDef
                    ProtoReader m = r.readMessage("meta_info_def");
                    while (m.next()) {
                        if (m.field() == 4) tags.add(m.readString());
                        else m.skip();
                    }
                }
                case 2 -> { // GraphDef
                    ProtoReader g = r.readMessage("graph_def");
                    List<Node> ns = new ArrayList<>();
                    Map<String, Function> fs = new LinkedHashMap<>();
                    while (g.next()) {
                        switch (g.field()) {
                            case 1 -> addNode(ns, g, "node[" + ns.size() + "]");
                            case 2 -> library(g.readMessage("library"), fs);
                            default -> g.skip();
                        }
                    }
                    nodes = ns;
                    functions = fs;
                }
                case 5 -> { // map<string, SignatureDef>
                    ProtoReader e = r.readMessage("signature_def");
                    String key = null;
                    ProtoReader value = null;
                    while (e.next()) {
                        if (e.field() == 1) key = e.readString();
                        else if (e.field() == 2) value = e.readMessage("signature_def[" + (key == null ? "?" : ProtoReader.printable(key, 80)) + "]");
                        else e.skip();
                    }
                    if (key == null) throw e.error("signature without a key");
                    sigs.put(key, signature(key, value));
                }
                default -> r.skip();
            }
        }
        return new MetaGraph(List.copyOf(tags), Collections.unmodifiableMap(sigs), nodes, functions);
    }

    private static void addNode(List<Node> ns, ProtoReader r, String name) throws KilnFormatException {
        if (ns.size() >= MAX_NODES) throw r.error("more than " + MAX_NODES + " nodes");
        ns.add(node(r.readMessage(name)));
    }

    private static Signature signature(String key, ProtoReader r) throws KilnFormatException {
        Map<String, TensorInfo> in = new TreeMap<>(), out = new TreeMap<>();
        String method = "";
        if (r != null) {
            while (r.next()) {
                switch (r.field()) {
                    case 1 -> tensorInfoEntry(r.readMessage("inputs"), in);
                    case 2 -> tensorInfoEntry(r.readMessage("outputs"), out);
                    case 3 -> method = r.readString();
                    default -> r.skip();
                }
            }
        }
        return new Signature(key, Collections.unmodifiableMap(in), Collections.unmodifiableMap(out), method);
    }

    private static void tensorInfoEntry(ProtoReader e, Map<String, TensorInfo> out) throws KilnFormatException {
        String key = null;
        TensorInfo info = null;
        while (e.next()) {
            if (e.field() == 1) key = e.readString();
            else if (e.field() == 2) info = tensorInfo(e.readMessage("value"));
            else e.skip();
        }
        if (key == null || info == null) throw e.error("signature entry without a key or a TensorInfo");
        if (info.name() == null) throw e.error("signature entry '" + ProtoReader.printable(key, 80) + "' is not a dense tensor (sparse and composite tensors are not supported)");
        out.put(key, info);
    }

    private static TensorInfo tensorInfo(ProtoReader r) throws KilnFormatException {
        String name = null;
        int dtype = 0;
        long[] shape = null;
        while (r.next()) {
            switch (r.field()) {
                case 1 -> name = r.readString();
                case 2 -> dtype = r.readInt32();
                case 3 -> shape = shape(r.readMessage("tensor_shape"));
                default -> r.skip();
            }
        }
        return new TensorInfo(name, dtype, shape);
    }

    /** A {@code TensorShapeProto}: sizes (-1 unknown), or null for an unknown rank. */
    static long[] shape(ProtoReader r) throws KilnFormatException {
        LongList dims = new LongList();
        boolean unknownRank = false;
        while (r.next()) {
            switch (r.field()) {
                case 2 -> {
                    ProtoReader d = r.readMessage("dim");
                    long size = 0;
                    while (d.next()) {
                        if (d.field() == 1) size = d.readInt64();
                        else d.skip();
                    }
                    if (size < -1) throw d.error("dimension size " + size);
                    if (dims.size() >= 64) throw d.error("more than 64 dimensions");
                    dims.add(size);
                }
                case 3 -> unknownRank = r.readVarint() != 0;
                default -> r.skip();
            }
        }
        return unknownRank ? null : dims.toArray();
    }

    static Node node(ProtoReader r) throws KilnFormatException {
        String name = "", op = "";
        List<String> inputs = new ArrayList<>();
        Map<String, Attr> attrs = new LinkedHashMap<>();
        while (r.next()) {
            switch (r.field()) {
                case 1 -> name = r.readString();
                case 2 -> op = r.readString();
                case 3 -> inputs.add(r.readString());
                case 5 -> attrEntry(r.readMessage("attr"), attrs);
                default -> r.skip();
            }
        }
        if (op.isEmpty()) throw r.error("node '" + ProtoReader.printable(name, 80) + "' has no op");
        return new Node(name, op, List.copyOf(inputs), Collections.unmodifiableMap(attrs));
    }

    private static void attrEntry(ProtoReader e, Map<String, Attr> out) throws KilnFormatException {
        String key = null;
        Attr value = null;
        while (e.next()) {
            if (e.field() == 1) key = e.readString();
            else if (e.field() == 2) value = attr(e.readMessage("value"));
            else e.skip();
        }
        if (key == null) throw e.error("attribute without a name");
        out.put(key, value == null ? none() : value);
    }

    private static Attr none() { return new Attr(Attr.Kind.NONE, null, 0, 0, false, 0, null, null, null, null); }

    static Attr attr(ProtoReader r) throws KilnFormatException {
        Attr a = none();
        while (r.next()) {
            a = switch (r.field()) {
                case 1 -> new Attr(Attr.Kind.LIST, null, 0, 0, false, 0, null, null, list(r.readMessage("list")), null);
                case 2 -> new Attr(Attr.Kind.S, r.readBytes(), 0, 0, false, 0, null, null, null, null);
                case 3 -> new Attr(Attr.Kind.I, null, r.readInt64(), 0, false, 0, null, null, null, null);
                case 4 -> new Attr(Attr.Kind.F, null, 0, r.readFloat(), false, 0, null, null, null, null);
                case 5 -> new Attr(Attr.Kind.B, null, 0, 0, r.readVarint() != 0, 0, null, null, null, null);
                case 6 -> new Attr(Attr.Kind.TYPE, null, 0, 0, false, r.readInt32(), null, null, null, null);
                case 7 -> new Attr(Attr.Kind.SHAPE, null, 0, 0, false, 0, shape(r.readMessage("shape")), null, null, null);
                case 8 -> new Attr(Attr.Kind.TENSOR, null, 0, 0, false, 0, null, r.readMessage("tensor"), null, null);
                case 9 -> { r.skip(); yield new Attr(Attr.Kind.PLACEHOLDER, null, 0, 0, false, 0, null, null, null, null); }
                case 10 -> new Attr(Attr.Kind.FUNC, null, 0, 0, false, 0, null, null, null, nameAttrList(r.readMessage("func")));
                default -> { r.skip(); yield a; }
            };
        }
        return a;
    }

    private static AttrList list(ProtoReader r) throws KilnFormatException {
        List<byte[]> s = new ArrayList<>();
        LongList i = new LongList(), f = new LongList(), b = new LongList(), type = new LongList();
        List<long[]> shapes = new ArrayList<>();
        List<ProtoReader> tensors = new ArrayList<>();
        List<NameAttrList> funcs = new ArrayList<>();
        while (r.next()) {
            switch (r.field()) {
                case 2 -> s.add(r.readBytes());
                case 3 -> r.readVarints(i);
                case 4 -> r.readFixed32s(f);
                case 5 -> r.readVarints(b);
                case 6 -> r.readVarints(type);
                case 7 -> shapes.add(shape(r.readMessage("shape")));
                case 8 -> tensors.add(r.readMessage("tensor"));
                case 9 -> funcs.add(nameAttrList(r.readMessage("func")));
                default -> r.skip();
            }
        }
        float[] fs = new float[f.size()];
        for (int k = 0; k < fs.length; k++) fs[k] = Float.intBitsToFloat((int) f.get(k));
        return new AttrList(s, i.toArray(), fs, b.toArray(), type.toArray(), shapes, tensors, funcs);
    }

    private static NameAttrList nameAttrList(ProtoReader r) throws KilnFormatException {
        String name = "";
        Map<String, Attr> attrs = new LinkedHashMap<>();
        while (r.next()) {
            if (r.field() == 1) name = r.readString();
            else if (r.field() == 2) attrEntry(r.readMessage("attr"), attrs);
            else r.skip();
        }
        return new NameAttrList(name, attrs);
    }

    private static void library(ProtoReader r, Map<String, Function> out) throws KilnFormatException {
        while (r.next()) {
            if (r.field() == 1) {
                Function f = function(r.readMessage("function[" + out.size() + "]"));
                if (out.put(f.name(), f) != null) throw r.error("function '" + ProtoReader.printable(f.name(), 80) + "' defined twice");
            } else r.skip();
        }
    }

    private static Function function(ProtoReader r) throws KilnFormatException {
        String name = "";
        List<Arg> in = new ArrayList<>(), out = new ArrayList<>();
        List<Node> body = new ArrayList<>();
        Map<String, String> ret = new LinkedHashMap<>();
        while (r.next()) {
            switch (r.field()) {
                case 1 -> { // OpDef
                    ProtoReader s = r.readMessage("signature");
                    while (s.next()) {
                        switch (s.field()) {
                            case 1 -> name = s.readString();
                            case 2 -> in.add(arg(s.readMessage("input_arg")));
                            case 3 -> out.add(arg(s.readMessage("output_arg")));
                            default -> s.skip();
                        }
                    }
                }
                case 3 -> addNode(body, r, "node_def[" + body.size() + "]");
                case 4 -> {
                    ProtoReader e = r.readMessage("ret");
                    String k = null, v = null;
                    while (e.next()) {
                        if (e.field() == 1) k = e.readString();
                        else if (e.field() == 2) v = e.readString();
                        else e.skip();
                    }
                    if (k == null || v == null) throw e.error("function result without a name or a value");
                    ret.put(k, v);
                }
                default -> r.skip();
            }
        }
        if (name.isEmpty()) throw r.error("function without a name");
        return new Function(name, List.copyOf(in), List.copyOf(out), List.copyOf(body), Collections.unmodifiableMap(ret));
    }

    private static Arg arg(ProtoReader r) throws KilnFormatException {
        String name = "";
        int type = 0;
        while (r.next()) {
            if (r.field() == 1) name = r.readString();
            else if (r.field() == 3) type = r.readInt32();
            else r.skip();
        }
        return new Arg(name, type);
    }
}
