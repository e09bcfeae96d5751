package dev.kiln.dist;

import dev.kiln.nn.Loss;
import dev.kiln.optim.Adam;
import dev.kiln.optim.Optimizer;
import dev.kiln.optim.SGD;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * ZeRO stages 1 and 2 on in-process ranks against one process on the whole batch: the same
 * parameters after several steps, for Adam and SGD with momentum, on 2 and 4 ranks (shards that
 * cut through parameters, padding at the end); the optimizer state per rank is a 1/W shard; a
 * sharded state saved on 2 ranks continues on 4 as the uninterrupted run does.
 */
class ZeroOptimizerTest {
    private static final Function<List<Tensor>, Optimizer> ADAM = ps -> Adam.adam(ps, 0.01, 0.9, 0.999, 1e-8, 0);
    private static final Function<List<Tensor>, Optimizer> SGD_M = ps -> new SGD(ps, 0.1, 0.9, 0, 0, false);

    private static Map<String, double[]> single(Function<List<Tensor>, Optimizer> make, int steps) {
        try (DdpFixture.TwiceNet net = new DdpFixture.TwiceNet(5); Optimizer opt = make.apply(net.parameters());
             Tensor x = DdpFixture.inputs(); Tensor y = DdpFixture.labels()) {
            for (int s = 0; s < steps; s++) step(net, opt, x, y);
            return DdpFixture.snapshot(net);
        }
    }

    private static void step(DdpFixture.TwiceNet net, Optimizer opt, Tensor x, Tensor y) {
        try (Scope sc = Scope.open()) {
            Loss.crossEntropy(net.forward(x), y).backward();
            opt.step();
            opt.zeroGrad();
        }
    }

    private static List<Map<String, double[]>> zero(int world, int stage, Function<List<Tensor>, Optimizer> make, int steps) {
        return LocalProcessGroup.world(world).run(pg -> {
            try (DdpFixture.TwiceNet net = new DdpFixture.TwiceNet(5 + pg.rank());        // rank 0's weights are broadcast
                 ZeroOptimizer opt = ZeroOptimizer.of(net.parameters(), pg, stage, make);
                 Tensor xAll = DdpFixture.inputs(); Tensor yAll = DdpFixture.labels();
                 Tensor x = DdpFixture.shard(xAll, pg); Tensor y = DdpFixture.shard(yAll, pg)) {
                long n = 0;
                for (Tensor p : net.parameters()) n += p.numel();
                assertEquals((n + world - 1) / world, opt.shardSize());
                for (int s = 0; s < steps; s++) step(net, opt, x, y);
                for (Tensor state : opt.inner().stateOf(0).values()) assertEquals(opt.shardSize(), state.numel(), "state is a shard");
                return DdpFixture.snapshot(net);
            }
        });
    }

    @Test
    void equalsOneProcessOnTheWholeBatch() {
        int old = ZeroOptimizer.chunk;
        ZeroOptimizer.chunk = 37;                 // many chunks, cut through parameters and the padding
        try {
            equalsOneProcess();
        } finally {
            ZeroOptimizer.chunk = old;
        }
        equalsOneProcess();
    }

    private static void equalsOneProcess() {
        for (var make : List.of(ADAM, SGD_M)) {
            Map<String, double[]> ref = single(make, DdpFixture.STEPS);
            for (int world : new int[]{2, 4})
                for (int stage : new int[]{1, 2}) {
                    List<Map<String, double[]>> got = zero(world, stage, make, DdpFixture.STEPS);
                    for (int r = 0; r < world; r++)
                        DdpFixture.assertSameParameters(ref, got.get(r), "ZeRO-" + stage + " on " + world + " ranks, rank " + r);
                    for (int r = 1; r < world; r++)
                        for (String k : ref.keySet()) assertArrayEquals(got.get(0).get(k), got.get(r).get(k), "ranks agree on " + k);
                }
        }
    }

    /** Two steps on 2 ranks, the sharded state saved; two more on 4 ranks from it: the uninterrupted 4 steps of one process. */
    @Test
    void shardedStateReloadsOnAnotherWorldSize() {
        List<Map<String, Tensor>> saved = new ArrayList<>();
        List<Map<String, double[]>> mid = LocalProcessGroup.world(2).run(pg -> {
            try (DdpFixture.TwiceNet net = new DdpFixture.TwiceNet(5); ZeroOptimizer opt = ZeroOptimizer.of(net.parameters(), pg, 2, ADAM);
                 Tensor xAll = DdpFixture.inputs(); Tensor yAll = DdpFixture.labels();
                 Tensor x = DdpFixture.shard(xAll, pg); Tensor y = DdpFixture.shard(yAll, pg)) {
                for (int s = 0; s < 2; s++) step(net, opt, x, y);
                Map<String, Tensor> sd = new java.util.LinkedHashMap<>();
                for (var e : opt.stateDict().entrySet()) sd.put(e.getKey(), Scope.escape(e.getValue().clone()));
                synchronized (saved) {
                    saved.add(sd);
                }
                return DdpFixture.snapshot(net);
            }
        });
        Map<String, double[]> ref = single(ADAM, 4);
        List<Map<String, double[]>> got = LocalProcessGroup.world(4).run(pg -> {
            try (DdpFixture.TwiceNet net = new DdpFixture.TwiceNet(5); ZeroOptimizer opt = ZeroOptimizer.of(net.parameters(), pg, 2, ADAM);
                 Tensor xAll = DdpFixture.inputs(); Tensor yAll = DdpFixture.labels();
                 Tensor x = DdpFixture.shard(xAll, pg); Tensor y = DdpFixture.shard(yAll, pg)) {
                var params = net.namedParameters();
                for (var e : mid.get(0).entrySet()) {
                    try (Tensor v = Tensor.fromArray(e.getValue(), params.get(e.getKey()).shape())) {
                        params.get(e.getKey()).copyFrom(v);
                    }
                }
                opt.loadShards(saved);
                assertEquals(2, opt.steps());
                for (int s = 0; s < 2; s++) step(net, opt, x, y);
                return DdpFixture.snapshot(net);
            }
        });
        for (int r = 0; r < 4; r++) DdpFixture.assertSameParameters(ref, got.get(r), "2 ranks then 4, rank " + r);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> LocalProcessGroup.world(1).run(pg -> {
            try (DdpFixture.TwiceNet net = new DdpFixture.TwiceNet(5); ZeroOptimizer opt = ZeroOptimizer.of(net.parameters(), pg, 1, ADAM)) {
                opt.loadShards(saved.subList(0, 1));
                return null;
            }
        }));
        assertTrue(e.getMessage().contains("world size 2 but 1 were given"), e.getMessage());
        for (var sd : saved) sd.values().forEach(Tensor::close);
    }
}
