package dev.kiln.savedmodel;

import dev.kiln.io.KilnFormatException;
import dev.kiln.savedmodel.TfGraph.Node;
import dev.kiln.savedmodel.TfImporter.T;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * TF {@code StridedSlice} with constant begin/end/strides and its five masks, lowered to ONNX
 * {@code Slice}, then {@code Squeeze} (shrink_axis_mask) and {@code Unsqueeze} (new_axis_mask).
 * An ellipsis needs the input's rank to be known.
 */
final class TfStridedSlice {
    private TfStridedSlice() {}

    static List<T> lower(TfImporter imp, Node n, List<T> in) throws IOException {
        T x = imp.nhwc(in.get(0));
        long[] begin = TfOps.constInts(imp, n, in.get(1), "begin");
        long[] end = TfOps.constInts(imp, n, in.get(2), "end");
        long[] strides = TfOps.constInts(imp, n, in.get(3), "strides");
        if (begin.length != end.length || begin.length != strides.length)
            throw new KilnFormatException(imp.file() + ": " + n.describe() + ": begin, end and strides differ in length");
        long beginMask = TfOps.i(n, "begin_mask", 0), endMask = TfOps.i(n, "end_mask", 0),
                ellipsisMask = TfOps.i(n, "ellipsis_mask", 0), newAxisMask = TfOps.i(n, "new_axis_mask", 0),
                shrinkMask = TfOps.i(n, "shrink_axis_mask", 0);
        int specs = begin.length;
        if (Long.bitCount(ellipsisMask) > 1)
            throw new KilnFormatException(imp.file() + ": " + n.describe() + ": more than one ellipsis");
        int consumed = 0;   // input dims the non-ellipsis specs consume
        for (int k = 0; k < specs; k++) if ((ellipsisMask >> k & 1) == 0 && (newAxisMask >> k & 1) == 0) consumed++;
        int ellipsisDims = 0;
        if (ellipsisMask != 0) {
            if (x.rank() < 0) throw new KilnFormatException(imp.file() + ": " + n.describe() + ": an ellipsis on a tensor of unknown rank");
            ellipsisDims = x.rank() - consumed;
            if (ellipsisDims < 0) throw new KilnFormatException(imp.file() + ": " + n.describe() + ": more slice specs than dimensions");
        }
        List<Long> starts = new ArrayList<>(), ends = new ArrayList<>(), axes = new ArrayList<>(), steps = new ArrayList<>(),
                squeeze = new ArrayList<>(), unsqueeze = new ArrayList<>();
        int dim = 0, outDim = 0;
        for (int k = 0; k < specs; k++) {
            if ((ellipsisMask >> k & 1) != 0) {
                dim += ellipsisDims;
                outDim += ellipsisDims;
                continue;
            }
            if ((newAxisMask >> k & 1) != 0) {
                unsqueeze.add((long) outDim++);
                continue;
            }
            long s = strides[k];
            if (s == 0) throw new KilnFormatException(imp.file() + ": " + n.describe() + ": stride 0");
            if ((shrinkMask >> k & 1) != 0) {
                starts.add(begin[k]);
                ends.add(begin[k] == -1 ? Long.MAX_VALUE : begin[k] + 1);
                steps.add(1L);
                axes.add((long) dim);
                squeeze.add((long) dim);
            } else {
                boolean fullBegin = (beginMask >> k & 1) != 0, fullEnd = (endMask >> k & 1) != 0;
                if (!(fullBegin && fullEnd && s == 1)) {
                    starts.add(fullBegin ? (s > 0 ? 0 : Long.MAX_VALUE) : begin[k]);
                    ends.add(fullEnd ? (s > 0 ? Long.MAX_VALUE : Long.MIN_VALUE) : end[k]);
                    steps.add(s);
                    axes.add((long) dim);
                }
                outDim++;
            }
            dim++;
        }
        String out = x.name();
        if (!axes.isEmpty())
            out = imp.emit("Slice", List.of(out, imp.int64s("starts", longs(starts)).name(), imp.int64s("ends", longs(ends)).name(),
                    imp.int64s("axes", longs(axes)).name(), imp.int64s("steps", longs(steps)).name()), Map.of());
        if (!squeeze.isEmpty()) out = imp.emit("Squeeze", List.of(out, imp.int64s("axes", longs(squeeze)).name()), Map.of());
        if (!unsqueeze.isEmpty()) out = imp.emit("Unsqueeze", List.of(out, imp.int64s("axes", longs(unsqueeze)).name()), Map.of());
        if (out.equals(x.name())) out = imp.emit("Identity", List.of(out), Map.of());
        int rank = x.rank() < 0 ? -1 : x.rank() - squeeze.size() + unsqueeze.size();
        return List.of(new T(out, false, x.type(), rank));
    }

    private static long[] longs(List<Long> l) {
        long[] a = new long[l.size()];
        for (int k = 0; k < a.length; k++) a[k] = l.get(k);
        return a;
    }
}
