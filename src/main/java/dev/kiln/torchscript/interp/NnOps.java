package dev.kiln.torchscript.interp;

import dev.kiln.ops.Conv;
import dev.kiln.ops.Conv2dParams;
import dev.kiln.ops.Linear;
import dev.kiln.ops.MatMul;
import dev.kiln.ops.Pool2dParams;
import dev.kiln.tensor.Tensor;

/**
 * Neural-network ops: linear and the matmul family (mm, bmm, addmm, baddbmm), conv1d/conv2d (and
 * the traced _convolution), inference batch norm, layer norm, group norm, max/avg pooling,
 * adaptive average pooling and dropout (identity outside training).
 */
final class NnOps {
    private NnOps() {}

    static void register(OpTable t) {
        t.add("linear", "input, weight, bias", a -> Linear.linear(a.tensor(0), a.tensor(1), a.optTensor(2)));
        t.add("matmul", "self, other", a -> MatMul.matmul(a.tensor(0), a.tensor(1)));
        t.add("mm", "self, mat2", a -> MatMul.matmul(a.tensor(0), a.tensor(1)));
        t.add("bmm", "self, mat2", a -> MatMul.matmul(a.tensor(0), a.tensor(1)));
        t.add("addmm", "self, mat1, mat2, beta, alpha", NnOps::addmm);
        t.add("baddbmm", "self, batch1, batch2, beta, alpha", NnOps::addmm);
        t.add("conv2d", "input, weight, bias, stride, padding, dilation, groups", a -> conv(a.tensor(0), a.tensor(1),
                a.optTensor(2), a.ints(3, new int[]{1}), a.get(4, 0L), a.ints(5, new int[]{1}), a.getInt(6, 1)));
        t.add("conv1d", "input, weight, bias, stride, padding, dilation, groups", a -> conv(a.tensor(0), a.tensor(1),
                a.optTensor(2), a.ints(3, new int[]{1}), a.get(4, 0L), a.ints(5, new int[]{1}), a.getInt(6, 1)));
        t.add("_convolution", "input, weight, bias, stride, padding, dilation, transposed, output_padding, groups, "
                + "benchmark, deterministic, cudnn_enabled, allow_tf32", a -> {
            if (a.getBool(6, false)) throw a.error("transposed convolution is not supported");
            return conv(a.tensor(0), a.tensor(1), a.optTensor(2), a.ints(3), a.get(4), a.ints(5), a.getInt(8, 1));
        });
        t.add("batch_norm", "input, weight, bias, running_mean, running_var, training, momentum, eps, cudnn_enabled",
                a -> batchNorm(a.tensor(0), a.optTensor(1), a.optTensor(2), a.optTensor(3), a.optTensor(4),
                        a.getBool(5, false), a.getDouble(7, 1e-5)));
        t.add("layer_norm", "input, normalized_shape, weight, bias, eps, cudnn_enable", a -> a.tensor(0).layerNorm(
                a.ints(1), a.optTensor(2), a.optTensor(3), a.getDouble(4, 1e-5)));
        t.add("group_norm", "input, num_groups, weight, bias, eps, cudnn_enabled", a -> groupNorm(a.tensor(0),
                a.getInt(1), a.optTensor(2), a.optTensor(3), a.getDouble(4, 1e-5)));
        t.add("max_pool2d", "self, kernel_size, stride, padding, dilation, ceil_mode", a -> pool(a, true));
        t.add("avg_pool2d", "self, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override",
                a -> pool(a, false));
        t.add("adaptive_avg_pool2d", "self, output_size", a -> adaptiveAvg(a.tensor(0), a.ints(1)));
        for (String d : new String[]{"dropout", "dropout_", "feature_dropout", "alpha_dropout", "feature_alpha_dropout"}) {
            t.add(d, "input, p, train", a -> {
                if (a.getBool(2, false) && a.getDouble(1, 0) > 0)
                    throw a.error("dropout in training mode is not supported (Kiln runs models for inference)");
                return a.tensor(0);
            });
        }
    }

    /** beta * self + alpha * (m1 @ m2). */
    private static Object addmm(Args a) {
        Tensor prod = MatMul.matmul(a.tensor(1), a.tensor(2));
        double beta = a.getDouble(3, 1), alpha = a.getDouble(4, 1);
        if (alpha != 1) prod = prod.mul(alpha);
        if (beta == 0) return prod;
        Tensor self = a.tensor(0);
        return TensorOps.tensorBinary(dev.kiln.ops.BinaryOp.ADD, beta == 1 ? self : self.mul(beta), prod);
    }

    private static int at(int[] v, int i) { return v.length == 1 ? v[0] : v[i]; }

    /** conv1d/conv2d by weight rank: 1-d convolutions run as 2-d with a height of 1. */
    static Tensor conv(Tensor x, Tensor w, Tensor b, int[] stride, Object padding, int[] dilation, int groups) {
        boolean oneD = w.dim() == 3;
        if (!oneD && w.dim() != 4) throw new ScriptException("convolution: weight must be 3-d or 4-d, got " + w.dim() + "-d");
        boolean unbatched = x.dim() == (oneD ? 2 : 3);
        if (unbatched) x = x.unsqueeze(0);
        if (oneD) {
            x = x.unsqueeze(2);
            w = w.unsqueeze(2);
        }
        int kh = w.size(2), kw = w.size(3);
        int[] pad = padding(padding, kh, kw, at(dilation, 0), at(dilation, oneD ? 0 : 1), oneD);
        Conv2dParams p = oneD
                ? new Conv2dParams(1, at(stride, 0), 0, pad[1], 1, at(dilation, 0), groups)
                : new Conv2dParams(at(stride, 0), at(stride, 1), pad[0], pad[1], at(dilation, 0), at(dilation, 1), groups);
        Tensor y = Conv.conv2d(x, w, b, p);
        if (oneD) y = y.squeeze(2);
        return unbatched ? y.squeeze(0) : y;
    }

    private static int[] padding(Object padding, int kh, int kw, int dh, int dw, boolean oneD) {
        if (padding instanceof String s) {
            if (s.equals("valid")) return new int[]{0, 0};
            if (!s.equals("same")) throw new ScriptException("convolution: unknown padding '" + s + "'");
            int ph = dh * (kh - 1), pw = dw * (kw - 1);
            if (ph % 2 != 0 || pw % 2 != 0) throw new ScriptException("convolution: padding='same' with an even kernel");
            return new int[]{ph / 2, pw / 2};
        }
        int[] p = Values.toInts(padding, "convolution padding");
        return oneD ? new int[]{0, p[0]} : new int[]{at(p, 0), at(p, 1)};
    }

    /** Per-channel (dim 1) affine normalization; training mode uses the batch's own statistics. */
    static Tensor batchNorm(Tensor x, Tensor w, Tensor b, Tensor mean, Tensor var, boolean training, double eps) {
        int c = x.size(1);
        int[] bshape = new int[x.dim()];
        java.util.Arrays.fill(bshape, 1);
        bshape[1] = c;
        if (training || mean == null || var == null) {
            int[] axes = new int[x.dim() - 1];
            for (int i = 0, k = 0; i < x.dim(); i++) if (i != 1) axes[k++] = i;
            mean = x.mean(axes, false);
            var = x.var(axes, false, 0);
        }
        Tensor scale = var.add(eps).rsqrt();
        if (w != null) scale = scale.mul(w);
        Tensor shift = mean.mul(scale).neg();
        if (b != null) shift = shift.add(b);
        return x.mul(scale.reshape(bshape)).add(shift.reshape(bshape));
    }

    private static Tensor groupNorm(Tensor x, int groups, Tensor w, Tensor b, double eps) {
        int[] s = x.shape();
        int n = s[0], c = s[1];
        if (c % groups != 0) throw new ScriptException("group_norm: " + c + " channels not divisible into " + groups + " groups");
        Tensor g = x.reshape(n, groups, -1);
        Tensor y = g.layerNorm(new int[]{g.size(2)}, null, null, eps).reshape(s);
        int[] bshape = new int[s.length];
        java.util.Arrays.fill(bshape, 1);
        bshape[1] = c;
        if (w != null) y = y.mul(w.reshape(bshape));
        if (b != null) y = y.add(b.reshape(bshape));
        return y;
    }

    private static Object pool(Args a, boolean max) {
        Tensor x = a.tensor(0);
        int[] k = a.ints(1);
        int[] stride = a.ints(2, new int[0]);
        if (stride.length == 0) stride = k;
        int[] pad = a.ints(3, new int[]{0});
        boolean ceil;
        boolean countPad = true;
        if (max) {
            int[] dil = a.ints(4, new int[]{1});
            if (at(dil, 0) != 1 || at(dil, dil.length > 1 ? 1 : 0) != 1) throw a.error("dilation is not supported");
            ceil = a.getBool(5, false);
        } else {
            ceil = a.getBool(4, false);
            countPad = a.getBool(5, true);
            if (a.get(6, null) != null) throw a.error("divisor_override is not supported");
        }
        Pool2dParams p = new Pool2dParams(at(k, 0), at(k, 1), at(stride, 0), at(stride, 1), at(pad, 0), at(pad, 1),
                ceil, countPad);
        boolean unbatched = x.dim() == 3;
        Tensor in = unbatched ? x.unsqueeze(0) : x;
        Tensor y = max ? in.maxPool2d(p) : in.avgPool2d(p);
        return unbatched ? y.squeeze(0) : y;
    }

    /** Adaptive average pooling: cell i covers [floor(i*in/out), ceil((i+1)*in/out)). */
    static Tensor adaptiveAvg(Tensor x, int[] out) {
        int oh = at(out, 0), ow = at(out, 1);
        int h = x.size(-2), w = x.size(-1);
        if (oh == 1 && ow == 1) return x.mean(new int[]{-2, -1}, true);
        if (h % oh == 0 && w % ow == 0) {
            Pool2dParams p = new Pool2dParams(h / oh, w / ow, h / oh, w / ow, 0, 0, false, true);
            return x.dim() == 3 ? x.unsqueeze(0).avgPool2d(p).squeeze(0) : x.avgPool2d(p);
        }
        Tensor[] rows = new Tensor[oh];
        for (int i = 0; i < oh; i++) {
            Tensor[] cells = new Tensor[ow];
            int h0 = Math.floorDiv(i * h, oh), h1 = -Math.floorDiv(-(i + 1) * h, oh);
            for (int j = 0; j < ow; j++) {
                int w0 = Math.floorDiv(j * w, ow), w1 = -Math.floorDiv(-(j + 1) * w, ow);
                cells[j] = x.slice(-2, h0, h1, 1).slice(-1, w0, w1, 1).mean(new int[]{-2, -1}, true);
            }
            rows[i] = dev.kiln.ops.Join.cat(cells, x.dim() - 1);
        }
        return dev.kiln.ops.Join.cat(rows, x.dim() - 2);
    }
}
