package dev.kiln.onnx.ops;

import dev.kiln.backend.Backends;
import dev.kiln.onnx.Value;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;

import java.util.Arrays;
import java.util.List;

import static dev.kiln.onnx.ops.ShapeElems.index;
import static dev.kiln.onnx.ops.ShapeElems.one;
import static dev.kiln.onnx.ops.ShapeElems.prod;

/**
 * ONNX scatters: ScatterElements (and its deprecated alias Scatter) and ScatterND, with the
 * reductions none / add / mul / max / min. The output is a copy of data; updates are applied in
 * index order, so with reduction none a repeated index keeps the last update.
 */
final class IndexScatter {
    private IndexScatter() {}

    static void register(OpRegistry r) {
        r.register("ScatterElements", IndexScatter::scatterElements);
        r.register("Scatter", IndexScatter::scatterElements);
        r.register("ScatterND", IndexScatter::scatterNd);
    }

    private enum Reduction { NONE, ADD, MUL, MAX, MIN }

    private static Reduction reduction(OpCall call) {
        String s = call.attrString("reduction", "none");
        return switch (s) {
            case "none" -> Reduction.NONE;
            case "add" -> Reduction.ADD;
            case "mul" -> Reduction.MUL;
            case "max" -> Reduction.MAX;
            case "min" -> Reduction.MIN;
            default -> throw call.error("unknown reduction '" + s + "'");
        };
    }

    /** A contiguous CPU copy of data: the output to scatter into. */
    private static Tensor copyOf(Tensor data) {
        return data.backend().isHost() ? data.clone() : data.to(Backends.cpu());
    }

    private static List<Value> scatterElements(OpCall call) {
        Tensor data = call.in(0), idx = call.in(1);
        int[] ds = data.shape(), is = idx.shape();
        int r = ds.length;
        int a = ShapeElems.axis(call, call.attrInt("axis", 0), r);
        if (is.length != r || !Arrays.equals(is, call.in(2).shape()))
            throw call.error("indices " + Shape.str(is) + " and updates " + Shape.str(call.in(2).shape())
                    + " must have one shape of the rank of data " + Shape.str(ds));
        Reduction red = reduction(call);
        long[] iv = idx.toLongArray();
        long[] os = Shape.contiguousStrides(ds);
        Tensor out = copyOf(data);
        try (Tensor u = ShapeElems.host(call.in(2))) {
            int[] c = new int[r];
            for (int k = 0; k < iv.length; k++) {
                long di = out.offset();
                for (int d = 0; d < r; d++) {
                    if (d != a && c[d] >= ds[d]) throw call.error("indices shape " + Shape.str(is) + " exceeds data shape " + Shape.str(ds));
                    di += (d == a ? index(call, iv[k], ds[a]) : c[d]) * os[d];
                }
                apply(red, out, di, u, u.offset() + k);
                for (int d = r - 1; d >= 0 && ++c[d] == is[d]; d--) c[d] = 0;
            }
        }
        return one(call, out);
    }

    /** ScatterND: each index tuple (last dim of indices) addresses a slice of data updated as a block. */
    private static List<Value> scatterNd(OpCall call) {
        Tensor data = call.in(0), idx = call.in(1);
        int[] ds = data.shape(), is = idx.shape(), us = call.in(2).shape();
        int q = is.length, r = ds.length;
        if (q < 1) throw call.error("indices must have rank >= 1");
        int m = is[q - 1];
        if (m > r) throw call.error("index tuples of length " + m + " too long for data " + Shape.str(ds));
        int[] expect = new int[q - 1 + r - m];
        System.arraycopy(is, 0, expect, 0, q - 1);
        System.arraycopy(ds, m, expect, q - 1, r - m);
        if (!Arrays.equals(expect, us)) throw call.error("updates shape " + Shape.str(us) + ", expected " + Shape.str(expect));
        Reduction red = reduction(call);
        long[] iv = idx.toLongArray();
        long tuples = prod(is, 0, q - 1), chunk = prod(ds, m, r);
        Tensor out = copyOf(data);
        try (Tensor u = ShapeElems.host(call.in(2))) {
            for (long t = 0; t < tuples; t++) {
                long pos = 0;
                for (int j = 0; j < m; j++) pos = pos * ds[j] + index(call, iv[(int) (t * m + j)], ds[j]);
                long di = out.offset() + pos * chunk, ui = u.offset() + t * chunk;
                if (red == Reduction.NONE) ShapeElems.moveRun(u.segment(), ui, out.segment(), di, chunk, out.dtype().byteSize());
                else for (long e = 0; e < chunk; e++) apply(red, out, di + e, u, ui + e);
            }
        }
        return one(call, out);
    }

    /** out[di] = reduce(out[di], u[ui]) (storage indices; floats in double, integers in long). */
    private static void apply(Reduction red, Tensor out, long di, Tensor u, long ui) {
        DType t = out.dtype();
        if (red == Reduction.NONE) {
            ShapeElems.move(u.segment(), ui, out.segment(), di, t.byteSize());
            return;
        }
        Storage os = out.storage(), us = u.storage();
        if (t.isFloating()) {
            double a = os.getDouble(t, di), b = us.getDouble(t, ui);
            os.setDouble(t, di, switch (red) {
                case ADD -> a + b;
                case MUL -> a * b;
                case MAX -> Math.max(a, b);
                default -> Math.min(a, b);
            });
        } else {
            long a = os.getLong(t, di), b = us.getLong(t, ui);
            os.setLong(t, di, switch (red) {
                case ADD -> t == DType.BOOL ? a | b : a + b;
                case MUL -> t == DType.BOOL ? a & b : a * b;
                case MAX -> Math.max(a, b);
                default -> Math.min(a, b);
            });
        }
    }
}
