package dev.kiln.compress.quant;

import dev.kiln.autograd.GradMode;
import dev.kiln.autograd.Node;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Tensor;

/**
 * Fake quantization as an autograd op: y = scale * (clamp(rint(x / scale) + zero) - zero), i.e.
 * the value int8 inference will see, kept in floating point. The backward pass is the
 * straight-through estimator: dy/dx = 1 where x lies inside the representable range
 * [scale (qmin - zero), scale (qmax - zero)] and 0 outside (clipped values get no gradient).
 * The scale and zero point are constants (not learned). The output has x's dtype (F32 or F64).
 */
public final class FakeQuant {
    private FakeQuant() {}

    public static Tensor apply(Tensor x, QParams q) {
        float[] v = x.toFloatArray();
        int[] shape = x.shape();
        float[] y = q.fakeQuantArray(v, shape);
        Tensor out;
        try (GradMode.Guard g = GradMode.noGrad()) {
            out = Tensor.fromArray(y, shape.clone());
            if (x.dtype() == DType.F64) {
                Tensor o64 = out.to(DType.F64);
                out.close();
                out = o64;
            }
        }
        if (Tensor.needsGrad(x)) out.setGradFn(steNode(x, mask(v, shape, q)));
        return out;
    }

    /** 1 inside the clipping range, 0 outside, in x's shape. */
    private static float[] mask(float[] v, int[] shape, QParams q) {
        int inner = q.inner(shape), ch = q.channels(shape);
        float[] m = new float[v.length];
        for (int i = 0; i < v.length; i++) m[i] = q.inRange(v[i], q.perChannel() ? (i / inner) % ch : 0) ? 1f : 0f;
        return m;
    }

    private static Node steNode(Tensor x, float[] mask) {
        return new Node("fake_quant", x) {
            @Override protected Tensor[] backward(Tensor g) {
                try (Tensor m = Tensor.fromArray(mask, x.shape().clone())) {
                    Tensor mt = m.dtype() == g.dtype() ? m : m.to(g.dtype());
                    Tensor gx = g.mul(mt);
                    if (mt != m) mt.close();
                    return new Tensor[]{gx};
                }
            }
        };
    }
}
