package dev.kiln.backend.cpu;

import dev.kiln.autograd.GradMode;
import dev.kiln.nn.Activation;
import dev.kiln.nn.Linear;
import dev.kiln.nn.Loss;
import dev.kiln.nn.Sequential;
import dev.kiln.ops.Conv2dParams;
import dev.kiln.ops.Pool2dParams;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.MemoryStats;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongFunction;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Kiln ops from many threads at once on independent tensors: 12 threads run a mix of GEMMs (small,
 * and large enough for the parallel kernel), broadcasting elementwise chains, reductions, conv2d +
 * pooling, softmax, and autograd backward through a small MLP and a conv, each in its own Scope,
 * for about two seconds. Every result must equal, bit for bit, the one computed single-threaded
 * before the threads start. Shared state this exercises: the CPU worker pool (callers from many
 * threads splitting work at once), per-thread kernel scratch, the host allocator's cache and
 * counters (bytes in use return exactly to the start value), GradMode and Scope (per thread; one
 * thread runs under noGrad while the others record graphs).
 */
class ConcurrencyStressTest {
    private static final int THREADS = 12, SEEDS = 3;
    private static final long RUN_NANOS = 2_000_000_000L;

    private record Task(String name, LongFunction<float[]> body) {}

    private static final List<Task> TASKS = List.of(
            new Task("gemm 96x200x112 (parallel)", s -> matmul(s, 96, 200, 112)),
            new Task("gemm 17x33x9", s -> matmul(s, 17, 33, 9)),
            new Task("broadcast chain", ConcurrencyStressTest::broadcast),
            new Task("reductions", ConcurrencyStressTest::reductions),
            new Task("conv2d + maxpool", ConcurrencyStressTest::convPool),
            new Task("softmax", ConcurrencyStressTest::softmax),
            new Task("mlp backward", ConcurrencyStressTest::mlpBackward),
            new Task("conv backward", ConcurrencyStressTest::convBackward));

    private static float[] matmul(long seed, int m, int k, int n) {
        Generator g = new Generator(seed);
        try (Scope s = Scope.open()) {
            return Tensor.randn(g, m, k).matmul(Tensor.randn(g, k, n)).toFloatArray();
        }
    }

    private static float[] broadcast(long seed) {
        Generator g = new Generator(seed);
        try (Scope s = Scope.open()) {
            Tensor a = Tensor.randn(g, 8, 1, 16), b = Tensor.randn(g, 5, 1), c = Tensor.randn(g, 16);
            return a.add(b.mul(c)).tanh().sub(a.t().t().exp().div(c.abs().add(1))).toFloatArray();
        }
    }

    private static float[] reductions(long seed) {
        Generator g = new Generator(seed);
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.randn(g, 37, 45);
            return concat(x.sum(0), x.mean(1), x.max(new int[]{1}, false), x.var(new int[]{0}, true, 1),
                    x.logsumexp(new int[]{1}, false), x.t().sum(1), x.sum());
        }
    }

    private static float[] convPool(long seed) {
        Generator g = new Generator(seed);
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.randn(g, 2, 3, 12, 12), w = Tensor.randn(g, 4, 3, 3, 3), b = Tensor.randn(g, 4);
            return x.conv2d(w, b, Conv2dParams.of(1, 1)).relu().maxPool2d(Pool2dParams.of(2, 2, 0)).toFloatArray();
        }
    }

    private static float[] softmax(long seed) {
        Generator g = new Generator(seed);
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.randn(g, 33, 65);
            return concat(x.softmax(1), x.logSoftmax(0));
        }
    }

    private static float[] mlpBackward(long seed) {
        Generator g = new Generator(seed);
        try (Sequential m = new Sequential(new Linear(20, 32, true, g), Activation.relu(), new Linear(32, 5, true, g));
             Scope s = Scope.open()) {
            Tensor x = Tensor.randn(g, 16, 20);
            Tensor y = Tensor.fromArray(new long[]{0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0}, 16);
            Loss.crossEntropy(m.forward(x), y).backward();
            List<Tensor> grads = new ArrayList<>();
            for (Tensor p : m.parameters()) grads.add(p.grad());
            return concat(grads.toArray(Tensor[]::new));
        }
    }

    private static float[] convBackward(long seed) {
        Generator g = new Generator(seed);
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.randn(g, 2, 2, 9, 9).requiresGrad(true), w = Tensor.randn(g, 3, 2, 3, 3).requiresGrad(true);
            x.conv2d(w, null, Conv2dParams.of(2, 1)).square().sum().backward();
            float[] out = concat(x.grad(), w.grad());
            x.zeroGrad();
            w.zeroGrad();
            return out;
        }
    }

    private static float[] concat(Tensor... ts) {
        int n = 0;
        List<float[]> parts = new ArrayList<>();
        for (Tensor t : ts) {
            float[] a = t.toFloatArray();
            parts.add(a);
            n += a.length;
        }
        float[] out = new float[n];
        int at = 0;
        for (float[] a : parts) {
            System.arraycopy(a, 0, out, at, a.length);
            at += a.length;
        }
        return out;
    }

    @Test
    void manyThreadsGiveTheSingleThreadedResultsBitForBit() throws Exception {
        float[][][] ref = new float[TASKS.size()][SEEDS][];
        for (int t = 0; t < TASKS.size(); t++) for (int s = 0; s < SEEDS; s++) ref[t][s] = TASKS.get(t).body().apply(s);
        long bytesBefore = settledBytesInUse();

        ConcurrentLinkedQueue<String> failures = new ConcurrentLinkedQueue<>();
        AtomicLong calls = new AtomicLong();
        CountDownLatch go = new CountDownLatch(1);
        List<Thread> threads = new ArrayList<>();
        for (int i = 0; i < THREADS; i++) {
            int id = i;
            Thread th = new Thread(() -> worker(id, ref, go, failures, calls), "stress-" + i);
            threads.add(th);
            th.start();
        }
        go.countDown();
        for (Thread th : threads) th.join(60_000);
        for (Thread th : threads) assertFalse(th.isAlive(), th.getName() + " still running");
        assertEquals(List.of(), List.copyOf(failures).subList(0, Math.min(5, failures.size())), failures.size() + " failures");
        assertTrue(calls.get() >= THREADS * TASKS.size(), "only " + calls.get() + " calls ran");
        assertEquals(bytesBefore, settledBytesInUse(), "host bytes in use after every thread closed its tensors");
        System.out.printf("ConcurrencyStressTest: %d threads, %d op-mix calls, all bitwise equal to single-threaded results, %d CPU threads per op%n",
                THREADS, calls.get(), CpuConfig.threads());
    }

    private static void worker(int id, float[][][] ref, CountDownLatch go, ConcurrentLinkedQueue<String> failures, AtomicLong calls) {
        try {
            go.await();
            long end = System.nanoTime() + RUN_NANOS;
            // thread 0 runs without recording graphs (except the backward tasks, which enable it):
            // GradMode must stay per thread
            GradMode.Guard guard = id == 0 ? GradMode.noGrad() : null;
            for (int it = 0; System.nanoTime() < end || it < TASKS.size(); it++) {
                int t = (id + it) % TASKS.size(), s = it % SEEDS;
                float[] got;
                if (guard != null && TASKS.get(t).name().contains("backward")) {
                    try (GradMode.Guard on = GradMode.enableGrad()) {
                        got = TASKS.get(t).body().apply(s);
                    }
                } else {
                    got = TASKS.get(t).body().apply(s);
                }
                if (guard != null) checkNoGraph(failures);
                if (!Arrays.equals(ref[t][s], got)) failures.add("thread " + id + ": " + TASKS.get(t).name() + " seed " + s + " differs");
                calls.incrementAndGet();
            }
            if (guard != null) guard.close();
        } catch (Throwable e) {
            failures.add("thread " + id + ": " + e);
        }
    }

    private static void checkNoGraph(ConcurrentLinkedQueue<String> failures) {
        try (Tensor a = Tensor.ones(2).requiresGrad(true); Tensor b = a.mul(2.0)) {
            if (b.requiresGrad()) failures.add("noGrad leaked: another thread's grad mode recorded a graph here");
        }
    }

    private static long settledBytesInUse() throws InterruptedException {
        for (int i = 0; i < 3; i++) {
            System.gc();
            Thread.sleep(20);
        }
        return MemoryStats.host().bytesInUse();
    }
}
