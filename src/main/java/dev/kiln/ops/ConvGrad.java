package dev.kiln.ops;

import dev.kiln.autograd.Node;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Tensor;

/** Gradient rules of conv2d and pooling (forward in {@link Conv}); the kernels are the backend's. */
final class ConvGrad {
    private ConvGrad() {}

    private static DType type(Tensor... ts) {
        for (Tensor t : ts) if (t != null && t.dtype() == DType.F64) return DType.F64;
        return DType.F32;
    }

    private static Tensor as(Tensor t, DType d) { return t.dtype() == d ? t : t.to(d); }

    static Node conv2d(Tensor x, Tensor w, Tensor bias, Conv2dParams p) {
        return new Node("conv2d", x, w, bias) {
            @Override protected Tensor[] backward(Tensor g) {
                DType t = type(x, w, bias);
                boolean batched = x.dim() == 4;
                Tensor x4 = batched ? x : x.unsqueeze(0);
                Tensor g4 = as(batched ? g : g.unsqueeze(0), t).contiguous();
                Tensor gx = null, gw = null, gb = null;
                if (x.requiresGrad()) {
                    Tensor dx = Tensor.empty(g.backend(), t, x4.shape());
                    g.backend().conv2dBackwardInput(g4, as(w, t), p, dx);
                    gx = as(batched ? dx : dx.squeeze(0), x.dtype());
                }
                if (w.requiresGrad()) {
                    Tensor dw = Tensor.empty(g.backend(), t, w.shape());
                    g.backend().conv2dBackwardWeight(as(x4, t), g4, p, dw);
                    gw = as(dw, w.dtype());
                }
                if (bias != null && bias.requiresGrad()) gb = as(g4.sum(new int[]{0, 2, 3}, false), bias.dtype());
                return new Tensor[]{gx, gw, gb};
            }
        };
    }

    static Node pool2d(PoolOp op, Tensor x, Pool2dParams p, Tensor indices) {
        return new Node(op == PoolOp.MAX ? "max_pool2d" : "avg_pool2d", x) {
            @Override protected Tensor[] backward(Tensor g) {
                DType t = type(x);
                boolean batched = x.dim() == 4;
                int[] xs = batched ? x.shape() : x.unsqueeze(0).shape();
                Tensor g4 = as(batched ? g : g.unsqueeze(0), t).contiguous();
                Tensor idx = indices == null ? null : (batched ? indices : indices.unsqueeze(0));
                Tensor dx = Tensor.empty(g.backend(), t, xs);
                g.backend().pool2dBackward(op, g4, idx, p, dx);
                return new Tensor[]{as(batched ? dx : dx.squeeze(0), x.dtype())};
            }

            @Override protected void release() { if (indices != null) indices.close(); }
        };
    }
}
