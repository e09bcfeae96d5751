package dev.kiln.autograd;

import dev.kiln.nn.Loss;
import dev.kiln.ops.Conv2dParams;
import dev.kiln.ops.Indexing;
import dev.kiln.ops.Join;
import dev.kiln.ops.Linear;
import dev.kiln.ops.Pool2dParams;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Every op's gradient rule against central finite differences in float64, on odd shapes. */
class GradCheckTest {
    private final Generator gen = new Generator(42);
    private Scope scope;

    @BeforeEach void open() { scope = Scope.open(); }
    @AfterEach void close() { scope.close(); }

    private Tensor x(int... shape) { return Tensor.uniform(gen, -2, 2, DType.F64, shape); }
    /** Inputs away from 0 (for log, sqrt, div, pow). */
    private Tensor pos(int... shape) { return Tensor.uniform(gen, 0.5, 2, DType.F64, shape); }

    @Test void unaryOps() {
        GradCheck.check("neg", a -> a[0].neg(), x(3, 5));
        GradCheck.check("abs", a -> a[0].abs(), x(7));
        GradCheck.check("exp", a -> a[0].exp(), x(4, 3));
        GradCheck.check("log", a -> a[0].log(), pos(5));
        GradCheck.check("sqrt", a -> a[0].sqrt(), pos(5));
        GradCheck.check("rsqrt", a -> a[0].rsqrt(), pos(5));
        GradCheck.check("tanh", a -> a[0].tanh(), x(2, 7));
        GradCheck.check("sigmoid", a -> a[0].sigmoid(), x(2, 7));
        GradCheck.check("relu", a -> a[0].relu(), x(3, 7));
        GradCheck.check("gelu", a -> a[0].gelu(), x(3, 7));
        GradCheck.check("gelu_tanh", a -> a[0].geluTanh(), x(3, 7));
        GradCheck.check("silu", a -> a[0].silu(), x(3, 7));
        GradCheck.check("sin", a -> a[0].sin(), x(6));
        GradCheck.check("cos", a -> a[0].cos(), x(6));
        GradCheck.check("pow", a -> a[0].pow(2.5), pos(6));
        GradCheck.check("clamp", a -> a[0].clamp(-0.7, 0.9), x(9));
        GradCheck.check("reciprocal", a -> a[0].reciprocal(), pos(6));
        GradCheck.check("square", a -> a[0].square(), x(6));
    }

    @Test void binaryOpsWithBroadcasting() {
        GradCheck.check("add", a -> a[0].add(a[1]), x(3, 4), x(4));
        GradCheck.check("sub", a -> a[0].sub(a[1]), x(3, 1), x(1, 5));
        GradCheck.check("mul", a -> a[0].mul(a[1]), x(2, 3, 4), x(3, 1));
        GradCheck.check("div", a -> a[0].div(a[1]), x(3, 4), pos(4));
        GradCheck.check("maximum", a -> a[0].maximum(a[1]), x(5, 3), x(5, 3));
        GradCheck.check("minimum", a -> a[0].minimum(a[1]), x(5, 3), x(3));
        GradCheck.check("pow", a -> a[0].pow(a[1]), pos(4), x(4));
        GradCheck.check("scalar ops", a -> a[0].mul(3.0).add(1.5).div(2.0).sub(0.25), x(5));
        Tensor cond = x(4, 5).gt(Tensor.scalar(0, DType.F64));
        GradCheck.check("where", a -> Tensor.where(cond, a[0], a[1]), x(4, 5), x(5));
    }

    @Test void reductions() {
        GradCheck.check("sum all", a -> a[0].sum(), x(3, 4));
        GradCheck.check("sum axes", a -> a[0].sum(new int[]{0, 2}, false), x(3, 4, 5));
        GradCheck.check("mean keepdim", a -> a[0].mean(new int[]{1}, true), x(3, 4, 5));
        GradCheck.check("max", a -> a[0].max(new int[]{1}, false), x(4, 7));
        GradCheck.check("min", a -> a[0].min(new int[]{0}, true), x(4, 7));
        GradCheck.check("prod", a -> a[0].prod(new int[]{1}, false), pos(3, 4));
        GradCheck.check("var", a -> a[0].var(new int[]{1}, false, 1), x(3, 6));
        GradCheck.check("var biased", a -> a[0].var(new int[]{0, 1}, true, 0), x(3, 6));
        GradCheck.check("logsumexp", a -> a[0].logsumexp(new int[]{1}, false), x(3, 6));
        GradCheck.check("softmax", a -> a[0].softmax(1), x(3, 6, 2));
        GradCheck.check("log_softmax", a -> a[0].logSoftmax(-1), x(3, 7));
        GradCheck.check("layer_norm", a -> a[0].layerNorm(new int[]{5}, a[1], a[2], 1e-5), x(3, 5), x(5), x(5));
        GradCheck.check("layer_norm 2d", a -> a[0].layerNorm(new int[]{2, 3}, null, null, 1e-5), x(4, 2, 3));
    }

    @Test void views() {
        GradCheck.check("reshape", a -> a[0].reshape(6, 2).mul(a[0].reshape(6, 2)), x(3, 4));
        GradCheck.check("permute", a -> a[0].permute(2, 0, 1).contiguous(), x(2, 3, 4));
        GradCheck.check("transpose", a -> a[0].t(), x(3, 4));
        GradCheck.check("slice", a -> a[0].slice(1, 1, 7, 2), x(3, 7));
        GradCheck.check("narrow", a -> a[0].narrow(0, 1, 2), x(4, 3));
        GradCheck.check("select", a -> a[0].select(1, 2), x(4, 3));
        GradCheck.check("expand", a -> a[0].expand(4, 3, 5), x(3, 1));
        GradCheck.check("squeeze/unsqueeze", a -> a[0].unsqueeze(0).squeeze().unsqueeze(-1), x(3, 1, 4));
        GradCheck.check("cat", a -> Join.cat(new Tensor[]{a[0], a[1]}, 1), x(2, 3), x(2, 4));
        GradCheck.check("cast roundtrip", a -> a[0].to(DType.F32).to(DType.F64), 1e-2, 1e-4, 1e-3, x(4)); // f32 rounding: big h
    }

    @Test void matmulLinearIndexing() {
        GradCheck.check("matmul", a -> a[0].matmul(a[1]), x(4, 5), x(5, 3));
        GradCheck.check("matmul batched broadcast", a -> a[0].matmul(a[1]), x(2, 3, 4), x(4, 5));
        GradCheck.check("matmul vector", a -> a[0].matmul(a[1]), x(4), x(4, 3));
        GradCheck.check("linear", a -> Linear.linear(a[0], a[1], a[2]), x(2, 3, 5), x(4, 5), x(4));
        Tensor idx = Tensor.fromArray(new long[]{2, 0, 2, 1}, 4);
        GradCheck.check("index_select", a -> Indexing.indexSelect(a[0], 0, idx), x(3, 5));
        Tensor gi = Tensor.fromArray(new long[]{0, 2, 1, 1, 0, 0}, 3, 2);
        GradCheck.check("gather", a -> Indexing.gather(a[0], 1, gi), x(3, 4));
    }

    @Test void convAndPool() {
        GradCheck.check("conv2d", a -> a[0].conv2d(a[1], a[2], new Conv2dParams(2, 1, 1, 0, 1, 2, 1)), x(2, 3, 7, 6), x(4, 3, 3, 2), x(4));
        GradCheck.check("conv2d groups", a -> a[0].conv2d(a[1], null, new Conv2dParams(1, 1, 1, 1, 1, 1, 2)), x(1, 4, 5, 5), x(6, 2, 3, 3));
        GradCheck.check("max_pool2d", a -> a[0].maxPool2d(Pool2dParams.of(2, 2, 0)), x(2, 2, 6, 5));
        GradCheck.check("max_pool2d overlap", a -> a[0].maxPool2d(Pool2dParams.of(3, 2, 1)), x(1, 2, 7, 7));
        GradCheck.check("avg_pool2d", a -> a[0].avgPool2d(Pool2dParams.of(3, 2, 1)), x(1, 2, 7, 6));
    }

    @Test void losses() {
        Tensor t = Tensor.fromArray(new long[]{1, 0, 3, 3, 2}, 5);
        GradCheck.check("cross_entropy", a -> Loss.crossEntropy(a[0], t), x(5, 4));
        GradCheck.check("cross_entropy smoothing", a -> Loss.crossEntropy(a[0], t, 0.1, Loss.Reduction.SUM), x(5, 4));
        GradCheck.check("nll", a -> Loss.nll(a[0].logSoftmax(1), t, Loss.Reduction.MEAN), x(5, 4));
        GradCheck.check("mse", a -> Loss.mse(a[0], a[1], Loss.Reduction.MEAN), x(3, 4), x(3, 4));
        GradCheck.check("l1", a -> Loss.l1(a[0], a[1], Loss.Reduction.SUM), x(3, 4), x(3, 4));
        GradCheck.check("bce_with_logits", a -> Loss.bceWithLogits(a[0], a[1].sigmoid(), Loss.Reduction.MEAN), x(3, 4), x(3, 4));
        GradCheck.check("kl_div", a -> Loss.klDiv(a[0].logSoftmax(1), a[1].softmax(1), Loss.Reduction.BATCHMEAN, false), x(3, 4), x(3, 4));
    }
}
