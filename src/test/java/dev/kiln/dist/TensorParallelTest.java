package dev.kiln.dist;

import dev.kiln.nn.Linear;
import dev.kiln.nn.Module;
import dev.kiln.nn.MultiheadAttention;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Tensor-parallel MLP and attention on 2 and 4 ranks equal the single-rank module: forward output,
 * input gradient and every parameter shard's gradient (the matching slice of the full gradient),
 * to 1e-5. The loss is sum(out * R) with a fixed random R, so every output element matters.
 */
class TensorParallelTest {

    /** What one run produced: output, input gradient, parameter gradients by name. */
    record Run(double[] out, double[] xGrad, Map<String, double[]> grads) {}

    /** Forward + backward of a module (full or TP) on seeded x and R. */
    static Run run(Module m, int[] xShape, Function<Tensor, Tensor> fwd) {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.randn(new Generator(7), xShape).requiresGrad(true);
            Tensor out = fwd.apply(x);
            Tensor r = Tensor.randn(new Generator(8), out.shape());
            out.mul(r).sum().backward();
            Map<String, double[]> grads = new LinkedHashMap<>();
            for (var e : m.namedParameters().entrySet()) grads.put(e.getKey(), e.getValue().grad().toDoubleArray());
            double[] xg = x.grad().toDoubleArray();
            x.zeroGrad();
            return new Run(out.toDoubleArray(), xg, grads);
        }
    }

    static void assertClose(double[] want, double[] got, String what) {
        assertEquals(want.length, got.length, what + ": length");
        for (int i = 0; i < want.length; i++)
            assertTrue(Math.abs(want[i] - got[i]) <= 1e-5 + 1e-5 * Math.abs(want[i]), what + "[" + i + "]: " + got[i] + " vs " + want[i]);
    }

    /** Slice {@code rank} of {@code size} along axis of a full gradient, as a flat array. */
    static double[] slice(Map<String, double[]> full, String name, int[] shape, int axis, int rank, int size) {
        try (Tensor t = Tensor.fromArray(full.get(name), shape); Tensor v = t.narrow(axis, rank * shape[axis] / size, shape[axis] / size)) {
            return v.toDoubleArray();
        }
    }

    // ------------------------------------------------------------------ MLP

    static final int[] MLP_X = {3, 7, 6};

    static Linear[] fullMlp() {
        Generator g = new Generator(21);
        return new Linear[]{new Linear(6, 8, true, g), new Linear(8, 5, true, g)};
    }

    static Run fullMlpRun() {
        Linear[] l = fullMlp();
        try (Module m = new dev.kiln.nn.Sequential(l[0], dev.kiln.nn.Activation.gelu(), l[1])) {
            Run r = run(m, MLP_X, m::forward);
            Map<String, double[]> named = new LinkedHashMap<>();
            named.put("fc1.weight", r.grads().get("0.weight"));
            named.put("fc1.bias", r.grads().get("0.bias"));
            named.put("fc2.weight", r.grads().get("2.weight"));
            named.put("fc2.bias", r.grads().get("2.bias"));
            return new Run(r.out(), r.xGrad(), named);
        }
    }

    static Run tpMlpRun(ProcessGroup pg) {
        Linear[] l = fullMlp();
        try (TensorParallelMlp tp = TensorParallelMlp.fromFull(l[0], TensorParallelMlp.Act.GELU, l[1], pg)) {
            l[0].close();
            l[1].close();
            return run(tp, MLP_X, tp::forward);
        }
    }

    static void checkMlp(Run full, List<Run> ranks) {
        int p = ranks.size();
        for (int r = 0; r < p; r++) {
            Run got = ranks.get(r);
            String at = p + " ranks, rank " + r + ": ";
            assertClose(full.out(), got.out(), at + "output");
            assertClose(full.xGrad(), got.xGrad(), at + "input grad");
            assertClose(slice(full.grads(), "fc1.weight", new int[]{8, 6}, 0, r, p), got.grads().get("fc1.weight"), at + "fc1.weight grad");
            assertClose(slice(full.grads(), "fc1.bias", new int[]{8}, 0, r, p), got.grads().get("fc1.bias"), at + "fc1.bias grad");
            assertClose(slice(full.grads(), "fc2.weight", new int[]{5, 8}, 1, r, p), got.grads().get("fc2.weight"), at + "fc2.weight grad");
            assertClose(full.grads().get("fc2.bias"), got.grads().get("fc2.bias"), at + "fc2.bias grad");
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {2, 4})
    void mlpEqualsTheSingleRankModel(int size) {
        checkMlp(fullMlpRun(), LocalProcessGroup.world(size).run(TensorParallelTest::tpMlpRun));
    }

    @ParameterizedTest
    @ValueSource(ints = {2, 4})
    void mlpOnCpuProcessGroupRanks(int size) throws Exception {
        checkMlp(fullMlpRun(), CpuRanks.run(size, Duration.ofSeconds(30), TensorParallelTest::tpMlpRun));
    }

    // ------------------------------------------------------------------ attention

    static final int E = 8, H = 4, L = 5, B = 3;

    static MultiheadAttention fullAttention(boolean batchFirst) {
        return new MultiheadAttention(E, H, 0.0, batchFirst, new Generator(33));
    }

    static Tensor causalMask() {
        double[] m = new double[L * L];
        for (int i = 0; i < L; i++) for (int j = i + 1; j < L; j++) m[i * L + j] = -1e9;
        return Tensor.fromDoubles(dev.kiln.tensor.DType.F32, m, L, L);
    }

    static int[] attnX(boolean batchFirst) { return batchFirst ? new int[]{B, L, E} : new int[]{L, B, E}; }

    @ParameterizedTest
    @CsvSource({"2,false,false,local", "4,false,true,local", "2,true,true,local", "4,true,false,local",
                "2,false,true,tcp", "4,true,true,tcp"})
    void attentionEqualsTheSingleRankModel(int size, boolean batchFirst, boolean masked, String group) throws Exception {
        Run full;
        try (MultiheadAttention m = fullAttention(batchFirst); Tensor mask = masked ? causalMask() : null) {
            full = run(m, attnX(batchFirst), x -> m.forward(x, x, x, mask));
        }
        java.util.function.Function<ProcessGroup, Run> body = pg -> {
            try (MultiheadAttention m = fullAttention(batchFirst); TensorParallelAttention tp = TensorParallelAttention.fromFull(m, pg);
                 Tensor mask = masked ? causalMask() : null) {
                return run(tp, attnX(batchFirst), x -> tp.forward(x, x, x, mask));
            }
        };
        List<Run> ranks = group.equals("tcp") ? CpuRanks.run(size, Duration.ofSeconds(30), body::apply)
                : LocalProcessGroup.world(size).run(body::apply);
        int[] inShape = {3 * E, E};
        for (int r = 0; r < size; r++) {
            Run got = ranks.get(r);
            String at = size + " ranks, rank " + r + ": ";
            assertClose(full.out(), got.out(), at + "output");
            assertClose(full.xGrad(), got.xGrad(), at + "input grad");
            double[] w = new double[3 * E * E / size], b = new double[3 * E / size];
            for (int blk = 0; blk < 3; blk++) {
                double[] wr = sliceRows(full.grads().get("in_proj_weight"), inShape, blk * E + r * E / size, E / size);
                System.arraycopy(wr, 0, w, blk * wr.length, wr.length);
                double[] br = sliceRows(full.grads().get("in_proj_bias"), new int[]{3 * E}, blk * E + r * E / size, E / size);
                System.arraycopy(br, 0, b, blk * br.length, br.length);
            }
            assertClose(w, got.grads().get("qkv_weight"), at + "q/k/v rows of in_proj_weight grad");
            assertClose(b, got.grads().get("qkv_bias"), at + "q/k/v rows of in_proj_bias grad");
            assertClose(slice(full.grads(), "out_proj.weight", new int[]{E, E}, 1, r, size), got.grads().get("out_proj.weight"), at + "out_proj.weight grad");
            assertClose(full.grads().get("out_proj.bias"), got.grads().get("out_proj.bias"), at + "out_proj.bias grad");
        }
    }

    static double[] sliceRows(double[] full, int[] shape, int from, int n) {
        try (Tensor t = Tensor.fromArray(full, shape); Tensor v = t.narrow(0, from, n)) {
            return v.toDoubleArray();
        }
    }

    @Test
    void headsThatDoNotDivideAreAClearError() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> LocalProcessGroup.world(3).run(pg -> {
            try (MultiheadAttention m = fullAttention(false)) {
                return TensorParallelAttention.fromFull(m, pg);
            }
        }));
        assertTrue(e.getMessage().contains("num_heads = 4 does not divide among 3 ranks"), e.getMessage());
    }
}
