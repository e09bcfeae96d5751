package dev.kiln.ops;

import dev.kiln.autograd.GradMode;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Tensor;

/**
 * Front ends of 2-d convolution and pooling: shape rules (PyTorch's), argument checks with errors
 * naming the shapes, dtype choice and output allocation. Kernels receive x [N,C,H,W] (any strides)
 * and a fresh contiguous output.
 * <pre>
 * conv2d: x [N,C,H,W] (or [C,H,W]), w [O, C/groups, kh, kw], bias [O] or null -> [N,O,OH,OW]
 *         OH = floor((H + 2*padH - dilH*(kh-1) - 1) / strideH) + 1
 * pool2d: x [N,C,H,W] (or [C,H,W]) -> [N,C,OH,OW], OH from {@link #poolOutSize}
 * </pre>
 */
public final class Conv {
    private Conv() {}

    public static Tensor conv2d(Tensor x, Tensor weight, Tensor bias, Conv2dParams p) {
        if (!Tensor.needsGrad(x, weight, bias)) return conv2dForward(x, weight, bias, p);
        Conv2dParams pp = p == null ? Conv2dParams.defaults() : p;
        Tensor out;
        try (GradMode.Guard g = GradMode.noGrad()) { out = conv2dForward(x, weight, bias, pp); }
        return out.setGradFn(ConvGrad.conv2d(x, weight, bias, pp));
    }

    /**
     * relu(conv2d(x, weight, bias)) for inference, the ReLU applied while the output is stored
     * where the backend can (ONNX Conv+Relu). With gradients recorded it is conv2d then relu.
     */
    public static Tensor conv2dRelu(Tensor x, Tensor weight, Tensor bias, Conv2dParams p) {
        return conv2dAdd(x, weight, bias, p, null, true);
    }

    /**
     * act(conv2d(x, weight, bias) + residual) for inference, act ReLU when relu: a residual
     * block's Conv, Add and Relu (ONNX "ConvAdd+Relu"), which the backend applies while it stores
     * the conv's output. residual (null: none) must have the output's shape (else an error naming
     * both shapes); it is added after the bias and before the ReLU, as the separate ops round. With
     * gradients recorded, or a residual of another dtype than the output's, it runs as the
     * separate ops.
     */
    public static Tensor conv2dAdd(Tensor x, Tensor weight, Tensor bias, Conv2dParams p, Tensor residual, boolean relu) {
        if (Tensor.needsGrad(x, weight, bias, residual)) {
            Tensor y = conv2d(x, weight, bias, p);
            if (residual != null) {
                Tensor sum = y.add(residual);
                y.close();
                y = sum;
            }
            if (!relu) return y;
            Tensor r = y.relu();
            y.close();
            return r;
        }
        return conv2dForward(x, weight, bias, p, residual, relu);
    }

    private static Tensor conv2dForward(Tensor x, Tensor weight, Tensor bias, Conv2dParams p) {
        return conv2dForward(x, weight, bias, p, null, false);
    }

    private static Tensor conv2dForward(Tensor x, Tensor weight, Tensor bias, Conv2dParams p, Tensor residual, boolean relu) {
        if (p == null) p = Conv2dParams.defaults();
        if (x.dim() == 3) {
            try (Tensor xb = x.unsqueeze(0); Tensor rb = residual == null ? null : residual.unsqueeze(0);
                 Tensor y = conv2dForward(xb, weight, bias, p, rb, relu)) {
                return y.squeeze(0);
            }
        }
        int[] outShape = conv2dShape(x.shape(), weight.shape(), bias == null ? null : bias.shape(), p);
        if (residual != null && !java.util.Arrays.equals(residual.shape(), outShape))
            throw new IllegalArgumentException("conv2d: residual " + Shape.str(residual.shape()) + " must have the output's shape "
                    + Shape.str(outShape));
        DType t = computeType(x.dtype(), weight.dtype(), bias == null ? DType.F32 : bias.dtype());
        if (residual != null && residual.dtype() != t) {
            Tensor s;
            try (Tensor y = conv2dForward(x, weight, bias, p, null, false)) { s = y.add(residual); }
            if (!relu) return s;
            try (s) { return s.relu(); }
        }
        Tensor xc = cast(x, t), wc = cast(weight, t), bc = bias == null ? null : cast(bias, t);
        try {
            Tensor out = Tensor.uninitialized(x.backend(), t, outShape); // conv2d writes every output
            if (relu || residual != null) x.backend().conv2dFused(xc, wc, bc, p, residual, relu, out);
            else x.backend().conv2d(xc, wc, bc, p, out);
            return out;
        } finally {
            if (xc != x) xc.close();
            if (wc != weight) wc.close();
            if (bc != bias && bc != null) bc.close();
        }
    }

    /** F64 if any operand is F64, else F32 (integer and half types compute in F32). */
    private static DType computeType(DType... ts) {
        for (DType t : ts) if (t == DType.F64) return DType.F64;
        return DType.F32;
    }

    private static Tensor cast(Tensor t, DType d) { return t.dtype() == d ? t : t.to(d); }

    /** Checks conv2d operands and returns the output shape [N,O,OH,OW]. */
    public static int[] conv2dShape(int[] x, int[] w, int[] bias, Conv2dParams p) {
        String xs = Shape.str(x), ws = Shape.str(w);
        if (x.length != 4)
            throw new IllegalArgumentException("conv2d: input must be [N,C,H,W] or [C,H,W], got " + xs);
        if (w.length != 4)
            throw new IllegalArgumentException("conv2d: weight must be [O,C/groups,kh,kw], got " + ws);
        if (p.groups() < 1)
            throw new IllegalArgumentException("conv2d: groups must be >= 1, got " + p.groups());
        if (p.strideH() < 1 || p.strideW() < 1 || p.dilationH() < 1 || p.dilationW() < 1 || p.padH() < 0 || p.padW() < 0)
            throw new IllegalArgumentException("conv2d: stride and dilation must be >= 1 and padding >= 0, got " + p);
        int g = p.groups();
        if (x[1] != w[1] * g)
            throw new IllegalArgumentException("conv2d: input " + xs + " has " + x[1] + " channels but weight " + ws
                    + " expects " + (w[1] * g) + " (groups=" + g + ")");
        if (w[0] % g != 0)
            throw new IllegalArgumentException("conv2d: weight " + ws + " has " + w[0]
                    + " output channels, not divisible by groups=" + g);
        if (bias != null && (bias.length != 1 || bias[0] != w[0]))
            throw new IllegalArgumentException("conv2d: bias " + Shape.str(bias) + " does not match weight " + ws
                    + " (expected [" + w[0] + "])");
        int oh = convOutSize(x[2], w[2], p.strideH(), p.padH(), p.dilationH());
        int ow = convOutSize(x[3], w[3], p.strideW(), p.padW(), p.dilationW());
        if (oh < 1 || ow < 1)
            throw new IllegalArgumentException("conv2d: input " + xs + " padded by (" + p.padH() + "," + p.padW()
                    + ") is smaller than the dilated kernel of weight " + ws + " (dilation=(" + p.dilationH() + ","
                    + p.dilationW() + ")); output would be " + oh + "x" + ow);
        return new int[]{x[0], w[0], oh, ow};
    }

    /** floor((in + 2*pad - dil*(k-1) - 1) / stride) + 1 (may be below 1 when the kernel does not fit). */
    public static int convOutSize(int in, int k, int stride, int pad, int dil) {
        return Math.floorDiv(in + 2 * pad - dil * (k - 1) - 1, stride) + 1;
    }

    // ------------------------------------------------------------------ pooling

    public static Tensor pool2d(PoolOp op, Tensor x, Pool2dParams p) {
        if (!Tensor.needsGrad(x)) return pool(op, x, p, false)[0];
        Tensor[] r;
        try (GradMode.Guard g = GradMode.noGrad()) { r = pool(op, x, p, op == PoolOp.MAX); }
        return r[0].setGradFn(ConvGrad.pool2d(op, x, p, op == PoolOp.MAX ? r[1] : null));
    }

    /** Max pooling that also returns the argmax positions (I64, flat h*W+w within each plane), as PyTorch does. */
    public static Tensor[] maxPool2dWithIndices(Tensor x, Pool2dParams p) {
        return pool(PoolOp.MAX, x, p, true);
    }

    private static Tensor[] pool(PoolOp op, Tensor x, Pool2dParams p, boolean withIndices) {
        String name = op == PoolOp.MAX ? "max_pool2d" : "avg_pool2d";
        if (x.dim() == 3) {
            try (Tensor xb = x.unsqueeze(0)) {
                Tensor[] r = pool(op, xb, p, withIndices);
                for (int i = 0; i < r.length; i++) {
                    Tensor s = r[i].squeeze(0);
                    r[i].close();
                    r[i] = s;
                }
                return r;
            }
        }
        int[] outShape = poolShape(name, x.shape(), p);
        if (x.dtype() == DType.I8 && op == PoolOp.MAX && !withIndices) {   // a quantized model's int8 codes: pooled as they are
            if (x.backend() != dev.kiln.backend.Backends.cpu())
                throw new UnsupportedOperationException("max_pool2d: int8 input runs on the CPU only, got " + x.backend().name());
            Tensor out = Tensor.uninitialized(x.backend(), DType.I8, outShape);
            x.backend().pool2d(op, x, p, out, null);
            return new Tensor[]{out};
        }
        DType t = x.dtype() == DType.F64 ? DType.F64 : DType.F32;
        Tensor xc = cast(x, t);
        Tensor out = Tensor.uninitialized(x.backend(), t, outShape); // pool2d writes every output and index
        Tensor idx = withIndices ? Tensor.uninitialized(x.backend(), DType.I64, outShape) : null;
        x.backend().pool2d(op, xc, p, out, idx);
        if (xc != x) xc.close();
        if (x.dtype() == DType.BF16 || x.dtype() == DType.F16) {
            Tensor back = out.to(x.dtype());
            out.close();
            out = back;
        }
        return withIndices ? new Tensor[]{out, idx} : new Tensor[]{out};
    }

    /** Checks pooling arguments and returns the output shape [N,C,OH,OW]. */
    public static int[] poolShape(String name, int[] x, Pool2dParams p) {
        String xs = Shape.str(x);
        if (x.length != 4)
            throw new IllegalArgumentException(name + ": input must be [N,C,H,W] or [C,H,W], got " + xs);
        if (p.kernelH() < 1 || p.kernelW() < 1 || p.strideH() < 1 || p.strideW() < 1 || p.padH() < 0 || p.padW() < 0)
            throw new IllegalArgumentException(name + ": kernel and stride must be >= 1 and padding >= 0, got " + p);
        if (p.padH() > p.kernelH() / 2 || p.padW() > p.kernelW() / 2)
            throw new IllegalArgumentException(name + ": padding (" + p.padH() + "," + p.padW()
                    + ") must be at most half the kernel size (" + p.kernelH() + "," + p.kernelW() + ")");
        int oh = poolOutSize(x[2], p.kernelH(), p.strideH(), p.padH(), p.ceilMode());
        int ow = poolOutSize(x[3], p.kernelW(), p.strideW(), p.padW(), p.ceilMode());
        if (oh < 1 || ow < 1)
            throw new IllegalArgumentException(name + ": input " + xs + " is too small for kernel (" + p.kernelH() + ","
                    + p.kernelW() + ") with padding (" + p.padH() + "," + p.padW() + "); output would be " + oh + "x" + ow);
        return new int[]{x[0], x[1], oh, ow};
    }

    /**
     * PyTorch's pooling output size: floor (or ceil) of (in + 2*pad - k) / stride, plus one; in ceil
     * mode the last window must start inside the input or the left padding.
     */
    public static int poolOutSize(int in, int k, int stride, int pad, boolean ceil) {
        int num = in + 2 * pad - k + (ceil ? stride - 1 : 0);
        int out = Math.floorDiv(num, stride) + 1;
        if (ceil && (long) (out - 1) * stride >= in + pad) out--;
        return out;
    }
}
