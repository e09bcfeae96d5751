package dev.kiln.onnx.ops;

import dev.kiln.onnx.Value;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.List;

import static dev.kiln.onnx.ops.ShapeElems.one;
import static dev.kiln.onnx.ops.ShapeElems.toInt;

/**
 * ONNX shape ops that copy: Pad (constant, reflect, edge, wrap; negative pads crop), Tile (an
 * expand view made contiguous), DepthToSpace / SpaceToDepth (reshape-permute-reshape) and
 * ReverseSequence. Registered by {@link ShapeOps}.
 */
final class ShapePad {
    private ShapePad() {}

    static void register(OpRegistry r) {
        r.register("Pad", ShapePad::pad);
        r.register("Tile", ShapePad::tile);
        r.register("DepthToSpace", ShapePad::depthToSpace);
        r.register("SpaceToDepth", ShapePad::spaceToDepth);
        r.register("ReverseSequence", ShapePad::reverseSequence);
    }

    // ------------------------------------------------------------------ Pad

    private static List<Value> pad(OpCall call) {
        Tensor x = call.in(0);
        int r = x.dim();
        long[] pads;
        double value = 0;
        long[] axes = null;
        if (call.opset() < 11) {
            pads = call.attrInts(call.opset() < 2 ? "paddings" : "pads", null);
            value = call.attrFloat("value", 0);
        } else {
            pads = call.longs(1);
            if (call.has(2)) value = ShapeElems.scalar(call, 2);
            if (call.has(3)) axes = call.longs(3);
        }
        if (pads == null) throw call.error("missing pads");
        long[] begin = new long[r], end = new long[r];
        int n = axes == null ? r : axes.length;
        if (pads.length != 2 * n)
            throw call.error(pads.length + " pads for " + n + " axes of input shape " + Shape.str(x.shape()));
        for (int k = 0; k < n; k++) {
            int a = axes == null ? k : ShapeElems.axis(call, axes[k], r);
            begin[a] = pads[k];
            end[a] = pads[k + n];
        }
        int[] in = x.shape(), out = new int[r];
        for (int a = 0; a < r; a++) {
            long d = in[a] + begin[a] + end[a];
            if (d < 0) throw call.error("pads " + Arrays.toString(pads) + " crop more than dim " + a + " of shape " + Shape.str(in));
            out[a] = toInt(call, d, "padded dimension");
        }
        String mode = call.attrString("mode", "constant");
        if (mode.equals("constant")) return one(call, padConstant(x, begin, out, value));
        if (!mode.equals("reflect") && !mode.equals("edge") && !mode.equals("wrap"))
            throw call.error("unknown mode '" + mode + "'");
        return one(call, padGather(call, x, begin, out, mode));
    }

    /** Fills with value, then copies the part of x that survives into its place. */
    private static Tensor padConstant(Tensor x, long[] begin, int[] outShape, double value) {
        Tensor out = Tensor.full(value, x.dtype(), outShape);
        int r = outShape.length;
        int[] in = x.shape(), len = new int[r];
        long xOff = x.offset(), oOff = 0;
        long[] xs = x.strides(), os = Shape.contiguousStrides(outShape);
        for (int a = 0; a < r; a++) {
            long srcFrom = Math.max(0, -begin[a]), dstFrom = Math.max(0, begin[a]);
            len[a] = (int) Math.max(0, Math.min(in[a] - srcFrom, outShape[a] - dstFrom));
            xOff += srcFrom * xs[a];
            oOff += dstFrom * os[a];
        }
        if (Shape.numel(len) == 0) return out;
        try (Tensor src = Tensor.of(x.storage(), x.dtype(), len, xs, xOff);
             Tensor dst = Tensor.of(out.storage(), out.dtype(), len, os, oOff)) {
            dst.copyFrom(src);
        }
        return out;
    }

    /** reflect / edge / wrap: every output element reads one input element (per-dim index maps). */
    private static Tensor padGather(OpCall call, Tensor x, long[] begin, int[] outShape, String mode) {
        int r = outShape.length;
        int[] in = x.shape();
        int[][] maps = new int[r][];
        for (int a = 0; a < r; a++) {
            if (in[a] == 0 && outShape[a] > 0) throw call.error(mode + " padding of an empty dim " + a);
            maps[a] = new int[outShape[a]];
            for (int o = 0; o < outShape[a]; o++) maps[a][o] = source(o - begin[a], in[a], mode);
        }
        Tensor out = ShapeElems.alloc(x.dtype(), outShape);
        if (out.numel() == 0) return out;
        try (Tensor src = ShapeElems.host(x)) {
            long[] ss = Shape.contiguousStrides(in);
            MemorySegment s = src.segment(), d = out.segment();
            int es = x.dtype().byteSize();
            int[] idx = new int[r];
            long n = out.numel();
            for (long o = 0; o < n; o++) {
                long si = src.offset();
                for (int a = 0; a < r; a++) si += maps[a][idx[a]] * ss[a];
                ShapeElems.move(s, si, d, o, es);
                for (int a = r - 1; a >= 0 && ++idx[a] == outShape[a]; a--) idx[a] = 0;
            }
        }
        return out;
    }

    private static int source(long i, int d, String mode) {
        return switch (mode) {
            case "edge" -> (int) Math.clamp(i, 0, d - 1);
            case "wrap" -> (int) Math.floorMod(i, (long) d);
            default -> { // reflect about the first and last element (period 2(d-1))
                if (d == 1) yield 0;
                long p = 2L * (d - 1);
                long m = Math.floorMod(i, p);
                yield (int) (m < d ? m : p - m);
            }
        };
    }

    // ------------------------------------------------------------------ Tile

    private static List<Value> tile(OpCall call) {
        Tensor x = call.in(0);
        long[] reps = call.longs(1);
        int r = x.dim();
        if (reps.length != r) throw call.error(reps.length + " repeats for input shape " + Shape.str(x.shape()));
        int[] s = x.shape();
        long[] st = x.strides();
        int[] wide = new int[2 * r], out = new int[r];
        long[] wideStrides = new long[2 * r];
        for (int a = 0; a < r; a++) {
            if (reps[a] < 0) throw call.error("negative repeat " + reps[a]);
            wide[2 * a] = toInt(call, reps[a], "repeat");
            wide[2 * a + 1] = s[a];
            wideStrides[2 * a + 1] = st[a];
            out[a] = toInt(call, reps[a] * s[a], "tiled dimension");
        }
        try (Tensor e = Tensor.of(x.storage(), x.dtype(), wide, wideStrides, x.offset())) {
            return one(call, e.reshape(out));
        }
    }

    // ------------------------------------------------------------------ DepthToSpace, SpaceToDepth

    private static List<Value> depthToSpace(OpCall call) {
        Tensor x = call.in(0);
        int b = (int) call.attrInt("blocksize", 0);
        int[] s = nchw(call, x, b);
        int n = s[0], c = s[1], h = s[2], w = s[3];
        if (c % (b * b) != 0) throw call.error("channels " + c + " not divisible by blocksize^2 = " + b * b);
        boolean crd = call.attrString("mode", "DCR").equals("CRD");
        int[] split = crd ? new int[]{n, c / (b * b), b, b, h, w} : new int[]{n, b, b, c / (b * b), h, w};
        int[] perm = crd ? new int[]{0, 1, 4, 2, 5, 3} : new int[]{0, 3, 4, 1, 5, 2};
        return one(call, rearrange(x, split, perm, new int[]{n, c / (b * b), h * b, w * b}));
    }

    private static List<Value> spaceToDepth(OpCall call) {
        Tensor x = call.in(0);
        int b = (int) call.attrInt("blocksize", 0);
        int[] s = nchw(call, x, b);
        int n = s[0], c = s[1], h = s[2], w = s[3];
        if (h % b != 0 || w % b != 0) throw call.error("spatial dims of " + Shape.str(s) + " not divisible by blocksize " + b);
        return one(call, rearrange(x, new int[]{n, c, h / b, b, w / b, b}, new int[]{0, 3, 5, 1, 2, 4},
                new int[]{n, c * b * b, h / b, w / b}));
    }

    private static int[] nchw(OpCall call, Tensor x, int b) {
        if (x.dim() != 4) throw call.error("input must be 4-D (N,C,H,W), got shape " + Shape.str(x.shape()));
        if (b <= 0) throw call.error("blocksize must be positive, got " + b);
        return x.shape();
    }

    private static Tensor rearrange(Tensor x, int[] split, int[] perm, int[] out) {
        try (Tensor a = x.reshape(split); Tensor p = a.permute(perm)) {
            return p.reshape(out);
        }
    }

    // ------------------------------------------------------------------ ReverseSequence

    private static List<Value> reverseSequence(OpCall call) {
        Tensor x = call.in(0);
        long[] lens = call.longs(1);
        int[] s = x.shape();
        if (s.length < 2) throw call.error("input must have rank >= 2, got shape " + Shape.str(s));
        int batchAxis = ShapeElems.axis(call, call.attrInt("batch_axis", 1), 2);
        int timeAxis = ShapeElems.axis(call, call.attrInt("time_axis", 0), 2);
        if (batchAxis == timeAxis) throw call.error("batch_axis and time_axis are both " + batchAxis);
        int batch = s[batchAxis], time = s[timeAxis];
        if (lens.length != batch) throw call.error(lens.length + " sequence lengths for batch size " + batch);
        long inner = ShapeElems.prod(s, 2, s.length);
        Tensor out = ShapeElems.alloc(x.dtype(), s);
        try (Tensor src = ShapeElems.host(x)) {
            MemorySegment ss = src.segment(), ds = out.segment();
            int es = x.dtype().byteSize();
            for (int b = 0; b < batch; b++) {
                long len = Math.clamp(lens[b], 0, time);
                for (int t = 0; t < time; t++) {
                    int from = t < len ? (int) (len - 1 - t) : t;
                    long si = timeAxis == 0 ? (long) from * batch + b : (long) b * time + from;
                    long di = timeAxis == 0 ? (long) t * batch + b : (long) b * time + t;
                    ShapeElems.moveRun(ss, src.offset() + si * inner, ds, di * inner, inner, es);
                }
            }
        }
        return one(call, out);
    }
}
