package dev.kiln.backend.cpu;

import dev.kiln.ops.UnaryOp;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.function.UnaryOperator;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The fused backward kernels of GELU, tanh GELU and SiLU in F32 (vector blocks, scalar tails,
 * several parallel pieces, strided gradients) against float64 references of the derivatives
 * written independently of the kernel: the tanh form for tanh GELU, the exact Phi + x phi for GELU.
 */
class ActivationGradTest {
    private static double phi(double x) { return Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI); }

    /** Phi(x) from the ulp-accurate erfc of the JDK-free continued form: 0.5 erfc(-x / sqrt 2). */
    private static double cdf(double x) { return 0.5 * erfc(-x / Math.sqrt(2)); }

    /** erfc in double (Numerical Recipes' Chebyshev fit, relative error below 1.2e-7 everywhere). */
    private static double erfc(double x) {
        double z = Math.abs(x), t = 1 / (1 + 0.5 * z);
        double r = t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806
                + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
        return x >= 0 ? r : 2 - r;
    }

    private static double reference(UnaryOp op, double x) {
        return switch (op) {
            case GELU -> cdf(x) + x * phi(x);
            case GELU_TANH -> {
                double c = Math.sqrt(2 / Math.PI), u = c * (x + 0.044715 * x * x * x), t = Math.tanh(u);
                yield 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x);
            }
            case SILU -> {
                double s = 1 / (1 + Math.exp(-x));
                yield s * (1 + x * (1 - s));
            }
            default -> throw new IllegalArgumentException();
        };
    }

    private static void check(UnaryOp op, UnaryOperator<Tensor> f, int rows, int cols, boolean stridedGrad) {
        Generator gen = new Generator(9);
        Tensor x = Tensor.uniform(gen, -9, 9, DType.F32, rows, cols);
        x.storage().setDouble(DType.F32, 0, 0.0);                  // GELU's Phi = y / x has its special case at 0
        x.storage().setDouble(DType.F32, 1, -30.0);                 // far tails
        x.storage().setDouble(DType.F32, 2, 30.0);
        Tensor g = stridedGrad ? Tensor.uniform(gen, -1, 1, DType.F32, cols, rows).transpose(0, 1)
                : Tensor.uniform(gen, -1, 1, DType.F32, rows, cols);
        Tensor xs = x.detach().requiresGrad(true);
        f.apply(xs).backward(g);
        Tensor got = xs.grad();
        Tensor gc = g.contiguous();
        double worst = 0;
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                double xv = x.storage().getDouble(DType.F32, (long) i * cols + j);
                double gv = gc.storage().getDouble(DType.F32, gc.offset() + (long) i * cols + j);
                double want = gv * reference(op, xv), have = got.storage().getDouble(DType.F32, got.offset() + (long) i * cols + j);
                double err = Math.abs(have - want) / (Math.abs(gv) * 1e-2 + Math.abs(want));
                worst = Math.max(worst, err);
                if (!(err < 2e-5)) fail(op + " at x=" + xv + ": " + have + " vs " + want);
            }
        }
        assertTrue(worst < 2e-5, op + " worst " + worst);
    }

    @Test void smoothActivationsMatchFloat64() {
        for (boolean strided : new boolean[]{false, true}) {
            for (int[] s : new int[][]{{1, 3}, {7, 33}, {130, 517}}) {
                check(UnaryOp.GELU, Tensor::gelu, s[0], s[1], strided);
                check(UnaryOp.GELU_TANH, Tensor::geluTanh, s[0], s[1], strided);
                check(UnaryOp.SILU, Tensor::silu, s[0], s[1], strided);
            }
        }
    }
}
