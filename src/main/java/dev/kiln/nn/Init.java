package dev.kiln.nn;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;

/** PyTorch's default initializations. */
public final class Init {
    private Init() {}

    /** U(-bound, bound). */
    public static Tensor uniform(Generator g, double bound, int... shape) {
        return Tensor.uniform(g, -bound, bound, DType.F32, shape);
    }

    /**
     * kaiming_uniform_(a = sqrt(5)) as used by Linear and Conv2d weights: bound = 1/sqrt(fanIn).
     */
    public static Tensor kaimingUniformDefault(Generator g, int fanIn, int... shape) {
        return uniform(g, fanIn > 0 ? 1.0 / Math.sqrt(fanIn) : 0, shape);
    }

    /** xavier_uniform_: bound = gain * sqrt(6 / (fanIn + fanOut)). */
    public static Tensor xavierUniform(Generator g, int fanIn, int fanOut, double gain, int... shape) {
        return uniform(g, gain * Math.sqrt(6.0 / (fanIn + fanOut)), shape);
    }

    /** N(0, 1) (Embedding's default). */
    public static Tensor normal(Generator g, int... shape) { return Tensor.randn(g, DType.F32, shape); }
}
