package dev.kiln.dist;

import dev.kiln.nn.Loss;
import dev.kiln.optim.Optimizer;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

import static dev.kiln.dist.DdpFixture.assertSameParameters;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * DDP on thread ranks (LocalProcessGroup): N ranks with B/N examples each end with the same
 * parameters as one process with B, after several SGD-with-momentum steps, for any bucket size,
 * with and without overlap, and with noSync accumulation.
 */
class DistributedDataParallelTest {
    static final Map<String, double[]> SINGLE = DdpFixture.single();

    @ParameterizedTest
    @ValueSource(ints = {2, 4})
    void ranksWithShardsEqualOneProcessWithTheBatch(int size) {
        List<Map<String, double[]>> got = LocalProcessGroup.world(size).run(pg -> DdpFixture.ddpRank(pg, b -> b, null, null));
        for (int r = 0; r < size; r++) assertSameParameters(SINGLE, got.get(r), size + " ranks, rank " + r);
        assertArrayEquals(SINGLE.get("unused.weight"), got.get(0).get("unused.weight"), 0.0, "a parameter without grad is not stepped");
    }

    /** The same over the TCP ring backend (two ranks in this JVM on loopback), with many buckets in flight. */
    @Test
    void twoCpuProcessGroupRanksEqualOneProcess() throws Exception {
        List<Map<String, double[]>> got = CpuRanks.run(2, java.time.Duration.ofSeconds(30),
                pg -> DdpFixture.ddpRank(pg, b -> b.bucketBytes(300), null, null));
        for (var r : got) assertSameParameters(SINGLE, r, "CpuProcessGroup, 2 ranks");
    }

    @Test
    void smallBucketsOverlapWithBackwardAndGiveTheSameResult() {
        AtomicInteger launchedDuringBackward = new AtomicInteger();
        DistributedDataParallel[] ddps = new DistributedDataParallel[2];
        List<Map<String, double[]>> got = LocalProcessGroup.world(2).run(pg ->
                DdpFixture.ddpRank(pg, b -> b.bucketBytes(300), launchedDuringBackward::addAndGet, ddps));
        assertTrue(ddps[0].bucketCount() >= 6, "many buckets: " + ddps[0].bucketLayout());
        assertEquals(List.of("unused.bias", "unused.weight"), ddps[0].bucketLayout().getFirst().subList(0, 2), "reverse registration order");
        assertTrue(launchedDuringBackward.get() > 0, "buckets start during backward once counts are learned");
        for (var r : got) assertSameParameters(SINGLE, r, "bucket size 300 bytes");
    }

    @Test
    void withoutOverlapEverythingWaitsForFinishGradients() {
        AtomicInteger launchedDuringBackward = new AtomicInteger();
        List<Map<String, double[]>> got = LocalProcessGroup.world(2).run(pg ->
                DdpFixture.ddpRank(pg, b -> b.bucketBytes(300).overlap(false), launchedDuringBackward::addAndGet, null));
        assertEquals(0, launchedDuringBackward.get());
        for (var r : got) assertSameParameters(SINGLE, r, "overlap off");
    }

    /** Two micro-batches per rank, the first under noSync, each loss halved: same as one process. */
    @Test
    void noSyncAccumulationEqualsTheWholeBatch() {
        List<Map<String, double[]>> got = LocalProcessGroup.world(2).run(pg -> {
            try (DdpFixture.TwiceNet net = new DdpFixture.TwiceNet(5);
                 DistributedDataParallel ddp = DistributedDataParallel.builder(net, pg).bucketBytes(500).build();
                 Optimizer opt = ddp.wrap(DdpFixture.sgd(net));
                 Tensor xAll = DdpFixture.inputs(); Tensor yAll = DdpFixture.labels();
                 Tensor x = DdpFixture.shard(xAll, pg); Tensor y = DdpFixture.shard(yAll, pg)) {
                int half = x.size(0) / 2;
                for (int s = 0; s < DdpFixture.STEPS; s++) {
                    try (Scope sc = Scope.open()) {
                        try (var ns = ddp.noSync()) {
                            Loss.crossEntropy(ddp.forward(x.narrow(0, 0, half)), y.narrow(0, 0, half)).div(2.0).backward();
                        }
                        Loss.crossEntropy(ddp.forward(x.narrow(0, half, half)), y.narrow(0, half, half)).div(2.0).backward();
                        opt.step();
                        opt.zeroGrad();
                    }
                }
                return DdpFixture.snapshot(net);
            }
        });
        for (var r : got) assertSameParameters(SINGLE, r, "noSync accumulation");
    }

    @Test
    void gradientAfterItsBucketStartedIsAnErrorNamingTheParameter() {
        DistException e = assertThrows(DistException.class, () -> LocalProcessGroup.world(2).run(pg -> {
            try (DdpFixture.TwiceNet net = new DdpFixture.TwiceNet(5);
                 DistributedDataParallel ddp = DistributedDataParallel.builder(net, pg).bucketBytes(300).build();
                 Tensor xAll = DdpFixture.inputs(); Tensor yAll = DdpFixture.labels();
                 Tensor x = DdpFixture.shard(xAll, pg); Tensor y = DdpFixture.shard(yAll, pg)) {
                for (int s = 0; s < 2; s++) {
                    try (Scope sc = Scope.open()) {
                        Loss.crossEntropy(ddp.forward(x), y).backward();
                        if (s == 0) ddp.finishGradients();   // learns the counts
                        else Loss.crossEntropy(net.forward(x), y).backward();  // second backward, no finish
                    }
                }
                return null;
            }
        }));
        assertTrue(e.getMessage().contains("received a gradient after bucket") && e.getMessage().contains("'head."), e.getMessage());
    }

    @Test
    void unusedParameterKeepsNoGradientAndBroadcastAlignsReplicas() {
        List<double[]> got = LocalProcessGroup.world(3).run(pg -> {
            try (DdpFixture.TwiceNet net = new DdpFixture.TwiceNet(40 + pg.rank());
                 DistributedDataParallel ddp = new DistributedDataParallel(net, pg);
                 Tensor x = DdpFixture.inputs(); Tensor y = DdpFixture.labels(); Scope sc = Scope.open()) {
                Loss.crossEntropy(ddp.forward(x), y).backward();
                ddp.finishGradients();
                assertNull(net.unused.weight().grad());
                return net.fc1.weight().grad().toDoubleArray();
            }
        });
        assertArrayEquals(got.get(0), got.get(2), 0.0, "same init and data on every rank: identical averaged grads");
    }

    /** Training-mode forwards start from rank 0's BatchNorm statistics (torch's broadcast_buffers); off, ranks keep their own. */
    @Test
    void buffersFollowRankZeroInTrainingForwards() {
        for (boolean broadcast : new boolean[]{true, false}) {
            List<double[]> means = LocalProcessGroup.world(2).run(pg -> {
                dev.kiln.tensor.Generator g = new dev.kiln.tensor.Generator(3);
                dev.kiln.nn.BatchNorm bn = dev.kiln.nn.BatchNorm.batchNorm1d(3);
                try (dev.kiln.nn.Sequential m = new dev.kiln.nn.Sequential(new dev.kiln.nn.Linear(4, 3, true, g), bn);
                     DistributedDataParallel ddp = DistributedDataParallel.builder(m, pg).broadcastBuffers(broadcast).build();
                     dev.kiln.tensor.Tensor x = dev.kiln.tensor.Tensor.randn(new dev.kiln.tensor.Generator(5), 8, 4)) {
                    if (pg.rank() == 1) try (dev.kiln.tensor.Tensor drift = dev.kiln.tensor.Tensor.full(99.0, dev.kiln.tensor.DType.F32, 3)) { bn.runningMean().copyFrom(drift); }   // drifted statistics
                    ddp.train();
                    try (dev.kiln.autograd.GradMode.Guard ng = dev.kiln.autograd.GradMode.noGrad(); dev.kiln.tensor.Tensor y = ddp.forward(x)) {
                        return bn.runningMean().toDoubleArray();
                    }
                }
            });
            if (broadcast) assertArrayEquals(means.get(0), means.get(1), 0.0, "rank 1 starts from rank 0's statistics");
            else assertTrue(Math.abs(means.get(1)[0] - means.get(0)[0]) > 50, "without broadcasting rank 1 keeps its own");
        }
    }
}
