package dev.kiln.onnx.ops;

import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.Value;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static dev.kiln.onnx.ops.ShapeElems.axis;
import static dev.kiln.onnx.ops.ShapeElems.prod;

/**
 * ONNX ops that order values: TopK (stable: equal values keep the smaller index first) and Unique
 * (elements or slices along an axis; sorted or in order of first occurrence; all four outputs).
 * Values are compared through order-preserving long keys, exact for every dtype.
 */
final class IndexSort {
    private IndexSort() {}

    static void register(OpRegistry r) {
        r.register("TopK", IndexSort::topK);
        r.register("Unique", IndexSort::unique);
    }

    /**
     * Keys whose signed order is the value order of the contiguous x: integers as themselves
     * (uint64 with the sign bit flipped), floats as sortable bits (-0 == 0, NaN above +inf).
     */
    static long[] keys(Tensor x, ElemType type) {
        DType t = x.dtype();
        Storage s = x.storage();
        long[] k = new long[Math.toIntExact(x.numel())];
        for (int i = 0; i < k.length; i++) {
            if (t.isFloating()) {
                long bits = Double.doubleToLongBits(s.getDouble(t, x.offset() + i) + 0.0);
                k[i] = bits < 0 ? bits ^ Long.MAX_VALUE : bits;
            } else {
                long v = s.getLong(t, x.offset() + i);
                k[i] = type == ElemType.UINT64 ? v ^ Long.MIN_VALUE : v;
            }
        }
        return k;
    }

    // ------------------------------------------------------------------ TopK

    private static List<Value> topK(OpCall call) {
        Tensor in = call.in(0);
        int r = in.dim();
        int a = axis(call, call.attrInt("axis", -1), r);
        long k = call.opset() < 10 ? call.attrInt("k", -1) : ShapeElems.scalarLong(call, 1);
        int[] xs = in.shape();
        int d = xs[a];
        if (k < 0 || k > d) throw call.error("k = " + k + " out of range for axis " + a + " of shape " + Shape.str(xs));
        boolean largest = call.attrInt("largest", 1) != 0;
        int[] os = xs.clone();
        os[a] = (int) k;
        long outer = prod(xs, 0, a), inner = prod(xs, a + 1, r);
        Tensor values = ShapeElems.alloc(in.dtype(), os);
        long[] indices = new long[Math.toIntExact(Shape.numel(os))];
        try (Tensor x = ShapeElems.host(in)) {
            long[] keys = keys(x, call.type(0));
            MemorySegment src = x.segment(), dst = values.segment();
            int es = x.dtype().byteSize();
            Integer[] order = new Integer[d];
            for (long o = 0; o < outer; o++) {
                for (long i = 0; i < inner; i++) {
                    long base = o * d * inner + i;
                    for (int p = 0; p < d; p++) order[p] = p;
                    // Arrays.sort on objects is stable: ties keep the smaller index first
                    Arrays.sort(order, (p, q) -> largest
                            ? Long.compare(keys[(int) (base + q * inner)], keys[(int) (base + p * inner)])
                            : Long.compare(keys[(int) (base + p * inner)], keys[(int) (base + q * inner)]));
                    for (int j = 0; j < k; j++) {
                        long oi = (o * k + j) * inner + i;
                        ShapeElems.move(src, x.offset() + base + order[j] * inner, dst, oi, es);
                        indices[(int) oi] = order[j];
                    }
                }
            }
        }
        return List.of(Value.of(values, call.type(0)), Value.of(ShapeElems.longs(indices, os), ElemType.INT64));
    }

    // ------------------------------------------------------------------ Unique

    /** A slice's keys as a hash-map key. */
    private record Item(long[] keys) {
        @Override public boolean equals(Object o) { return o instanceof Item it && Arrays.equals(keys, it.keys); }
        @Override public int hashCode() { return Arrays.hashCode(keys); }
    }

    private static List<Value> unique(OpCall call) {
        Tensor in = call.in(0);
        boolean sorted = call.attrInt("sorted", 1) != 0;
        boolean byAxis = call.hasAttr("axis");
        int a = byAxis ? axis(call, call.attrInt("axis", 0), in.dim()) : 0;
        try (Tensor base = byAxis ? ShapeElems.alias(in) : in.reshape(-1); Tensor x = ShapeElems.host(base)) {
            int[] xs = x.shape();
            int d = xs[a];
            long outer = prod(xs, 0, a), inner = prod(xs, a + 1, xs.length);
            long[] keys = keys(x, call.type(0));
            Map<Item, Integer> ids = new HashMap<>();
            List<Integer> first = new ArrayList<>();
            List<Long> counts = new ArrayList<>();
            int[] itemId = new int[d];
            Item[] items = new Item[d];
            for (int t = 0; t < d; t++) {
                long[] k = new long[(int) (outer * inner)];
                for (long o = 0; o < outer; o++)
                    for (long i = 0; i < inner; i++) k[(int) (o * inner + i)] = keys[(int) ((o * d + t) * inner + i)];
                items[t] = new Item(k);
                Integer id = ids.get(items[t]);
                if (id == null) {
                    id = first.size();
                    ids.put(items[t], id);
                    first.add(t);
                    counts.add(0L);
                }
                itemId[t] = id;
                counts.set(id, counts.get(id) + 1);
            }
            int u = first.size();
            Integer[] order = new Integer[u];
            for (int j = 0; j < u; j++) order[j] = j;
            if (sorted) Arrays.sort(order, (p, q) -> Arrays.compare(items[first.get(p)].keys, items[first.get(q)].keys));
            int[] rank = new int[u];
            long[] firstPos = new long[u], count = new long[u], inverse = new long[d];
            for (int j = 0; j < u; j++) {
                rank[order[j]] = j;
                firstPos[j] = first.get(order[j]);
                count[j] = counts.get(order[j]);
            }
            for (int t = 0; t < d; t++) inverse[t] = rank[itemId[t]];
            List<Value> out = new ArrayList<>(4);
            out.add(Value.of(IndexOps.select(call, x, a, firstPos), call.type(0)));
            out.add(Value.of(ShapeElems.longs(firstPos, u), ElemType.INT64));
            out.add(Value.of(ShapeElems.longs(inverse, d), ElemType.INT64));
            out.add(Value.of(ShapeElems.longs(count, u), ElemType.INT64));
            int want = Math.max(1, Math.min(4, call.outputCount()));
            for (Value v : out.subList(want, 4)) v.tensor().close();
            return List.copyOf(out.subList(0, want));
        }
    }
}
