package dev.kiln.savedmodel;

import dev.kiln.io.KilnFormatException;
import dev.kiln.onnx.OnnxAttribute;
import dev.kiln.onnx.Value;
import dev.kiln.savedmodel.TfGraph.Node;
import dev.kiln.savedmodel.TfImporter.T;
import dev.kiln.tensor.Tensor;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static dev.kiln.savedmodel.TfOps.attrs;

/**
 * TF op table entries for matrix products, convolutions, pooling and batch norm (see {@link TfOps}).
 * NHWC ops run in NCHW ({@link TfImporter#nchw}); constant filters are re-laid out once, at import.
 */
final class TfNnOps {
    private TfNnOps() {}

    static void register(Map<String, TfOps.Lowering> t) {
        t.put("MatMul", (imp, n, in) -> List.of(matmul(imp, in.get(0), in.get(1),
                TfOps.b(n, "transpose_a", false), TfOps.b(n, "transpose_b", false))));
        for (String op : new String[] {"BatchMatMul", "BatchMatMulV2", "BatchMatMulV3"})
            t.put(op, (imp, n, in) -> {
                boolean adjX = TfOps.b(n, "adj_x", false), adjY = TfOps.b(n, "adj_y", false);
                if ((adjX && in.get(0).rank() < 0 && imp.constantOf(in.get(0)) == null)
                        || (adjY && in.get(1).rank() < 0 && imp.constantOf(in.get(1)) == null))
                    throw new KilnFormatException(imp.file() + ": " + n.describe() + ": adjoint of a tensor of unknown rank");
                return List.of(matmul(imp, in.get(0), in.get(1), adjX, adjY));
            });
        t.put("Conv2D", TfNnOps::conv);
        t.put("DepthwiseConv2dNative", TfNnOps::conv);
        t.put("MaxPool", (imp, n, in) -> pool(imp, n, in, "MaxPool"));
        t.put("AvgPool", (imp, n, in) -> pool(imp, n, in, "AveragePool"));
        for (String op : new String[] {"FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3"})
            t.put(op, TfNnOps::batchNorm);
    }

    /** A constant's tensor permuted (and reshaped) into a new sealed constant, or null when t is computed. */
    private static T relaid(TfImporter imp, T t, int[] perm, int[] shape) {
        Value.TensorValue c = imp.constantOf(t);
        if (c == null) return null;
        Tensor p = c.tensor().permute(perm);
        Tensor copy = p.clone();
        p.close();
        if (shape != null) {
            Tensor r = copy.reshape(shape);
            copy.close();
            copy = r;
        }
        copy.storage().seal();
        return imp.constant("relaid", Value.of(copy, c.type()));
    }

    /** A transpose of the last two axes: of the constant itself when t is constant, else an ONNX Transpose. */
    private static T swapLast(TfImporter imp, T t) {
        Value.TensorValue c = imp.constantOf(t);
        int r = c != null ? c.tensor().shape().length : t.rank();
        int[] perm = new int[r];
        for (int k = 0; k < r; k++) perm[k] = k;
        perm[r - 1] = r - 2;
        perm[r - 2] = r - 1;
        T re = relaid(imp, t, perm, null);
        if (re != null) return re;
        long[] lp = new long[r];
        for (int k = 0; k < r; k++) lp[k] = perm[k];
        return TfOps.same(imp.emit("Transpose", List.of(imp.nhwc(t).name()), attrs(OnnxAttribute.ofInts("perm", lp))), imp.nhwc(t));
    }

    private static T matmul(TfImporter imp, T a, T b, boolean ta, boolean tb) {
        T x = ta ? swapLast(imp, a) : imp.nhwc(a);
        T y = tb ? swapLast(imp, b) : imp.nhwc(b);
        int rank = x.rank() < 0 || y.rank() < 0 ? -1 : Math.max(x.rank(), y.rank());
        return new T(imp.emit("MatMul", List.of(x.name(), y.name()), Map.of()), false, x.type(), rank);
    }

    /**
     * An Einsum that is a matrix product with a 2-d right operand, "Pk,kn->Pn" or "Pk,nk->Pn" (P any
     * run of other letters, e.g. Keras' EinsumDense "bsd,df->bsf"), as a MatMul, so that it reaches
     * the GEMM and its bias/activation fusion; null for any other equation.
     */
    static T einsumAsMatMul(TfImporter imp, String eq, List<T> in) {
        String e = eq.replace(" ", "");
        int arrow = e.indexOf("->"), comma = e.indexOf(',');
        if (in.size() != 2 || arrow < 0 || comma < 0 || comma > arrow || e.contains(".")) return null;
        String a = e.substring(0, comma), b = e.substring(comma + 1, arrow), out = e.substring(arrow + 2);
        if (a.isEmpty() || b.length() != 2 || out.length() != a.length()) return null;
        String p = a.substring(0, a.length() - 1);
        char k = a.charAt(a.length() - 1), n = out.charAt(out.length() - 1);
        if (k == n || !out.startsWith(p) || p.indexOf(k) >= 0 || p.indexOf(n) >= 0 || p.chars().distinct().count() != p.length()) return null;
        boolean transposed;
        if (b.charAt(0) == k && b.charAt(1) == n) transposed = false;
        else if (b.charAt(0) == n && b.charAt(1) == k) transposed = true;
        else return null;
        if (transposed && in.get(1).rank() != 2 && imp.constantOf(in.get(1)) == null) return null;
        return matmul(imp, in.get(0), in.get(1), false, transposed);
    }

    static List<T> biasAdd(TfImporter imp, Node n, List<T> in) throws KilnFormatException {
        T x = in.get(0), bias = in.get(1);
        String format = TfOps.s(n, "data_format", "NHWC");
        if (format.startsWith("NC")) {
            // NCHW: the bias runs along axis 1
            int rank = x.rank();
            if (rank < 0) throw new KilnFormatException(imp.file() + ": " + n.describe() + ": NCHW BiasAdd on a tensor of unknown rank");
            T b = bias;
            if (rank > 2) b = TfOps.same(imp.emit("Unsqueeze", List.of(bias.name(), imp.int64s("axes", TfOps.range(1, rank - 1)).name()), Map.of()), bias);
            return List.of(new T(imp.emit("Add", List.of(x.name(), b.name()), Map.of()), false, x.type(), rank));
        }
        if (x.nchw() && imp.constantOf(bias) == null) x = imp.nhwc(x);
        return List.of(TfOps.binary(imp, "Add", x, bias, null));
    }

    private record Window(long[] kernel, long[] strides, long[] dilations, Map<String, OnnxAttribute> pad, boolean nhwc) {}

    /** The spatial attributes of a 2-d NHWC/NCHW op, as ONNX attributes of its NCHW form. */
    private static Window window(TfImporter imp, Node n, long[] kernel) throws KilnFormatException {
        String format = TfOps.s(n, "data_format", "NHWC");
        boolean nhwc = !format.startsWith("NC");
        int h = nhwc ? 1 : 2, w = nhwc ? 2 : 3;
        long[] s = TfOps.ints(n, "strides"), d = TfOps.ints(n, "dilations");
        long[] strides = s.length == 4 ? new long[] {s[h], s[w]} : new long[] {1, 1};
        long[] dil = d.length == 4 ? new long[] {d[h], d[w]} : new long[] {1, 1};
        String padding = TfOps.s(n, "padding", "VALID");
        Map<String, OnnxAttribute> pad = switch (padding) {
            case "SAME" -> attrs(OnnxAttribute.ofString("auto_pad", "SAME_UPPER"));
            case "VALID" -> attrs(OnnxAttribute.ofString("auto_pad", "VALID"));
            case "EXPLICIT" -> {
                long[] e = TfOps.ints(n, "explicit_paddings");
                if (e.length != 8) throw new KilnFormatException(imp.file() + ": " + n.describe() + ": explicit_paddings must have 8 values");
                yield attrs(OnnxAttribute.ofInts("pads", e[2 * h], e[2 * w], e[2 * h + 1], e[2 * w + 1]));
            }
            default -> throw new KilnFormatException(imp.file() + ": " + n.describe() + ": padding " + dev.kiln.onnx.proto.ProtoReader.printable(padding, 40) + " is not supported");
        };
        return new Window(kernel, strides, dil, pad, nhwc);
    }

    private static List<T> conv(TfImporter imp, Node n, List<T> in) throws IOException {
        boolean depthwise = n.op().equals("DepthwiseConv2dNative");
        Value.TensorValue f = imp.constantOf(in.get(1));
        if (f == null || f.tensor().shape().length != 4)
            throw new KilnFormatException(imp.file() + ": " + n.describe() + ": the filter must be a constant 4-d tensor");
        int[] fs = f.tensor().shape();   // [H, W, Cin, Cout] or [H, W, Cin, multiplier]
        T weight = depthwise
                ? relaid(imp, in.get(1), new int[] {2, 3, 0, 1}, new int[] {fs[2] * fs[3], 1, fs[0], fs[1]})
                : relaid(imp, in.get(1), new int[] {3, 2, 0, 1}, null);
        Window win = window(imp, n, new long[] {fs[0], fs[1]});
        T x = win.nhwc ? imp.nchw(in.get(0)) : imp.nhwc(in.get(0));
        Map<String, OnnxAttribute> a = attrs(OnnxAttribute.ofInts("kernel_shape", win.kernel), OnnxAttribute.ofInts("strides", win.strides),
                OnnxAttribute.ofInts("dilations", win.dilations), OnnxAttribute.ofInt("group", depthwise ? fs[2] : 1));
        a.putAll(win.pad);
        return List.of(new T(imp.emit("Conv", List.of(x.name(), weight.name()), a), win.nhwc, x.type(), 4));
    }

    private static List<T> pool(TfImporter imp, Node n, List<T> in, String op) throws KilnFormatException {
        long[] k = TfOps.ints(n, "ksize");
        if (k.length != 4) throw new KilnFormatException(imp.file() + ": " + n.describe() + ": ksize must have 4 values (pools with a kernel input are not supported)");
        String format = TfOps.s(n, "data_format", "NHWC");
        boolean nhwc = !format.startsWith("NC");
        Window win = window(imp, n, nhwc ? new long[] {k[1], k[2]} : new long[] {k[2], k[3]});
        T x = nhwc ? imp.nchw(in.get(0)) : imp.nhwc(in.get(0));
        Map<String, OnnxAttribute> a = attrs(OnnxAttribute.ofInts("kernel_shape", win.kernel), OnnxAttribute.ofInts("strides", win.strides));
        a.putAll(win.pad);
        return List.of(new T(imp.emit(op, List.of(x.name()), a), nhwc, x.type(), 4));
    }

    private static List<T> batchNorm(TfImporter imp, Node n, List<T> in) throws KilnFormatException {
        if (TfOps.b(n, "is_training", true))
            throw new KilnFormatException(imp.file() + ": " + n.describe() + ": batch norm in training mode (is_training=true) cannot run for inference");
        String format = TfOps.s(n, "data_format", "NHWC");
        boolean nhwc = !format.startsWith("NC");
        T x = nhwc ? imp.nchw(in.get(0)) : in.get(0);
        List<String> ins = new ArrayList<>(List.of(x.name()));
        for (int k = 1; k <= 4; k++) ins.add(in.get(k).name());
        String y = imp.emit("BatchNormalization", ins, attrs(OnnxAttribute.ofFloat("epsilon", (float) TfOps.f(n, "epsilon", 1e-4))));
        List<T> out = new ArrayList<>();
        out.add(new T(y, nhwc, x.type(), 4));
        for (int k = 0; k < 5; k++) out.add(null);
        return out;
    }
}
