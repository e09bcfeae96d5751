package dev.kiln.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.backend.Backend;
import dev.kiln.backend.Backends;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.MemoryStats;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The CUDA backend from several threads at once: 8 threads upload their own inputs, run GEMM
 * (cuBLAS, one handle shared under a lock), broadcasting elementwise ops, a reduction and softmax on
 * the backend's one stream, and copy the results back, for about two seconds. Every result must
 * equal bit for bit the one the same computation gave single-threaded on the GPU (work on one stream
 * is deterministic), and agree with the CPU to a normalized error below 1e-4. Afterwards the device
 * allocator's bytes in use are back at their start value ({@link MemoryStats}, "cuda:0").
 * Tagged gpu; skips with the reason when CUDA is absent.
 */
@Tag("gpu")
class CudaConcurrencyGpuTest {
    private static final int THREADS = 8, SEEDS = 3;
    private static Backend cuda;

    @BeforeAll
    static void needsCuda() {
        if (!CudaAvailability.isAvailable()) System.out.println("CudaConcurrencyGpuTest skipped: " + CudaAvailability.reason());
        Assumptions.assumeTrue(CudaAvailability.isAvailable(), CudaAvailability.reason());
        cuda = Backends.cuda();
    }

    /** The op mix on backend b for a seed; returns the results concatenated, on the host. */
    private static float[] mix(Backend b, long seed) {
        Generator g = new Generator(seed);
        try (Scope s = Scope.open()) {
            Tensor a = Tensor.uniform(g, -2, 2, dev.kiln.tensor.DType.F32, 64, 96).to(b);
            Tensor w = Tensor.uniform(g, -2, 2, dev.kiln.tensor.DType.F32, 96, 80).to(b);
            Tensor bias = Tensor.uniform(g, -2, 2, dev.kiln.tensor.DType.F32, 80).to(b);
            Tensor y = a.matmul(w).add(bias).relu();
            Tensor z = y.softmax(1).mul(y.sum(new int[]{1}, true));
            return z.to(Backends.cpu()).toFloatArray();
        }
    }

    private static long cudaBytesInUse() {
        for (MemoryStats.Snapshot s : MemoryStats.all()) if (s.allocator().startsWith("cuda:0")) return s.bytesInUse();
        throw new AssertionError("no cuda:0 allocator registered in MemoryStats: " + MemoryStats.all());
    }

    @Test
    void threadsShareTheBackendSafely() throws Exception {
        float[][] gpuRef = new float[SEEDS][];
        for (int s = 0; s < SEEDS; s++) {
            gpuRef[s] = mix(cuda, s);
            float[] cpu = mix(Backends.cpu(), s);
            double scale = 1, err = 0;
            for (float v : cpu) scale = Math.max(scale, Math.abs(v));
            for (int i = 0; i < cpu.length; i++) err = Math.max(err, Math.abs(cpu[i] - gpuRef[s][i]) / scale);
            assertTrue(err < 1e-4, "seed " + s + ": cuda vs cpu normalized error " + err);
        }
        cuda.synchronize();
        long before = cudaBytesInUse();
        ConcurrentLinkedQueue<String> failures = new ConcurrentLinkedQueue<>();
        AtomicLong calls = new AtomicLong();
        CountDownLatch go = new CountDownLatch(1);
        List<Thread> threads = new ArrayList<>();
        for (int i = 0; i < THREADS; i++) {
            int id = i;
            Thread t = new Thread(() -> {
                try {
                    go.await();
                    long end = System.nanoTime() + 2_000_000_000L;
                    for (int it = 0; System.nanoTime() < end; it++) {
                        int s = (id + it) % SEEDS;
                        if (!Arrays.equals(gpuRef[s], mix(cuda, s))) failures.add("thread " + id + " seed " + s + " differs");
                        calls.incrementAndGet();
                    }
                } catch (Throwable e) {
                    failures.add("thread " + id + ": " + e);
                }
            }, "cuda-stress-" + i);
            threads.add(t);
            t.start();
        }
        go.countDown();
        for (Thread t : threads) t.join(120_000);
        for (Thread t : threads) assertFalse(t.isAlive(), t.getName() + " still running");
        assertEquals(List.of(), List.copyOf(failures).subList(0, Math.min(5, failures.size())), failures.size() + " failures");
        cuda.synchronize();
        assertEquals(before, cudaBytesInUse(), "device bytes in use after every thread closed its tensors");
        System.out.printf("CudaConcurrencyGpuTest: %d threads, %d calls, all bitwise equal to single-threaded GPU results%n", THREADS, calls.get());
    }
}
