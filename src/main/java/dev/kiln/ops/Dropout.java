package dev.kiln.ops;

import dev.kiln.autograd.GradMode;
import dev.kiln.autograd.Node;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;

/**
 * Inverted dropout (training mode): each element is kept with probability 1 - p and scaled by
 * 1 / (1 - p), or zeroed. The mask is what {@code Tensor.rand(g, dtype, x.shape()).ge(p)} would
 * draw (dtype F64 for F64 input, else F32), so a seeded run gives the values and generator state
 * of that formula; but it is drawn inside one kernel pass and never stored: the backward pass
 * regenerates it from the generator state the forward pass started at.
 */
public final class Dropout {
    private Dropout() {}

    /** Dropout of x with probability p in (0, 1), drawing from g. */
    public static Tensor apply(Tensor x, double p, Generator g) { return apply(x, p, g, true); }

    /** With kernel false the mask is always built on the host (the path of backends without the kernel; for tests). */
    static Tensor apply(Tensor x, double p, Generator g, boolean kernel) {
        if (!(p > 0 && p < 1)) throw new IllegalArgumentException("dropout: p must be in (0, 1) here, got " + p);
        DType t = x.dtype();
        if (t != DType.F32 && t != DType.F64) return composite(x, p, g);
        return applyAt(x, p, g.reserve(x.numel()), kernel);
    }

    /** The same with the block of draws already reserved (base from {@code g.reserve(x.numel())}); F32 or F64 x. */
    static Tensor applyAt(Tensor x, double p, long base, boolean kernel) {
        DType t = x.dtype();
        Mask m = new Mask(base, t == DType.F64, p, kernel);
        Tensor y;
        try (GradMode.Guard ng = GradMode.noGrad()) { y = m.apply(x); }
        if (x.requiresGrad() && GradMode.isEnabled()) y.setGradFn(new Node("dropout", x) {
            @Override protected Tensor[] backward(Tensor gy) {
                return new Tensor[]{m.apply(gy.dtype() == t ? gy : gy.to(t))};
            }
        });
        return y;
    }

    /** The mask of one call: its first draw, the uniform grid of its dtype, and the keep threshold on that grid. */
    private record Mask(long base, boolean f64, double p, boolean kernel) {
        int bits() { return f64 ? 53 : 24; }

        long threshold() { return Dropout.threshold(f64, p); }

        double scale() { return 1.0 / (1 - p); }

        Tensor apply(Tensor in) {
            Tensor src = in.isContiguous() ? in : in.contiguous();
            Tensor out = Tensor.uninitialized(in.backend(), in.dtype(), in.shape());   // the kernel writes every element
            if (!kernel || !in.backend().dropout(src, base, bits(), threshold(), scale(), out)) {
                out.close();
                try (Tensor keep = keep(in)) { out = src.mul(scale()).mul(keep); }
            }
            if (src != in) src.close();
            return out;
        }

        /** The mask as ones and zeros of in's dtype on in's device, for backends without the kernel. */
        private Tensor keep(Tensor in) {
            long n = in.numel();
            if (n > Integer.MAX_VALUE) throw new IllegalArgumentException("dropout: " + n + " elements is too many for the host mask");
            double[] k = new double[(int) n];
            int shift = 64 - bits();
            long thr = threshold();
            for (int i = 0; i < n; i++) k[i] = (Generator.draw(base, i) >>> shift) >= thr ? 1 : 0;
            try (Tensor host = Tensor.fromArray(k, in.shape())) {
                if (in.backend() == host.backend()) return host.to(in.dtype());      // ones and zeros: exact in any float dtype
                try (Tensor cast = host.to(in.dtype())) { return cast.to(in.backend()); }
            }
        }
    }

    /**
     * The keep threshold on rand's grid (u = k / 2^bits, kept when u >= p). The formula this
     * replaces compared with a float scalar, so p is rounded to float first for both dtypes:
     * k >= ceil(float(p) * 2^bits), exact in double.
     */
    static long threshold(boolean f64, double p) {
        return (long) Math.ceil((double) (float) p * (f64 ? 0x1p53 : 0x1p24));
    }

    /** The plain formula, for dtypes the kernel does not take (bf16, f16). */
    private static Tensor composite(Tensor x, double p, Generator g) {
        Tensor keep = Tensor.rand(g, DType.F32, x.shape()).ge(Tensor.scalar(p));
        return x.mul(keep).mul(1.0 / (1 - p));
    }
}
