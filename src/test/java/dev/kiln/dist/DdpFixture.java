package dev.kiln.dist;

import dev.kiln.nn.Linear;
import dev.kiln.nn.Loss;
import dev.kiln.nn.Module;
import dev.kiln.optim.Optimizer;
import dev.kiln.optim.SGD;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.UnaryOperator;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A small model and batch for DDP equivalence tests: fc2 is applied twice (its grad accumulates
 * twice per backward) and {@code unused} never takes part in forward (it never gets a grad).
 */
final class DdpFixture {
    static final int BATCH = 16, IN = 12, CLASSES = 4, STEPS = 5;

    /** fc1, relu, fc2, relu, fc2 again, relu, head; plus an unused Linear. */
    static final class TwiceNet extends Module {
        final Linear fc1, fc2, head, unused;

        TwiceNet(long seed) {
            Generator g = new Generator(seed);
            fc1 = registerModule("fc1", new Linear(IN, 16, true, g));
            fc2 = registerModule("fc2", new Linear(16, 16, true, g));
            head = registerModule("head", new Linear(16, CLASSES, true, g));
            unused = registerModule("unused", new Linear(3, 3, true, g));
        }

        @Override
        public Tensor forward(Tensor x) {
            Tensor h = fc1.forward(x).relu();
            h = fc2.forward(h).relu();
            h = fc2.forward(h).relu();
            return head.forward(h);
        }
    }

    static Tensor inputs() { return Tensor.randn(new Generator(99), BATCH, IN); }

    static Tensor labels() {
        long[] y = new long[BATCH];
        for (int i = 0; i < BATCH; i++) y[i] = (i * 7 + 3) % CLASSES;
        return Tensor.fromArray(y, BATCH);
    }

    static Optimizer sgd(Module m) { return new SGD(m.parameters(), 0.1, 0.9, 0, 1e-3, false); }

    /** Final parameters (copies) of STEPS steps of one process on the whole batch. */
    static Map<String, double[]> single() {
        try (TwiceNet net = new TwiceNet(5); Optimizer opt = sgd(net); Tensor x = inputs(); Tensor y = labels()) {
            for (int s = 0; s < STEPS; s++) {
                try (Scope sc = Scope.open()) {
                    Loss.crossEntropy(net.forward(x), y).backward();
                    opt.step();
                    opt.zeroGrad();
                }
            }
            return snapshot(net);
        }
    }

    /** Rows [rank * B / size, (rank + 1) * B / size) of a batch tensor. */
    static Tensor shard(Tensor t, ProcessGroup pg) {
        int per = BATCH / pg.size();
        try (Tensor v = t.narrow(0, pg.rank() * per, per)) {
            return v.contiguous();
        }
    }

    static Map<String, double[]> snapshot(Module m) {
        Map<String, double[]> out = new LinkedHashMap<>();
        for (var e : m.namedParameters().entrySet()) out.put(e.getKey(), e.getValue().toDoubleArray());
        return out;
    }

    /** Every parameter within 1e-5 relative (plus 1e-7 absolute for values near zero). */
    static void assertSameParameters(Map<String, double[]> ref, Map<String, double[]> got, String what) {
        assertTrue(ref.keySet().equals(got.keySet()), what + ": parameter names differ");
        for (var e : ref.entrySet()) {
            double[] a = e.getValue(), b = got.get(e.getKey());
            for (int i = 0; i < a.length; i++)
                assertTrue(Math.abs(a[i] - b[i]) <= 1e-5 * Math.abs(a[i]) + 1e-7,
                        what + ": " + e.getKey() + "[" + i + "] " + b[i] + " vs single-process " + a[i]);
        }
    }

    /** Runs {@code steps} on one rank: forward on its half, backward, wrapped optimizer step. */
    static Map<String, double[]> ddpRank(ProcessGroup pg, UnaryOperator<DistributedDataParallel.Builder> settings,
                                         java.util.function.IntConsumer afterBackward, DistributedDataParallel[] keep) {
        try (TwiceNet net = new TwiceNet(5 + pg.rank());   // different init per rank: DDP broadcasts rank 0's
             DistributedDataParallel ddp = settings.apply(DistributedDataParallel.builder(net, pg)).build();
             Optimizer opt = ddp.wrap(sgd(net));
             Tensor xAll = inputs(); Tensor yAll = labels(); Tensor x = shard(xAll, pg); Tensor y = shard(yAll, pg)) {
            if (keep != null) keep[pg.rank()] = ddp;
            for (int s = 0; s < STEPS; s++) {
                try (Scope sc = Scope.open()) {
                    Loss.crossEntropy(ddp.forward(x), y).backward();
                            if (afterBackward != null) afterBackward.accept(ddp.launchedBuckets());
                    opt.step();
                    opt.zeroGrad();
                }
            }
            return snapshot(net);
        }
    }

    private DdpFixture() {}
}
