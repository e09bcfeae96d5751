package dev.kiln.ops;

import dev.kiln.autograd.Node;
import dev.kiln.tensor.Tensor;

/**
 * Gradient rules of reductions, softmax and layer norm (forward ops in {@link Reductions}).
 * {@code axes} are normalized (sorted) reduced axes; {@code keepShape} is x's shape with them set to 1.
 */
final class ReductionsGrad {
    private ReductionsGrad() {}

    static Node reduce(ReduceOp op, Tensor x, int[] axes, int[] keepShape, Tensor out, double param) {
        return new Node(op.name().toLowerCase(), x) {
            @Override protected Tensor[] backward(Tensor g) {
                Tensor gk = g.reshape(keepShape);
                Tensor yk = out.reshape(keepShape);
                long count = 1;
                for (int a : axes) count *= x.shape()[a];
                Tensor gx = op.gradient(x, yk, gk, axes, count, param);
                return new Tensor[]{gx};
            }
        };
    }

    static Node softmax(Tensor x, Tensor y, int axis, boolean log) {
        return new Node(log ? "log_softmax" : "softmax", x) {
            @Override protected Tensor[] backward(Tensor g) {
                int[] ax = {axis};
                if (axis == y.dim() - 1 && g.dtype() == y.dtype() && g.backend() == y.backend()
                        && java.util.Arrays.equals(g.shape(), y.shape())) {
                    Tensor gc = g.contiguous(), yc = y.contiguous(), dx = Tensor.uninitialized(y.backend(), y.dtype(), y.shape());
                    boolean done = y.backend().softmaxBackward(yc, gc, log, dx);
                    gc.close();
                    yc.close();
                    if (done) return new Tensor[]{dx};
                    dx.close();
                }
                if (log) return new Tensor[]{g.sub(y.exp().mul(g.sum(ax, true)))};
                return new Tensor[]{y.mul(g.sub(g.mul(y).sum(ax, true)))};
            }
        };
    }

    /** Layer norm over the trailing k dims; recomputes mean and rstd from x. */
    static Node layerNorm(Tensor x, Tensor w, Tensor b, int k, double eps) {
        return new Node("layer_norm", x, w, b) {
            @Override protected Tensor[] backward(Tensor g) {
                Tensor[] fused = fusedLayerNorm(g, x, w, b, k, eps);
                if (fused != null) return fused;
                int n = x.dim();
                int[] axes = new int[k];
                for (int i = 0; i < k; i++) axes[i] = n - k + i;
                Tensor mean = x.mean(axes, true);
                Tensor xc = x.sub(mean);
                Tensor rstd = xc.square().mean(axes, true).add(eps).rsqrt();
                Tensor xhat = xc.mul(rstd);
                int[] lead = new int[n - k];
                for (int i = 0; i < n - k; i++) lead[i] = i;
                Tensor gw = w != null && w.requiresGrad() ? g.mul(xhat).sum(lead, false) : null;
                Tensor gb = b != null && b.requiresGrad() ? (lead.length == 0 ? g.clone() : g.sum(lead, false)) : null;
                Tensor gx = null;
                if (x.requiresGrad()) {
                    Tensor gh = w != null ? g.mul(w) : g;
                    // dx = rstd * (gh - mean(gh) - xhat * mean(gh * xhat))
                    gx = gh.sub(gh.mean(axes, true)).sub(xhat.mul(gh.mul(xhat).mean(axes, true))).mul(rstd);
                }
                return new Tensor[]{gx, gw, gb};
            }
        };
    }

    /** The backend's one-kernel layer norm backward, or null where it has none for these tensors. */
    private static Tensor[] fusedLayerNorm(Tensor g, Tensor x, Tensor w, Tensor b, int k, double eps) {
        if (g.dtype() != x.dtype() || (w != null && w.dtype() != x.dtype()) || (b != null && b.dtype() != x.dtype())
                || g.backend() != x.backend()) return null;
        boolean wantW = w != null && w.requiresGrad(), wantB = b != null && b.requiresGrad();
        Tensor gc = g.contiguous(), xc = x.contiguous(), wc = w == null ? null : w.contiguous();
        Tensor gx = x.requiresGrad() ? Tensor.uninitialized(x.backend(), x.dtype(), x.shape()) : null;   // written whole
        Tensor gw = wantW ? Tensor.uninitialized(x.backend(), x.dtype(), w.shape()) : null;
        Tensor gb = wantB ? Tensor.uninitialized(x.backend(), x.dtype(), b.shape()) : null;
        boolean done = x.backend().layerNormBackward(gc, xc, wc, k, eps, gx, gw, gb);
        for (Tensor t : new Tensor[]{gc, xc, wc}) if (t != null) t.close();
        if (done) return new Tensor[]{gx, gw, gb};
        for (Tensor t : new Tensor[]{gx, gw, gb}) if (t != null) t.close();
        return null;
    }
}
