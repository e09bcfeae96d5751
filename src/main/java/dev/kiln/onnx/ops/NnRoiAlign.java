package dev.kiln.onnx.ops;

import dev.kiln.onnx.Value;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Tensor;

import java.util.List;

/**
 * ONNX RoiAlign (opsets 10 and 16): each region of interest is split into output_height x
 * output_width bins; each bin averages (or maxes) sampling_ratio^2 bilinear samples (adaptive
 * ceil(roi/bins) per axis when sampling_ratio is 0). coordinate_transformation_mode half_pixel
 * (opset 16 default) shifts the roi by -0.5 pixel; output_half_pixel (opset 10 behaviour) does not
 * and makes every roi at least 1x1.
 * <pre>
 * X [N, C, H, W], rois [R, 4] (x1, y1, x2, y2), batch_indices [R] -> Y [R, C, oh, ow]
 * </pre>
 */
final class NnRoiAlign {
    private NnRoiAlign() {}

    static List<Value> roiAlign(OpCall call) {
        Tensor xt = call.in(0), rt = call.in(1);
        int[] xs = xt.shape(), rs = rt.shape();
        if (xs.length != 4 || rs.length != 2 || rs[1] != 4)
            throw call.error("X " + Shape.str(xs) + " and rois " + Shape.str(rs) + " must be [N,C,H,W] and [R,4]");
        long[] batch = call.longs(2);
        if (batch.length != rs[0]) throw call.error("batch_indices has " + batch.length + " values for " + rs[0] + " rois");
        int oh = (int) call.attrInt("output_height", 1), ow = (int) call.attrInt("output_width", 1);
        int ratio = (int) call.attrInt("sampling_ratio", 0);
        double scale = call.attrFloat("spatial_scale", 1f);
        boolean max = call.attrString("mode", "avg").equals("max");
        boolean halfPixel = call.opset() >= 16
                && call.attrString("coordinate_transformation_mode", "half_pixel").equals("half_pixel");
        double[] x = xt.toDoubleArray(), rois = rt.toDoubleArray();
        int c = xs[1], h = xs[2], w = xs[3], plane = h * w;
        double[] y = new double[rs[0] * c * oh * ow];
        for (int r = 0; r < rs[0]; r++) {
            if (batch[r] < 0 || batch[r] >= xs[0]) throw call.error("batch index " + batch[r] + " out of range for " + Shape.str(xs));
            double off = halfPixel ? 0.5 : 0;
            double x0 = rois[r * 4] * scale - off, y0 = rois[r * 4 + 1] * scale - off;
            double rw = rois[r * 4 + 2] * scale - off - x0, rh = rois[r * 4 + 3] * scale - off - y0;
            if (!halfPixel) {
                rw = Math.max(rw, 1);
                rh = Math.max(rh, 1);
            }
            double bh = rh / oh, bw = rw / ow;
            int gh = ratio > 0 ? ratio : (int) Math.ceil(rh / oh), gw = ratio > 0 ? ratio : (int) Math.ceil(rw / ow);
            int count = Math.max(gh * gw, 1);
            for (int ch = 0; ch < c; ch++) {
                int base = (int) (batch[r] * c + ch) * plane, out = (r * c + ch) * oh * ow;
                for (int ph = 0; ph < oh; ph++)
                    for (int pw = 0; pw < ow; pw++) {
                        double acc = 0;
                        boolean first = true;
                        for (int iy = 0; iy < gh; iy++) {
                            double sy = y0 + ph * bh + (iy + 0.5) * bh / gh;
                            for (int ix = 0; ix < gw; ix++) {
                                double sx = x0 + pw * bw + (ix + 0.5) * bw / gw;
                                if (max) {
                                    double m = sampleMax(x, base, h, w, sy, sx);
                                    acc = first ? m : Math.max(acc, m);
                                    first = false;
                                } else {
                                    acc += sample(x, base, h, w, sy, sx, false);
                                }
                            }
                        }
                        y[out + ph * ow + pw] = max ? acc : acc / count;
                    }
            }
        }
        return NnData.out(y, call.type(0), rs[0], c, oh, ow);
    }

    /** Max-mode sample: the largest of the four weighted corner terms (onnxruntime's definition). */
    private static double sampleMax(double[] x, int base, int h, int w, double sy, double sx) {
        return sample(x, base, h, w, sy, sx, true);
    }

    /** Bilinear sample at (sy, sx); 0 when more than one pixel outside; coordinates clamped to the edge. */
    private static double sample(double[] x, int base, int h, int w, double sy, double sx, boolean maxTerm) {
        if (sy < -1 || sy > h || sx < -1 || sx > w) return 0;
        sy = Math.max(sy, 0);
        sx = Math.max(sx, 0);
        int yl = (int) sy, xl = (int) sx, yh, xh;
        if (yl >= h - 1) {
            yh = yl = h - 1;
            sy = yl;
        } else yh = yl + 1;
        if (xl >= w - 1) {
            xh = xl = w - 1;
            sx = xl;
        } else xh = xl + 1;
        double ly = sy - yl, lx = sx - xl, hy = 1 - ly, hx = 1 - lx;
        double a = hy * hx * x[base + yl * w + xl], b = hy * lx * x[base + yl * w + xh];
        double c = ly * hx * x[base + yh * w + xl], d = ly * lx * x[base + yh * w + xh];
        return maxTerm ? Math.max(Math.max(a, b), Math.max(c, d)) : a + b + c + d;
    }
}
