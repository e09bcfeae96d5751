package dev.kiln.savedmodel;

import dev.kiln.io.KilnFormatException;
import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.OnnxAttribute;
import dev.kiln.onnx.Value;
import dev.kiln.ops.UnaryOp;
import dev.kiln.savedmodel.TfGraph.Attr;
import dev.kiln.savedmodel.TfGraph.Node;
import dev.kiln.savedmodel.TfImporter.T;
import dev.kiln.tensor.Tensor;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * The TensorFlow op table: for each TF op Kiln runs, how it lowers to ONNX ops (one entry per op;
 * {@link TfNnOps} holds the convolution, pooling, normalization and matrix-product entries). A
 * lowering gets the node and its lowered data inputs and returns its lowered outputs.
 */
final class TfOps {
    interface Lowering {
        List<T> lower(TfImporter imp, Node n, List<T> in) throws IOException;
    }

    private static final Map<String, Lowering> TABLE = new HashMap<>();

    static {
        for (UnaryOp op : UnaryOp.values())     // the engine's ops, under their TF names (UnaryOp.names), as their ONNX op
            for (String tf : op.names().tensorflow()) sameShape(tf, op.names().onnx());
        for (String[] u : new String[][] {{"Elu", "Elu"}, {"Selu", "Selu"}, {"Softplus", "Softplus"}, {"Softsign", "Softsign"},
                {"LogicalNot", "Not"}, {"IsNan", "IsNaN"}})
            sameShape(u[0], u[1]);
        TABLE.put("Rsqrt", (imp, n, in) -> {
            String s = imp.emit("Sqrt", List.of(in.get(0).name()), Map.of());
            return List.of(same(imp.emit("Reciprocal", List.of(s), Map.of()), in.get(0)));
        });
        TABLE.put("Square", (imp, n, in) -> List.of(same(imp.emit("Mul", List.of(in.get(0).name(), in.get(0).name()), Map.of()), in.get(0))));
        TABLE.put("Relu6", (imp, n, in) -> List.of(clip(imp, in.get(0), 0, 6)));
        TABLE.put("LeakyRelu", (imp, n, in) -> List.of(same(imp.emit("LeakyRelu", List.of(in.get(0).name()),
                Map.of("alpha", OnnxAttribute.ofFloat("alpha", (float) f(n, "alpha", 0.2)))), in.get(0))));
        TABLE.put("Softmax", (imp, n, in) -> softmax(imp, in.get(0), "Softmax"));
        TABLE.put("LogSoftmax", (imp, n, in) -> softmax(imp, in.get(0), "LogSoftmax"));
        TABLE.put("Cast", (imp, n, in) -> {
            ElemType to = type(imp, n, "DstT");
            return List.of(new T(imp.emit("Cast", List.of(in.get(0).name()), Map.of("to", OnnxAttribute.ofInt("to", to.code()))),
                    in.get(0).nchw(), to, in.get(0).rank()));
        });

        for (String[] b : new String[][] {{"Add", "Add"}, {"AddV2", "Add"}, {"Sub", "Sub"}, {"Mul", "Mul"},
                {"RealDiv", "Div"}, {"Maximum", "Max"}, {"Minimum", "Min"}, {"Pow", "Pow"}, {"LogicalAnd", "And"},
                {"LogicalOr", "Or"}}) {
            String onnx = b[1];
            TABLE.put(b[0], (imp, n, in) -> List.of(binary(imp, onnx, in.get(0), in.get(1), null)));
        }
        for (String[] b : new String[][] {{"Greater", "Greater"}, {"Less", "Less"}, {"Equal", "Equal"},
                {"GreaterEqual", "GreaterOrEqual"}, {"LessEqual", "LessOrEqual"}}) {
            String onnx = b[1];
            TABLE.put(b[0], (imp, n, in) -> List.of(binary(imp, onnx, in.get(0), in.get(1), ElemType.BOOL)));
        }
        TABLE.put("NotEqual", (imp, n, in) -> {
            T eq = binary(imp, "Equal", in.get(0), in.get(1), ElemType.BOOL);
            return List.of(same(imp.emit("Not", List.of(eq.name()), Map.of()), eq));
        });
        TABLE.put("Div", (imp, n, in) -> {
            if (in.get(0).type() != null && !in.get(0).type().isFloat())
                throw new KilnFormatException(imp.file() + ": " + n.describe() + ": integer Div is not supported");
            return List.of(binary(imp, "Div", in.get(0), in.get(1), null));
        });
        TABLE.put("FloorDiv", (imp, n, in) -> {
            if (in.get(0).type() != null && !in.get(0).type().isFloat())
                throw new KilnFormatException(imp.file() + ": " + n.describe() + ": integer FloorDiv is not supported");
            T d = binary(imp, "Div", in.get(0), in.get(1), null);
            return List.of(same(imp.emit("Floor", List.of(d.name()), Map.of()), d));
        });
        TABLE.put("SquaredDifference", (imp, n, in) -> {
            T d = binary(imp, "Sub", in.get(0), in.get(1), null);
            return List.of(same(imp.emit("Mul", List.of(d.name(), d.name()), Map.of()), d));
        });
        TABLE.put("AddN", (imp, n, in) -> {
            List<String> names = new ArrayList<>();
            int rank = -1;
            for (T t : in) {
                names.add(imp.nhwc(t).name());
                rank = Math.max(rank, t.rank());
            }
            return List.of(new T(imp.emit("Sum", names, Map.of()), false, in.get(0).type(), rank));
        });
        TABLE.put("BiasAdd", TfNnOps::biasAdd);
        TABLE.put("BiasAddV1", TfNnOps::biasAdd);
        TABLE.put("Select", (imp, n, in) -> List.of(select(imp, n, in, false)));
        TABLE.put("SelectV2", (imp, n, in) -> List.of(select(imp, n, in, true)));

        for (String[] r : new String[][] {{"Mean", "ReduceMean"}, {"Sum", "ReduceSum"}, {"Max", "ReduceMax"},
                {"Min", "ReduceMin"}, {"Prod", "ReduceProd"}}) {
            String onnx = r[1];
            TABLE.put(r[0], (imp, n, in) -> List.of(TfShapeOps.reduce(imp, n, in, onnx)));
        }
        TfShapeOps.register(TABLE);
        TfNnOps.register(TABLE);
    }

    private TfOps() {}

    static boolean supports(String op) { return TABLE.containsKey(op); }

    /** Every TF op name the table lowers (for {@code kiln info} and docs). */
    static Set<String> names() { return new TreeSet<>(TABLE.keySet()); }

    static List<T> lower(TfImporter imp, Node n, List<T> in) throws IOException {
        try {
            return TABLE.get(n.op()).lower(imp, n, in);
        } catch (IndexOutOfBoundsException e) {
            throw new KilnFormatException(imp.file() + ": " + n.describe() + " has " + in.size() + " inputs, too few");
        }
    }

    /**
     * The position of output {@code k} of output argument {@code arg} among a node's outputs, for
     * references inside function bodies ("node:arg:k"). Ops with several output arguments list them
     * here; every other op has one (possibly a list).
     */
    static int outputIndex(String op, String arg, int k) {
        List<String> args = switch (op) {
            case "FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3" ->
                    List.of("y", "batch_mean", "batch_variance", "reserve_space_1", "reserve_space_2", "reserve_space_3");
            case "Unique" -> List.of("y", "idx");
            case "TopKV2" -> List.of("values", "indices");
            default -> List.of();
        };
        int i = args.indexOf(arg);
        return i < 0 ? k : i + k;
    }

    // ------------------------------------------------------------------ shared helpers

    /** An output with the layout, type and rank of t. */
    static T same(String name, T t) { return new T(name, t.nchw(), t.type(), t.rank()); }

    /** The TF op tf as the one-input ONNX op onnx, same shape and type. */
    private static void sameShape(String tf, String onnx) {
        TABLE.put(tf, (imp, n, in) -> List.of(same(imp.emit(onnx, List.of(in.get(0).name()), Map.of()), in.get(0))));
    }

    static long i(Node n, String attr, long dflt) {
        Attr a = n.attrs().get(attr);
        return a == null || a.kind() != Attr.Kind.I ? dflt : a.i();
    }

    static double f(Node n, String attr, double dflt) {
        Attr a = n.attrs().get(attr);
        return a == null || a.kind() != Attr.Kind.F ? dflt : a.f();
    }

    static boolean b(Node n, String attr, boolean dflt) {
        Attr a = n.attrs().get(attr);
        return a == null || a.kind() != Attr.Kind.B ? dflt : a.b();
    }

    static String s(Node n, String attr, String dflt) {
        Attr a = n.attrs().get(attr);
        return a == null || a.kind() != Attr.Kind.S ? dflt : a.string();
    }

    static long[] ints(Node n, String attr) {
        Attr a = n.attrs().get(attr);
        return a == null || a.kind() != Attr.Kind.LIST ? new long[0] : a.list().i();
    }

    static ElemType type(TfImporter imp, Node n, String attr) throws KilnFormatException {
        Attr a = n.attrs().get(attr);
        if (a == null || a.kind() != Attr.Kind.TYPE) throw new KilnFormatException(imp.file() + ": " + n.describe() + " has no type attribute " + attr);
        ElemType t = TfTensors.elemType(a.type());
        if (t == null) throw new KilnFormatException(imp.file() + ": " + n.describe() + ": " + TfTensors.name(a.type()) + " is not supported");
        return t;
    }

    /** The integer values of a constant input, or an error naming the node. */
    static long[] constInts(TfImporter imp, Node n, T t, String what) throws KilnFormatException {
        Value.TensorValue v = imp.constantOf(t);
        if (v == null) throw new KilnFormatException(imp.file() + ": " + n.describe() + ": " + what + " must be a constant");
        try {
            return TfTensors.longs(v);
        } catch (IllegalArgumentException e) {
            throw new KilnFormatException(imp.file() + ": " + n.describe() + ": " + what + ": " + e.getMessage());
        }
    }

    /** A scalar constant of t's (float) type. */
    static T scalar(TfImporter imp, double v, ElemType type) {
        ElemType t = type == null ? ElemType.FLOAT : type;
        return imp.constant("scalar", Value.of(Tensor.scalar(v, t.storage()), t));
    }

    static T clip(TfImporter imp, T x, double lo, double hi) {
        T a = scalar(imp, lo, x.type()), b = scalar(imp, hi, x.type());
        return same(imp.emit("Clip", List.of(x.name(), a.name(), b.name()), Map.of()), x);
    }

    private static List<T> softmax(TfImporter imp, T x, String op) {
        T t = imp.nhwc(x);
        return List.of(same(imp.emit(op, List.of(t.name()), Map.of("axis", OnnxAttribute.ofInt("axis", -1))), t));
    }

    /**
     * A broadcasting binary op, kept in NCHW when one side is NCHW and the other is NCHW too or a
     * constant scalar or per-channel vector.
     */
    static T binary(TfImporter imp, String op, T a, T b, ElemType outType) {
        ElemType type = outType != null ? outType : a.type() != null ? a.type() : b.type();
        int rank = a.rank() < 0 || b.rank() < 0 ? -1 : Math.max(a.rank(), b.rank());
        if (a.nchw() || b.nchw()) {
            String an = nchwOperand(imp, a), bn = nchwOperand(imp, b);
            if (an != null && bn != null) return new T(imp.emit(op, List.of(an, bn), Map.of()), true, type, 4);
        }
        return new T(imp.emit(op, List.of(imp.nhwc(a).name(), imp.nhwc(b).name()), Map.of()), false, type, rank);
    }

    /** t's name for an NCHW binary op, or null when t cannot join one. */
    private static String nchwOperand(TfImporter imp, T t) {
        if (t.nchw()) return t.name();
        Value.TensorValue c = imp.constantOf(t);
        if (c == null) return null;
        int[] s = c.tensor().shape();
        if (c.tensor().numel() == 1 && s.length <= 1) return t.name();
        if (s.length != 1) return null;
        // a per-channel vector as a [C,1,1] constant (so that graph rewrites see a constant, e.g. a Conv's bias)
        try (Tensor view = c.tensor().reshape(s[0], 1, 1)) {
            Tensor copy = view.clone();
            copy.storage().seal();
            return imp.constant("per_channel", Value.of(copy, c.type())).name();
        }
    }

    private static T select(TfImporter imp, Node n, List<T> in, boolean v2) throws KilnFormatException {
        T c = imp.nhwc(in.get(0)), x = imp.nhwc(in.get(1)), y = imp.nhwc(in.get(2));
        String cond = c.name();
        if (!v2 && c.rank() != x.rank()) {
            // Select (v1): a vector condition picks whole rows
            if (c.rank() != 1 || x.rank() < 1)
                throw new KilnFormatException(imp.file() + ": " + n.describe() + ": Select needs the condition's rank (1 or that of the values)");
            long[] axes = new long[x.rank() - 1];
            for (int k = 0; k < axes.length; k++) axes[k] = k + 1;
            if (axes.length > 0) cond = imp.emit("Unsqueeze", List.of(cond, imp.int64s("axes", axes).name()), Map.of());
        }
        int rank = x.rank() < 0 || y.rank() < 0 || c.rank() < 0 ? -1 : Math.max(c.rank(), Math.max(x.rank(), y.rank()));
        return new T(imp.emit("Where", List.of(cond, x.name(), y.name()), Map.of()), false, x.type(), rank);
    }

    static Map<String, OnnxAttribute> attrs(OnnxAttribute... a) {
        Map<String, OnnxAttribute> m = new HashMap<>();
        for (OnnxAttribute x : a) m.put(x.name(), x);
        return m;
    }

    static long[] range(int from, int to) {
        long[] r = new long[Math.max(0, to - from)];
        for (int k = 0; k < r.length; k++) r[k] = from + k;
        return r;
    }

    static String show(long[] v) { return Arrays.toString(v); }
}
