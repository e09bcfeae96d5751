package dev.kiln.onnx.ops;

import dev.kiln.onnx.Value;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * ONNX NonMaxSuppression: per batch and class, boxes scoring above score_threshold are taken in
 * descending score order (ties: lower box index first) and kept unless their IoU with an already
 * kept box exceeds iou_threshold, up to max_output_boxes_per_class (0 or absent: none).
 * <pre>
 * boxes [B, N, 4] (y1,x1,y2,x2 corners in any order, or xc,yc,w,h with center_point_box=1),
 * scores [B, C, N] -> selected [K, 3] int64 rows (batch, class, box)
 * </pre>
 */
final class NnNms {
    private NnNms() {}

    static List<Value> nonMaxSuppression(OpCall call) {
        Tensor bt = call.in(0), st = call.in(1);
        int[] bs = bt.shape(), ss = st.shape();
        if (bs.length != 3 || bs[2] != 4 || ss.length != 3 || ss[0] != bs[0] || ss[2] != bs[1])
            throw call.error("boxes " + Shape.str(bs) + " and scores " + Shape.str(ss) + " must be [B,N,4] and [B,C,N]");
        long maxOut = call.has(2) && call.in(2).numel() > 0 ? call.longs(2)[0] : 0;
        double iou = call.has(3) && call.in(3).numel() > 0 ? call.in(3).toDoubleArray()[0] : 0;
        boolean hasScoreThr = call.has(4) && call.in(4).numel() > 0;
        double scoreThr = hasScoreThr ? call.in(4).toDoubleArray()[0] : 0;
        boolean center = call.attrInt("center_point_box", 0) != 0;
        double[] boxes = corners(bt.toDoubleArray(), center);
        double[] scores = st.toDoubleArray();
        int nb = bs[0], nc = ss[1], n = bs[1];
        List<long[]> sel = new ArrayList<>();
        for (int b = 0; b < nb && maxOut > 0; b++)
            for (int c = 0; c < nc; c++) {
                int sBase = (b * nc + c) * n;
                List<Integer> order = new ArrayList<>();
                for (int i = 0; i < n; i++) if (!hasScoreThr || scores[sBase + i] > scoreThr) order.add(i);
                order.sort((i, j) -> {
                    int cmp = Double.compare(scores[sBase + j], scores[sBase + i]);
                    return cmp != 0 ? cmp : Integer.compare(i, j);
                });
                List<Integer> kept = new ArrayList<>();
                for (int i : order) {
                    if (kept.size() >= maxOut) break;
                    boolean keep = true;
                    for (int k : kept) if (overlaps(boxes, b * n + i, b * n + k, iou)) { keep = false; break; }
                    if (keep) {
                        kept.add(i);
                        sel.add(new long[]{b, c, i});
                    }
                }
            }
        long[] flat = new long[sel.size() * 3];
        for (int i = 0; i < sel.size(); i++) System.arraycopy(sel.get(i), 0, flat, i * 3, 3);
        return List.of(Value.of(Tensor.fromArray(flat, sel.size(), 3)));
    }

    /** Boxes as (ymin, xmin, ymax, xmax). */
    private static double[] corners(double[] b, boolean center) {
        double[] r = new double[b.length];
        for (int i = 0; i < b.length; i += 4) {
            if (center) {
                double xc = b[i], yc = b[i + 1], hw = b[i + 2] / 2, hh = b[i + 3] / 2;
                r[i] = yc - hh;
                r[i + 1] = xc - hw;
                r[i + 2] = yc + hh;
                r[i + 3] = xc + hw;
            } else {
                r[i] = Math.min(b[i], b[i + 2]);
                r[i + 1] = Math.min(b[i + 1], b[i + 3]);
                r[i + 2] = Math.max(b[i], b[i + 2]);
                r[i + 3] = Math.max(b[i + 1], b[i + 3]);
            }
        }
        return r;
    }

    /** Whether boxes i and j overlap by more than the IoU threshold (degenerate boxes never do). */
    private static boolean overlaps(double[] b, int i, int j, double thr) {
        i *= 4;
        j *= 4;
        double areaI = (b[i + 2] - b[i]) * (b[i + 3] - b[i + 1]), areaJ = (b[j + 2] - b[j]) * (b[j + 3] - b[j + 1]);
        if (areaI <= 0 || areaJ <= 0) return false;
        double ih = Math.min(b[i + 2], b[j + 2]) - Math.max(b[i], b[j]);
        double iw = Math.min(b[i + 3], b[j + 3]) - Math.max(b[i + 1], b[j + 1]);
        if (ih <= 0 || iw <= 0) return false;
        double inter = ih * iw, union = areaI + areaJ - inter;
        return union > 0 && inter / union > thr;
    }
}
