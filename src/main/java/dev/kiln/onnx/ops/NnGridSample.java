package dev.kiln.onnx.ops;

import dev.kiln.onnx.Value;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Tensor;

import java.util.List;

/**
 * ONNX GridSample (opset 16, 4-d), following PyTorch's grid_sample: grid holds (x, y) in [-1, 1];
 * modes bilinear / nearest (round half to even) / bicubic (A = -0.75); padding zeros / border /
 * reflection; align_corners maps -1 and 1 to the corner pixel centres instead of the edges.
 * <pre>
 * X [N, C, H, W], grid [N, Ho, Wo, 2] -> Y [N, C, Ho, Wo]
 * </pre>
 */
final class NnGridSample {
    private enum Pad { ZEROS, BORDER, REFLECTION }

    private final double[] x;
    private final int h, w;
    private final Pad pad;
    private final boolean alignCorners;

    private NnGridSample(double[] x, int h, int w, Pad pad, boolean alignCorners) {
        this.x = x;
        this.h = h;
        this.w = w;
        this.pad = pad;
        this.alignCorners = alignCorners;
    }

    static List<Value> gridSample(OpCall call) {
        Tensor xt = call.in(0), gt = call.in(1);
        int[] xs = xt.shape(), gs = gt.shape();
        if (xs.length != 4 || gs.length != 4 || gs[0] != xs[0] || gs[3] != 2)
            throw call.error("X " + Shape.str(xs) + " and grid " + Shape.str(gs) + " must be [N,C,H,W] and [N,Ho,Wo,2]");
        String mode = call.attrString("mode", "bilinear");
        Pad pad = switch (call.attrString("padding_mode", "zeros")) {
            case "zeros" -> Pad.ZEROS;
            case "border" -> Pad.BORDER;
            case "reflection" -> Pad.REFLECTION;
            default -> throw call.error("unknown padding_mode '" + call.attrString("padding_mode", "") + "'");
        };
        if (!mode.equals("bilinear") && !mode.equals("nearest") && !mode.equals("bicubic")
                && !mode.equals("linear") && !mode.equals("cubic"))
            throw call.error("unknown mode '" + mode + "'");
        NnGridSample s = new NnGridSample(xt.toDoubleArray(), xs[2], xs[3], pad, call.attrInt("align_corners", 0) != 0);
        double[] grid = gt.toDoubleArray();
        int n = xs[0], c = xs[1], ho = gs[1], wo = gs[2], plane = xs[2] * xs[3];
        double[] y = new double[n * c * ho * wo];
        for (int b = 0; b < n; b++)
            for (int p = 0; p < ho * wo; p++) {
                double gx = grid[(b * ho * wo + p) * 2], gy = grid[(b * ho * wo + p) * 2 + 1];
                for (int ch = 0; ch < c; ch++) {
                    int base = (b * c + ch) * plane;
                    y[((b * c + ch) * ho * wo) + p] = switch (mode) {
                        case "nearest" -> s.nearest(base, gx, gy);
                        case "bicubic", "cubic" -> s.bicubic(base, gx, gy);
                        default -> s.bilinear(base, gx, gy);
                    };
                }
            }
        return NnData.out(y, call.type(0), n, c, ho, wo);
    }

    private double unnormalize(double coord, int size) {
        return alignCorners ? (coord + 1) / 2 * (size - 1) : ((coord + 1) * size - 1) / 2;
    }

    /** Applies border clipping or reflection to an unnormalized coordinate. */
    private double padCoord(double coord, int size) {
        if (pad == Pad.BORDER) return clip(coord, size);
        if (pad == Pad.REFLECTION) {
            double r = alignCorners ? reflect(coord, 0, 2.0 * (size - 1)) : reflect(coord, -1, 2.0 * size - 1);
            return clip(r, size);
        }
        return coord;
    }

    private static double clip(double c, int size) { return Math.min(size - 1, Math.max(0, c)); }

    private static double reflect(double c, double twiceLow, double twiceHigh) {
        if (twiceLow == twiceHigh) return 0;
        double min = twiceLow / 2, span = (twiceHigh - twiceLow) / 2;
        c = Math.abs(c - min);
        double extra = c % span;
        int flips = (int) Math.floor(c / span);
        return flips % 2 == 0 ? extra + min : span - extra + min;
    }

    private double at(int base, int iy, int ix) {
        return iy >= 0 && iy < h && ix >= 0 && ix < w ? x[base + iy * w + ix] : 0;
    }

    private double nearest(int base, double gx, double gy) {
        double ix = padCoord(unnormalize(gx, w), w), iy = padCoord(unnormalize(gy, h), h);
        return at(base, (int) Math.rint(iy), (int) Math.rint(ix));
    }

    private double bilinear(int base, double gx, double gy) {
        double ix = padCoord(unnormalize(gx, w), w), iy = padCoord(unnormalize(gy, h), h);
        int x0 = (int) Math.floor(ix), y0 = (int) Math.floor(iy);
        double tx = ix - x0, ty = iy - y0;
        return at(base, y0, x0) * (1 - tx) * (1 - ty) + at(base, y0, x0 + 1) * tx * (1 - ty)
                + at(base, y0 + 1, x0) * (1 - tx) * ty + at(base, y0 + 1, x0 + 1) * tx * ty;
    }

    private double bicubic(int base, double gx, double gy) {
        double ix = unnormalize(gx, w), iy = unnormalize(gy, h);
        int x0 = (int) Math.floor(ix), y0 = (int) Math.floor(iy);
        double[] cx = NnResizeAxis.cubic(ix - x0, -0.75), cy = NnResizeAxis.cubic(iy - y0, -0.75);
        double acc = 0;
        for (int j = 0; j < 4; j++) {
            double row = 0;
            for (int i = 0; i < 4; i++) row += cx[i] * bounded(base, y0 - 1 + j, x0 - 1 + i);
            acc += cy[j] * row;
        }
        return acc;
    }

    /** A bicubic tap: its coordinate padded (border / reflection), read as 0 outside. */
    private double bounded(int base, int iy, int ix) {
        int py = (int) padCoord(iy, h), px = (int) padCoord(ix, w);
        return at(base, py, px);
    }
}
