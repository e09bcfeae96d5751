package dev.kiln.savedmodel;

import dev.kiln.io.KilnFormatException;
import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.OnnxAttribute;
import dev.kiln.onnx.Value;
import dev.kiln.savedmodel.TfGraph.Node;
import dev.kiln.savedmodel.TfImporter.T;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static dev.kiln.savedmodel.TfOps.attrs;
import static dev.kiln.savedmodel.TfOps.b;
import static dev.kiln.savedmodel.TfOps.constInts;
import static dev.kiln.savedmodel.TfOps.i;
import static dev.kiln.savedmodel.TfOps.ints;
import static dev.kiln.savedmodel.TfOps.same;

/** TF op table entries for shapes, indexing, reductions and layout (see {@link TfOps}). */
final class TfShapeOps {
    private TfShapeOps() {}

    /** NHWC axis -> NCHW axis. */
    private static final int[] TO_NCHW = {0, 2, 3, 1};

    static void register(Map<String, TfOps.Lowering> t) {
        t.put("Reshape", (imp, n, in) -> {
            T x = imp.nhwc(in.get(0));
            Value.TensorValue c = imp.constantOf(in.get(1));
            String shape;
            int rank;
            boolean zero = false;
            if (c != null) {
                long[] s = constInts(imp, n, in.get(1), "shape");
                for (long v : s) zero |= v == 0;
                shape = imp.int64s("shape", s).name();
                rank = s.length;
            } else {
                shape = toInt64(imp, in.get(1));
                rank = -1;
                zero = true;
            }
            return List.of(new T(imp.emit("Reshape", List.of(x.name(), shape), attrs(OnnxAttribute.ofInt("allowzero", zero ? 1 : 0))), false, x.type(), rank));
        });
        t.put("Transpose", (imp, n, in) -> {
            long[] perm = constInts(imp, n, in.get(1), "perm");
            if (in.get(0).nchw() && java.util.Arrays.equals(perm, new long[] {0, 3, 1, 2}))
                return List.of(new T(in.get(0).name(), false, in.get(0).type(), 4));    // NHWC -> NCHW of a tensor held as NCHW
            T x = imp.nhwc(in.get(0));
            return List.of(new T(imp.emit("Transpose", List.of(x.name()), attrs(OnnxAttribute.ofInts("perm", perm))), false, x.type(), perm.length));
        });
        t.put("ConcatV2", (imp, n, in) -> concat(imp, n, in.subList(0, in.size() - 1), in.get(in.size() - 1)));
        t.put("Concat", (imp, n, in) -> concat(imp, n, in.subList(1, in.size()), in.get(0)));
        t.put("Pack", (imp, n, in) -> {
            long axis = i(n, "axis", 0);
            List<String> parts = new ArrayList<>();
            T axes = imp.int64s("axes", axis);
            int rank = -1;
            for (T x : in) {
                T h = imp.nhwc(x);
                rank = h.rank() < 0 ? -1 : h.rank() + 1;
                parts.add(imp.emit("Unsqueeze", List.of(h.name(), axes.name()), Map.of()));
            }
            return List.of(new T(imp.emit("Concat", parts, attrs(OnnxAttribute.ofInt("axis", axis))), false, in.get(0).type(), rank));
        });
        t.put("Unpack", (imp, n, in) -> {
            long axis = i(n, "axis", 0);
            int num = (int) i(n, "num", -1);
            if (num < 1) throw new KilnFormatException(imp.file() + ": " + n.describe() + " has no 'num'");
            T x = imp.nhwc(in.get(0));
            List<String> parts = imp.emitN("Split", List.of(x.name()), attrs(OnnxAttribute.ofInt("axis", axis)), num);
            T axes = imp.int64s("axes", axis);
            List<T> out = new ArrayList<>();
            for (String p : parts)
                out.add(new T(imp.emit("Squeeze", List.of(p, axes.name()), Map.of()), false, x.type(), x.rank() < 0 ? -1 : x.rank() - 1));
            return out;
        });
        t.put("Squeeze", (imp, n, in) -> {
            T x = imp.nhwc(in.get(0));
            long[] axes = ints(n, "squeeze_dims");
            if (axes.length == 0) axes = ints(n, "axis");
            List<String> ins = new ArrayList<>(List.of(x.name()));
            if (axes.length > 0) ins.add(imp.int64s("axes", axes).name());
            int rank = axes.length == 0 || x.rank() < 0 ? -1 : x.rank() - axes.length;
            return List.of(new T(imp.emit("Squeeze", ins, Map.of()), false, x.type(), rank));
        });
        t.put("ExpandDims", (imp, n, in) -> {
            T x = imp.nhwc(in.get(0));
            long[] axis = constInts(imp, n, in.get(1), "dim");
            return List.of(new T(imp.emit("Unsqueeze", List.of(x.name(), imp.int64s("axes", axis).name()), Map.of()), false, x.type(),
                    x.rank() < 0 ? -1 : x.rank() + 1));
        });
        t.put("Shape", (imp, n, in) -> {
            T x = in.get(0);
            String s = imp.emit("Shape", List.of(x.name()), Map.of());
            if (x.nchw()) s = imp.emit("Gather", List.of(s, imp.int64s("nhwc", 0, 2, 3, 1).name()), attrs(OnnxAttribute.ofInt("axis", 0)));
            ElemType out = n.attrs().containsKey("out_type") ? TfOps.type(imp, n, "out_type") : ElemType.INT32;
            if (out != ElemType.INT64) s = imp.emit("Cast", List.of(s), attrs(OnnxAttribute.ofInt("to", out.code())));
            return List.of(new T(s, false, out, 1));
        });
        t.put("Size", (imp, n, in) -> {
            String s = imp.emit("Size", List.of(in.get(0).name()), Map.of());
            ElemType out = n.attrs().containsKey("out_type") ? TfOps.type(imp, n, "out_type") : ElemType.INT32;
            if (out != ElemType.INT64) s = imp.emit("Cast", List.of(s), attrs(OnnxAttribute.ofInt("to", out.code())));
            return List.of(new T(s, false, out, 0));
        });
        t.put("GatherV2", (imp, n, in) -> {
            if (i(n, "batch_dims", 0) != 0) throw new KilnFormatException(imp.file() + ": " + n.describe() + ": batch_dims is not supported");
            long[] axis = constInts(imp, n, in.get(2), "axis");
            return List.of(gather(imp, in.get(0), in.get(1), axis[0]));
        });
        t.put("Gather", (imp, n, in) -> List.of(gather(imp, in.get(0), in.get(1), 0)));
        t.put("ResourceGather", (imp, n, in) -> {
            if (i(n, "batch_dims", 0) != 0) throw new KilnFormatException(imp.file() + ": " + n.describe() + ": batch_dims is not supported");
            return List.of(gather(imp, in.get(0), in.get(1), 0));
        });
        t.put("Einsum", (imp, n, in) -> {
            String eq = TfOps.s(n, "equation", "");
            T mm = TfNnOps.einsumAsMatMul(imp, eq, in);
            if (mm != null) return List.of(mm);
            List<String> names = new ArrayList<>();
            for (T x : in) names.add(imp.nhwc(x).name());
            int arrow = eq.indexOf("->");
            int rank = arrow < 0 || eq.contains("...") ? -1 : eq.substring(arrow + 2).trim().length();
            return List.of(new T(imp.emit("Einsum", names, attrs(OnnxAttribute.ofString("equation", eq))), false, in.get(0).type(), rank));
        });
        t.put("Fill", (imp, n, in) -> {
            String dims = toInt64(imp, in.get(0));
            Value.TensorValue c = imp.constantOf(in.get(0));
            int rank = c != null ? (int) c.tensor().numel() : -1;
            return List.of(new T(imp.emit("Expand", List.of(imp.nhwc(in.get(1)).name(), dims), Map.of()), false, in.get(1).type(), rank));
        });
        t.put("ZerosLike", (imp, n, in) -> List.of(like(imp, in.get(0), 0)));
        t.put("OnesLike", (imp, n, in) -> List.of(like(imp, in.get(0), 1)));
        t.put("Range", (imp, n, in) -> List.of(new T(imp.emit("Range", List.of(in.get(0).name(), in.get(1).name(), in.get(2).name()), Map.of()),
                false, in.get(0).type(), 1)));
        t.put("Tile", (imp, n, in) -> {
            T x = imp.nhwc(in.get(0));
            return List.of(same(imp.emit("Tile", List.of(x.name(), toInt64(imp, in.get(1))), Map.of()), x));
        });
        t.put("Pad", (imp, n, in) -> List.of(pad(imp, n, in, "constant")));
        t.put("PadV2", (imp, n, in) -> List.of(pad(imp, n, in, "constant")));
        t.put("MirrorPad", (imp, n, in) -> {
            String mode = TfOps.s(n, "mode", "REFLECT");
            if (!mode.equals("REFLECT")) throw new KilnFormatException(imp.file() + ": " + n.describe() + ": MirrorPad mode " + dev.kiln.onnx.proto.ProtoReader.printable(mode, 40) + " is not supported");
            return List.of(pad(imp, n, in, "reflect"));
        });
        t.put("ArgMax", (imp, n, in) -> List.of(arg(imp, n, in, "ArgMax")));
        t.put("ArgMin", (imp, n, in) -> List.of(arg(imp, n, in, "ArgMin")));
        t.put("Split", (imp, n, in) -> {
            long axis = constInts(imp, n, in.get(0), "axis")[0];
            int num = (int) i(n, "num_split", 1);
            T x = imp.nhwc(in.get(1));
            List<T> out = new ArrayList<>();
            for (String p : imp.emitN("Split", List.of(x.name()), attrs(OnnxAttribute.ofInt("axis", axis)), num)) out.add(same(p, x));
            return out;
        });
        t.put("SplitV", (imp, n, in) -> {
            long[] sizes = constInts(imp, n, in.get(1), "size_splits");
            long axis = constInts(imp, n, in.get(2), "axis")[0];
            for (long s : sizes) if (s < 0) throw new KilnFormatException(imp.file() + ": " + n.describe() + ": inferred (-1) split sizes are not supported");
            T x = imp.nhwc(in.get(0));
            List<T> out = new ArrayList<>();
            for (String p : imp.emitN("Split", List.of(x.name(), imp.int64s("split", sizes).name()), attrs(OnnxAttribute.ofInt("axis", axis)), sizes.length))
                out.add(same(p, x));
            return out;
        });
        t.put("Slice", (imp, n, in) -> {
            T x = imp.nhwc(in.get(0));
            long[] begin = constInts(imp, n, in.get(1), "begin"), size = constInts(imp, n, in.get(2), "size");
            long[] end = new long[begin.length];
            for (int k = 0; k < end.length; k++) end[k] = size[k] < 0 ? Long.MAX_VALUE : begin[k] + size[k];
            String out = imp.emit("Slice", List.of(x.name(), imp.int64s("starts", begin).name(), imp.int64s("ends", end).name(),
                    imp.int64s("axes", TfOps.range(0, begin.length)).name()), Map.of());
            return List.of(same(out, x));
        });
        t.put("StridedSlice", TfStridedSlice::lower);
    }

    /** t as an int64 tensor (ONNX shape inputs are int64; TF's are usually int32). */
    static String toInt64(TfImporter imp, T t) throws KilnFormatException {
        Value.TensorValue c = imp.constantOf(t);
        if (c != null) return imp.int64s("i64", TfTensors.longs(c)).name();
        if (t.type() == ElemType.INT64) return t.name();
        return imp.emit("Cast", List.of(t.name()), attrs(OnnxAttribute.ofInt("to", ElemType.INT64.code())));
    }

    static T reduce(TfImporter imp, Node n, List<T> in, String op) throws KilnFormatException {
        long[] axes = constInts(imp, n, in.get(1), "reduction_indices");
        boolean keep = b(n, "keep_dims", false);
        T x = in.get(0);
        if (axes.length == 0) return same(imp.emit("Identity", List.of(imp.nhwc(x).name()), Map.of()), imp.nhwc(x));
        boolean nchw = x.nchw() && (keep || orderKept(axes));
        if (!nchw) x = imp.nhwc(x);
        long[] ax = axes.clone();
        if (nchw) for (int k = 0; k < ax.length; k++) ax[k] = TO_NCHW[(int) Math.floorMod(ax[k], 4)];
        // from the end when the rank is known, as ONNX exporters write it (the layer-norm fusion looks for axes [-1])
        else if (x.rank() > 0) for (int k = 0; k < ax.length; k++) if (ax[k] >= 0 && ax[k] < x.rank()) ax[k] -= x.rank();
        int rank = x.rank() < 0 ? -1 : keep ? x.rank() : x.rank() - axes.length;
        String out = op.equals("ReduceSum")
                ? imp.emit(op, List.of(x.name(), imp.int64s("axes", ax).name()), attrs(OnnxAttribute.ofInt("keepdims", keep ? 1 : 0)))
                : imp.emit(op, List.of(x.name()), attrs(OnnxAttribute.ofInts("axes", ax), OnnxAttribute.ofInt("keepdims", keep ? 1 : 0)));
        return new T(out, nchw && keep, x.type(), rank);
    }

    /** Whether the axes an NHWC reduction keeps come out in the same order when it runs on NCHW. */
    private static boolean orderKept(long[] axes) {
        boolean[] reduced = new boolean[4];
        for (long a : axes) {
            if (a < -4 || a > 3) return false;
            reduced[(int) Math.floorMod(a, 4)] = true;
        }
        int last = -1;
        for (int a = 0; a < 4; a++) {
            if (reduced[a]) continue;
            if (TO_NCHW[a] < last) return false;
            last = TO_NCHW[a];
        }
        return true;
    }

    private static List<T> concat(TfImporter imp, Node n, List<T> parts, T axisT) throws KilnFormatException {
        long axis = constInts(imp, n, axisT, "axis")[0];
        boolean allNchw = !parts.isEmpty();
        for (T p : parts) allNchw &= p.nchw();
        List<String> names = new ArrayList<>();
        for (T p : parts) names.add(allNchw ? p.name() : imp.nhwc(p).name());
        long ax = allNchw ? TO_NCHW[(int) Math.floorMod(axis, 4)] : axis;
        T first = parts.get(0);
        return List.of(new T(imp.emit("Concat", names, attrs(OnnxAttribute.ofInt("axis", ax))), allNchw, first.type(), allNchw ? 4 : first.rank()));
    }

    private static T gather(TfImporter imp, T params, T indices, long axis) {
        T p = imp.nhwc(params), i = imp.nhwc(indices);
        int rank = p.rank() < 0 || i.rank() < 0 ? -1 : p.rank() + i.rank() - 1;
        return new T(imp.emit("Gather", List.of(p.name(), i.name()), attrs(OnnxAttribute.ofInt("axis", axis))), false, p.type(), rank);
    }

    private static T like(TfImporter imp, T x, double v) {
        T h = imp.nhwc(x);
        String shape = imp.emit("Shape", List.of(h.name()), Map.of());
        return same(imp.emit("Expand", List.of(TfOps.scalar(imp, v, h.type()).name(), shape), Map.of()), h);
    }

    private static T pad(TfImporter imp, Node n, List<T> in, String mode) throws KilnFormatException {
        T x = imp.nhwc(in.get(0));
        long[] p = constInts(imp, n, in.get(1), "paddings");
        int r = p.length / 2;
        long[] pads = new long[p.length];
        for (int k = 0; k < r; k++) {
            pads[k] = p[2 * k];
            pads[r + k] = p[2 * k + 1];
        }
        List<String> ins = new ArrayList<>(List.of(x.name(), imp.int64s("pads", pads).name()));
        if (in.size() > 2) ins.add(in.get(2).name());
        return same(imp.emit("Pad", ins, attrs(OnnxAttribute.ofString("mode", mode))), x);
    }

    private static T arg(TfImporter imp, Node n, List<T> in, String op) throws KilnFormatException {
        T x = imp.nhwc(in.get(0));
        long axis = constInts(imp, n, in.get(1), "dimension")[0];
        String out = imp.emit(op, List.of(x.name()), attrs(OnnxAttribute.ofInt("axis", axis), OnnxAttribute.ofInt("keepdims", 0)));
        ElemType type = n.attrs().containsKey("output_type") ? TfOps.type(imp, n, "output_type") : ElemType.INT64;
        if (type != ElemType.INT64) out = imp.emit("Cast", List.of(out), attrs(OnnxAttribute.ofInt("to", type.code())));
        return new T(out, false, type, x.rank() < 0 ? -1 : x.rank() - 1);
    }
}
