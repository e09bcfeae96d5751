package dev.kiln.autograd;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;

import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * Central finite differences in float64: compares the autograd gradient of L = sum(f(inputs) * g)
 * (g a fixed random tensor) with (L(x + h) - L(x - h)) / 2h for every element of every input.
 */
public final class GradCheck {
    private GradCheck() {}

    public static void check(String name, Function<Tensor[], Tensor> f, Tensor... inputs) {
        check(name, f, 1e-6, 1e-5, 1e-4, inputs);
    }

    public static void check(String name, Function<Tensor[], Tensor> f, double h, double atol, double rtol, Tensor... inputs) {
        for (Tensor t : inputs) {
            if (t.dtype() == DType.F64) t.requiresGrad(true);
        }
        Tensor out = f.apply(inputs);
        Tensor g = Tensor.randn(new Generator(99), DType.F64, out.shape());
        Tensor loss = out.mul(g).sum();
        loss.backward();
        for (int k = 0; k < inputs.length; k++) {
            Tensor x = inputs[k];
            if (x.dtype() != DType.F64) continue;
            Tensor analytic = x.grad();
            if (analytic == null) fail(name + ": input " + k + " got no gradient");
            long n = x.numel();
            for (long i = 0; i < n; i++) {
                long si = x.storageIndex(i);
                double orig = x.storage().getDouble(DType.F64, si);
                x.storage().setDouble(DType.F64, si, orig + h);
                double lp = lossOf(f, inputs, g);
                x.storage().setDouble(DType.F64, si, orig - h);
                double lm = lossOf(f, inputs, g);
                x.storage().setDouble(DType.F64, si, orig);
                double numeric = (lp - lm) / (2 * h);
                double a = analytic.getFlat(i);
                if (!(Math.abs(a - numeric) <= atol + rtol * Math.abs(numeric)))
                    fail(String.format("%s: d/d input%d[%d]: autograd %.8g vs finite difference %.8g", name, k, i, a, numeric));
            }
            x.zeroGrad();
        }
    }

    private static double lossOf(Function<Tensor[], Tensor> f, Tensor[] inputs, Tensor g) {
        try (GradMode.Guard ng = GradMode.noGrad()) {
            return f.apply(inputs).mul(g).sum().item();
        }
    }
}
