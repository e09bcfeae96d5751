package dev.kiln.ops;

import dev.kiln.autograd.GradMode;
import dev.kiln.autograd.Node;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Tensor;

import java.util.Arrays;

/**
 * torch.nn.functional.linear: y = x W^T + b, x [..., in], W [out, in], b [out] or null. The bias is
 * written into y first and the GEMM accumulates onto it (beta = 1), so no extra pass is needed.
 * Backward: dx = dy W, dW = dy^T x, db = sum(dy) over rows. Under {@link Autocast#bf16()} the three
 * products round their operands to bf16 and sum in f32 where the backend has that kernel (the bias
 * is then added after the product); the node remembers the mode its forward ran in.
 */
public final class Linear {
    private Linear() {}

    public static Tensor linear(Tensor x, Tensor w, Tensor b) {
        int[] xs = x.shape();
        if (w.dim() != 2 || xs.length == 0 || xs[xs.length - 1] != w.shape()[1])
            throw new IllegalArgumentException("linear: input shape " + Shape.str(xs) + " does not match weight shape "
                    + Shape.str(w.shape()) + " (expected [..., " + (w.dim() == 2 ? w.shape()[1] : "?") + "])");
        int in = w.shape()[1], outF = w.shape()[0];
        if (b != null && (b.dim() != 1 || b.shape()[0] != outF))
            throw new IllegalArgumentException("linear: bias shape " + Shape.str(b.shape()) + " does not match weight shape " + Shape.str(w.shape()));
        DType t = x.dtype() == DType.F64 && w.dtype() == DType.F64 ? DType.F64 : DType.F32;
        boolean bf16 = t == DType.F32 && Autocast.isBf16();
        int rows = (int) (x.numel() / Math.max(in, 1));
        int[] outShape = xs.clone();
        outShape[outShape.length - 1] = outF;
        Tensor y;
        Tensor x2;
        try (GradMode.Guard g = GradMode.noGrad()) {
            x2 = asType(x, t).reshape(rows, in);
            Tensor wt = asType(w, t);
            y = Tensor.uninitialized(x.backend(), t, rows, outF);   // the bias copy or the GEMM (beta 0) writes all of it
            boolean done = bf16 && rows > 0 && x.backend().gemmBf16(false, true, x2, wt, y);
            if (b != null) {                                   // f32: the GEMM accumulates onto the bias; bf16: added after
                Tensor bt = asType(b, t);
                try (Tensor be = bt.expand(rows, outF)) {
                    if (done) x.backend().binary(BinaryOp.ADD, y, be, y);
                    else y.copyFrom(be);
                }
                if (bt != b) bt.close();
            }
            if (!done) x.backend().gemm(false, true, 1.0, x2, wt, b != null ? 1 : 0, y);
            if (wt != w) wt.close();
        }
        Tensor out = y;
        if (outShape.length != 2) {
            try (GradMode.Guard g = GradMode.noGrad()) { out = y.reshape(outShape); }
            y.close();
        }
        if (Tensor.needsGrad(x, w, b)) out.setGradFn(grad(x, x2, w, b, rows, in, outF, t, bf16));
        else x2.close();
        return out;
    }

    private static Tensor asType(Tensor x, DType t) { return x.dtype() == t ? x : x.to(t); }

    private static Node grad(Tensor x, Tensor x2, Tensor w, Tensor b, int rows, int in, int outF, DType t, boolean bf16) {
        return new Node("linear", x, w, b) {
            @Override protected Tensor[] backward(Tensor g) {
                Tensor g2 = g.reshape(rows, outF);
                Tensor gx = null, gw = null, gb = null;
                if (x.requiresGrad()) {
                    Tensor dx = Tensor.uninitialized(g.backend(), t, rows, in);   // GEMMs with beta 0 write every element
                    if (!(bf16 && g.backend().gemmBf16(false, false, g2, w, dx))) g.backend().gemm(false, false, 1.0, g2, w, 0.0, dx);
                    gx = dx.reshape(x.shape());
                    if (gx.dtype() != x.dtype()) gx = gx.to(x.dtype());
                }
                if (w.requiresGrad()) {
                    gw = Tensor.uninitialized(g.backend(), t, outF, in);
                    if (!(bf16 && g.backend().gemmBf16(true, false, g2, x2, gw))) g.backend().gemm(true, false, 1.0, g2, x2, 0.0, gw);
                }
                if (b != null && b.requiresGrad()) gb = g2.sum(new int[]{0}, false);
                return new Tensor[]{gx, gw, gb};
            }

            @Override protected void release() { x2.close(); }
        };
    }

    static boolean sameShape(Tensor a, int... s) { return Arrays.equals(a.shape(), s); }
}
