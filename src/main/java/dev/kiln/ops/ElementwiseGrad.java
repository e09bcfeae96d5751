package dev.kiln.ops;

import dev.kiln.autograd.Grad;
import dev.kiln.autograd.Node;
import dev.kiln.tensor.Tensor;

/**
 * Gradient rules of the elementwise ops (the forward ops are in {@link Elementwise}). Each rule is
 * a formula over forward ops, so it runs on every backend; x is the input, y the output, g the
 * gradient of y.
 */
final class ElementwiseGrad {
    private ElementwiseGrad() {}

    private static final double INV_SQRT_2PI = 0.3989422804014327;
    private static final double SQRT_2_OVER_PI = 0.7978845608028654;

    static Node unary(UnaryOp op, Tensor x, Tensor y, double a, double b) {
        return new Node(op.name().toLowerCase(), x) {
            @Override protected Tensor[] backward(Tensor g) {
                return new Tensor[]{unaryGrad(op, x, y, g, a, b)};
            }
        };
    }

    static Tensor unaryGrad(UnaryOp op, Tensor x, Tensor y, Tensor g, double a, double b) {
        if (op == UnaryOp.GELU || op == UnaryOp.GELU_TANH || op == UnaryOp.SILU) {
            Tensor fused = fusedGrad(op, x, y, g);
            if (fused != null) return fused;
        }
        return op.gradient(x, y, g, a, b);
    }

    /** d/dx x*Phi(x) = Phi(x) + x*phi(x), Phi from y / x (0.5 at x = 0). */
    static Tensor gelu(UnaryOp.GradCall c) {
        Tensor x = c.x();
        Tensor phi = x.square().mul(-0.5).exp().mul(INV_SQRT_2PI);
        Tensor cdf = c.y().div(x); // Phi(x) where x != 0
        Tensor cdf0 = Tensor.where(x.eq(zero(x)), Tensor.scalar(0.5, x.dtype()), cdf);
        return c.g().mul(cdf0.add(x.mul(phi)));
    }

    /** y = 0.5 x (1 + tanh(u)), u = c (x + 0.044715 x^3). */
    static Tensor geluTanh(UnaryOp.GradCall c) {
        Tensor x = c.x();
        Tensor u = x.add(x.pow(3).mul(0.044715)).mul(SQRT_2_OVER_PI);
        Tensor t = u.tanh();
        Tensor du = x.square().mul(3 * 0.044715).add(1.0).mul(SQRT_2_OVER_PI);
        Tensor d = t.add(1.0).mul(0.5).add(x.mul(0.5).mul(t.square().neg().add(1.0)).mul(du));
        return c.g().mul(d);
    }

    /** d/dx x s(x) = s + x s (1 - s). */
    static Tensor silu(UnaryOp.GradCall c) {
        Tensor x = c.x(), s = x.sigmoid();
        return c.g().mul(s.add(x.mul(s).mul(s.neg().add(1.0))));
    }

    /** The backend's one-kernel gradient of a smooth activation, or null where it has none for these tensors. */
    private static Tensor fusedGrad(UnaryOp op, Tensor x, Tensor y, Tensor g) {
        if (g.dtype() != x.dtype() || g.backend() != x.backend() || !java.util.Arrays.equals(g.shape(), x.shape())) return null;
        Tensor gc = g.contiguous(), xc = x.contiguous(), yc = op == UnaryOp.GELU ? y.contiguous() : null;
        Tensor out = Tensor.uninitialized(x.backend(), x.dtype(), x.shape());
        boolean done = x.backend().activationBackward(op, gc, xc, yc, out);
        if (gc != g) gc.close();
        if (xc != x) xc.close();
        if (yc != null && yc != y) yc.close();
        if (done) return out;
        out.close();
        return null;
    }

    /** One fused pass: x > 0 ? g : 0 (the backend's reluBackward). */
    static Tensor reluGrad(Tensor g, Tensor x) {
        Tensor gc = g.dtype() == x.dtype() ? g : g.to(x.dtype());
        Tensor out = Tensor.empty(x.backend(), x.dtype(), x.shape());
        x.backend().reluBackward(gc, x, out);
        return out;
    }

    private static Tensor zero(Tensor like) { return Tensor.scalar(0, like.dtype()); }

    static Tensor sign(Tensor x) {
        return x.gt(zero(x)).to(x.dtype()).sub(x.lt(zero(x)).to(x.dtype()));
    }

    static Node binary(BinaryOp op, Tensor a, Tensor b, Tensor y) {
        return new Node(op.name().toLowerCase(), a, b) {
            @Override protected Tensor[] backward(Tensor g) {
                Tensor ga = a.requiresGrad() ? Grad.sumTo(op.gradientA(a, b, y, g), a.shape()) : null;
                Tensor gb = b.requiresGrad() ? Grad.sumTo(op.gradientB(a, b, y, g), b.shape()) : null;
                return new Tensor[]{ga, gb};
            }
        };
    }

    static Node where(Tensor cond, Tensor a, Tensor b) {
        return new Node("where", null, a, b) {
            @Override protected Tensor[] backward(Tensor g) {
                Tensor z = zero(g);
                Tensor ga = a.requiresGrad() ? Grad.sumTo(Tensor.where(cond, g, z), a.shape()) : null;
                Tensor gb = b.requiresGrad() ? Grad.sumTo(Tensor.where(cond, z, g), b.shape()) : null;
                return new Tensor[]{null, ga, gb};
            }
        };
    }

    /** Gradient of a dtype cast: cast back. */
    static Node cast(Tensor x) {
        return new Node("to", x) {
            @Override protected Tensor[] backward(Tensor g) {
                return new Tensor[]{g.dtype() == x.dtype() ? g : g.to(x.dtype())};
            }
        };
    }
}
