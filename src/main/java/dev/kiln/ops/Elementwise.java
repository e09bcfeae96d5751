package dev.kiln.ops;

import dev.kiln.autograd.GradMode;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Tensor;

/**
 * Front end of the elementwise ops: dtype rules, broadcasting, output allocation. Kernels (per
 * backend) receive operands of one dtype already expanded to the output shape.
 */
public final class Elementwise {
    private Elementwise() {}

    public static Tensor unary(UnaryOp op, Tensor x, double a, double b) {
        if (!Tensor.needsGrad(x)) return unaryForward(op, x, a, b);
        Tensor out;
        try (GradMode.Guard g = GradMode.noGrad()) { out = unaryForward(op, x, a, b); }
        return out.setGradFn(ElementwiseGrad.unary(op, x, out.detach(), a, b));
    }

    private static Tensor unaryForward(UnaryOp op, Tensor x, double a, double b) {
        if (x.dtype() == DType.BOOL && op != UnaryOp.ABS && op != UnaryOp.RELU)
            throw new IllegalArgumentException(op.name().toLowerCase() + ": not supported for bool tensors");
        DType t = x.dtype();
        if (!t.isFloating() && !op.keepsIntType()) t = DType.F32;
        if (t == DType.BF16 || t == DType.F16) t = DType.F32; // half types compute in f32, cast back
        Tensor in = x.dtype() == t ? x : x.to(t);
        Tensor out = Tensor.uninitialized(x.backend(), t, x.shape()); // written element by element
        x.backend().unary(op, in, out, a, b);
        if (in != x) in.close();
        return castBackIfHalf(out, x.dtype());
    }

    /** bf16/f16 inputs give outputs of their own type, as in PyTorch. */
    private static Tensor castBackIfHalf(Tensor out, DType want) {
        if ((want == DType.BF16 || want == DType.F16) && out.dtype() != want) {
            Tensor r = out.to(want);
            out.close();
            return r;
        }
        return out;
    }

    public static Tensor binary(BinaryOp op, Tensor a, Tensor b) {
        if (op.isComparison() || !Tensor.needsGrad(a, b)) {
            if (!GradMode.isEnabled()) return binaryForward(op, a, b);
            try (GradMode.Guard g = GradMode.noGrad()) { return binaryForward(op, a, b); }
        }
        Tensor out;
        try (GradMode.Guard g = GradMode.noGrad()) { out = binaryForward(op, a, b); }
        return out.setGradFn(ElementwiseGrad.binary(op, a, b, op == BinaryOp.POW ? out.detach() : null));
    }

    private static Tensor binaryForward(BinaryOp op, Tensor a, Tensor b) {
        String name = op.name().toLowerCase();
        int[] shape = Shape.broadcast(name, a.shape(), b.shape());
        DType promoted = DType.promote(a.dtype(), b.dtype());
        if (op == BinaryOp.DIV && !promoted.isFloating()) promoted = DType.F32; // true division
        if (op == BinaryOp.POW && !promoted.isFloating()) promoted = DType.F32;
        DType compute = (promoted == DType.BF16 || promoted == DType.F16) ? DType.F32 : promoted;
        if (compute == DType.BOOL && !op.isComparison()) compute = DType.I32;
        Tensor ac = a.dtype() == compute ? a : a.to(compute);
        Tensor bc = b.dtype() == compute ? b : b.to(compute);
        Tensor ae = ac.expand(shape), be = bc.expand(shape);
        DType outType = op.isComparison() ? DType.BOOL : compute;
        Tensor out = Tensor.uninitialized(a.backend(), outType, shape); // written element by element
        a.backend().binary(op, ae, be, out);
        ae.close();
        be.close();
        if (ac != a) ac.close();
        if (bc != b) bc.close();
        return op.isComparison() ? out : castBackIfHalf(out, promoted);
    }

    /** x op s, where the scalar takes x's dtype (a non-integral scalar with an integer x gives F32). */
    public static Tensor binaryScalar(BinaryOp op, Tensor x, double s) {
        DType t = x.dtype();
        if (!t.isFloating() && s != Math.rint(s)) t = DType.F32;
        Tensor st = Tensor.scalar(s, t == DType.BOOL ? DType.I32 : t);
        if (!x.backend().isHost()) { // the scalar lives where x lives
            Tensor d = st.to(x.backend());
            st.close();
            st = d;
        }
        Tensor out = binary(op, x, st);
        if (out.gradFn() == null) st.close(); // else the gradient rule holds it (freed with the graph's scope)
        return out;
    }

    public static Tensor where(Tensor cond, Tensor a, Tensor b) {
        if (!Tensor.needsGrad(a, b)) {
            try (GradMode.Guard g = GradMode.noGrad()) { return whereForward(cond, a, b); }
        }
        Tensor out;
        try (GradMode.Guard g = GradMode.noGrad()) { out = whereForward(cond, a, b); }
        return out.setGradFn(ElementwiseGrad.where(cond, a, b));
    }

    private static Tensor whereForward(Tensor cond, Tensor a, Tensor b) {
        int[] shape = Shape.broadcast("where", cond.shape(), a.shape(), b.shape());
        DType t = DType.promote(a.dtype(), b.dtype());
        Tensor cb = cond.dtype() == DType.BOOL ? cond : cond.ne(zerosLike(cond));
        Tensor ac = a.dtype() == t ? a : a.to(t);
        Tensor bc = b.dtype() == t ? b : b.to(t);
        Tensor ce = cb.expand(shape), ae = ac.expand(shape), be = bc.expand(shape);
        Tensor out = Tensor.empty(a.backend(), t, shape);
        a.backend().where(ce, ae, be, out);
        for (Tensor tmp : new Tensor[]{ce, ae, be}) tmp.close();
        if (cb != cond) cb.close();
        if (ac != a) ac.close();
        if (bc != b) bc.close();
        return out;
    }

    private static Tensor zerosLike(Tensor t) { return Tensor.scalar(0, t.dtype()); }
}
