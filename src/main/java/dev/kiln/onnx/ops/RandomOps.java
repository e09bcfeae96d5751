package dev.kiln.onnx.ops;

import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.Value;
import dev.kiln.tensor.Tensor;

import java.util.Arrays;
import java.util.List;

/**
 * The random generator ops: RandomUniform, RandomUniformLike, RandomNormal, RandomNormalLike,
 * Bernoulli and Multinomial. Each call draws from a fresh {@link MersenneTwister} seeded by the
 * node's {@code seed} attribute, so a seeded node gives the same values on every run, the ones
 * NumPy gives after {@code np.random.seed(seed)} ({@code uniform(low, high, shape)},
 * {@code normal(mean, scale, shape)}); an unseeded node draws a fresh random seed per call.
 * Bernoulli is the spec's function body: {@code RandomUniformLike(input) < input}; Multinomial
 * samples each row's softmax by inverting the cumulative distribution with uniform draws.
 * The ONNX spec does not fix the values generators produce, only their distribution.
 */
final class RandomOps {
    private RandomOps() {}

    static void register(OpRegistry r) {
        r.register("RandomUniform", c -> uniform(c, c.attrIntArray("shape", null), null));
        r.register("RandomUniformLike", c -> uniform(c, shapeOf(c), c.type(0)));
        r.register("RandomNormal", c -> normal(c, c.attrIntArray("shape", null), null));
        r.register("RandomNormalLike", c -> normal(c, shapeOf(c), c.type(0)));
        r.register("Bernoulli", RandomOps::bernoulli);
        r.register("Multinomial", RandomOps::multinomial);
    }

    private static int[] shapeOf(OpCall c) {
        Value v = c.value(0);
        return v instanceof Value.StringTensorValue st ? st.shape() : c.in(0).shape();
    }

    private static List<Value> uniform(OpCall c, int[] shape, ElemType like) {
        ElemType type = floatType(c, like);
        double low = c.attrFloat("low", 0f), high = c.attrFloat("high", 1f);
        MersenneTwister rng = MersenneTwister.forSeed(c);
        double[] v = new double[count(c, shape)];
        for (int i = 0; i < v.length; i++) v[i] = low + (high - low) * rng.nextDouble();
        return MathOps.one(Tensor.fromDoubles(type.storage(), v, shape), type);
    }

    private static List<Value> normal(OpCall c, int[] shape, ElemType like) {
        ElemType type = floatType(c, like);
        double mean = c.attrFloat("mean", 0f), scale = c.attrFloat("scale", 1f);
        MersenneTwister rng = MersenneTwister.forSeed(c);
        double[] v = new double[count(c, shape)];
        for (int i = 0; i < v.length; i++) v[i] = mean + scale * rng.nextGaussian();
        return MathOps.one(Tensor.fromDoubles(type.storage(), v, shape), type);
    }

    /** The {@code dtype} attribute, else the type of the input ({@code like}), else FLOAT; a float type. */
    private static ElemType floatType(OpCall c, ElemType like) {
        ElemType t = dtype(c, like == null ? ElemType.FLOAT : like);
        if (!t.isFloat()) throw c.error("output type must be a float type, got " + t + " (set dtype)");
        return t;
    }

    private static ElemType dtype(OpCall c, ElemType def) {
        if (!c.hasAttr("dtype")) return def;
        try {
            return ElemType.fromCode((int) c.attrInt("dtype", 0));
        } catch (IllegalArgumentException e) {
            throw c.error("unknown dtype " + c.attrInt("dtype", 0));
        }
    }

    private static int count(OpCall c, int[] shape) {
        if (shape == null) throw c.error("missing the shape attribute");
        long n = 1;
        for (int d : shape) {
            if (d < 0) throw c.error("negative dimension in shape " + Arrays.toString(shape));
            n *= d;
            if (n > Integer.MAX_VALUE - 8) throw c.error("shape " + Arrays.toString(shape) + " is too large");
        }
        return (int) n;
    }

    /** y = 1 where a uniform draw in [0, 1) is below the probability x, else 0; y has {@code dtype} (default: x's type). */
    private static List<Value> bernoulli(OpCall c) {
        ElemType in = c.type(0);
        if (!in.isFloat()) throw c.error("input must be a float tensor of probabilities, got " + in);
        ElemType out = dtype(c, in);
        if (out == ElemType.STRING || out.storage() == null) throw c.error("unsupported output type " + out);
        Tensor x = c.in(0);
        double[] p = x.toDoubleArray();
        MersenneTwister rng = MersenneTwister.forSeed(c);
        double[] y = new double[p.length];
        for (int i = 0; i < p.length; i++) y[i] = rng.nextDouble() < p[i] ? 1 : 0;
        return MathOps.one(MathKernels.fromDoubles(y, out, x.shape()), out);
    }

    /**
     * Input [batch, classes] of unnormalized log-probabilities; output [batch, sample_size] class
     * indices (int32 by default, or int64), each drawn from the row's softmax.
     */
    private static List<Value> multinomial(OpCall c) {
        Tensor x = c.in(0);
        if (!c.type(0).isFloat() || x.dim() != 2)
            throw c.error("input must be a 2-D float tensor [batch, classes], got " + c.type(0) + " " + Arrays.toString(x.shape()));
        ElemType out = dtype(c, ElemType.INT32);
        if (out != ElemType.INT32 && out != ElemType.INT64) throw c.error("dtype must be int32 or int64, got " + out);
        int samples = Math.toIntExact(c.attrInt("sample_size", 1));
        if (samples < 0) throw c.error("sample_size must be >= 0, got " + samples);
        int batch = x.shape()[0], classes = x.shape()[1];
        if (classes == 0 && samples > 0 && batch > 0) throw c.error("cannot sample from zero classes");
        double[] logits = x.toDoubleArray();
        MersenneTwister rng = MersenneTwister.forSeed(c);
        long[] y = new long[Math.multiplyExact(batch, samples)];
        double[] cdf = new double[classes];
        for (int b = 0; b < batch; b++) {
            cumulative(logits, b * classes, cdf);
            for (int s = 0; s < samples; s++) y[b * samples + s] = pick(cdf, rng.nextDouble() * cdf[classes - 1]);
        }
        return MathOps.one(MathKernels.fromLongs(y, out, new int[]{batch, samples}), out);
    }

    /** Unnormalized cumulative softmax of logits[from, from+cdf.length) (shifted by the max; all -inf: uniform; +inf entries take all the weight). */
    private static void cumulative(double[] logits, int from, double[] cdf) {
        double max = Double.NEGATIVE_INFINITY;
        for (int k = 0; k < cdf.length; k++) max = Math.max(max, logits[from + k]);
        double sum = 0;
        for (int k = 0; k < cdf.length; k++) {
            double l = logits[from + k];
            sum += max == Double.NEGATIVE_INFINITY ? 1 : max == Double.POSITIVE_INFINITY ? (l == max ? 1 : 0) : Math.exp(l - max);
            cdf[k] = sum;
        }
    }

    /** The first index whose cumulative weight exceeds u (the last index for rounding at the top). */
    private static int pick(double[] cdf, double u) {
        int lo = 0, hi = cdf.length - 1;
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (cdf[mid] > u) hi = mid;
            else lo = mid + 1;
        }
        return lo;
    }
}
