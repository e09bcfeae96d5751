package dev.kiln.backend.cpu;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinTask;
import java.util.ArrayList;
import java.util.List;

/** Splits work over {@link CpuConfig#threads()} workers of a shared pool. */
public final class Parallel {
    private Parallel() {}

    private static final ForkJoinPool POOL = new ForkJoinPool(
            Math.max(Runtime.getRuntime().availableProcessors(), 1),
            pool -> {
                var t = ForkJoinPool.defaultForkJoinWorkerThreadFactory.newThread(pool);
                t.setName("kiln-cpu-" + t.getPoolIndex());
                t.setDaemon(true);
                return t;
            }, null, false);

    /** True on a thread that is running a chunk of a parallel loop (nested loops then run inline). */
    private static final ThreadLocal<boolean[]> IN_PARALLEL = ThreadLocal.withInitial(() -> new boolean[1]);

    /** A range task: body(start, end) over [0, n). */
    public interface Range { void run(int start, int end); }

    /**
     * Runs body over [0, n) in up to threads() contiguous chunks; runs inline when only one chunk
     * is worth it (n * costPerItem below ~32k operations, or one thread).
     */
    public static void forRange(int n, long costPerItem, Range body) {
        int t = CpuConfig.threads();
        long work = (long) n * Math.max(costPerItem, 1);
        int chunks = (int) Math.min(Math.min(t, n), Math.max(1, work / 32_768));
        if (chunks <= 1 || ForkJoinTask.getPool() == POOL || IN_PARALLEL.get()[0]) {
            body.run(0, n);
            return;
        }
        forChunks(n, chunks, body);
    }

    /** Runs body over [0, n) split into exactly min(chunks, n) contiguous pieces in parallel. */
    public static void forChunks(int n, int chunks, Range body) {
        chunks = Math.min(chunks, n);
        if (chunks <= 1 || ForkJoinTask.getPool() == POOL || IN_PARALLEL.get()[0]) {
            if (n > 0) body.run(0, n);
            return;
        }
        List<ForkJoinTask<?>> tasks = new ArrayList<>(chunks - 1);
        int base = n / chunks, rem = n % chunks;
        int start = 0;
        int firstEnd = base + (rem > 0 ? 1 : 0);
        start = firstEnd;
        for (int c = 1; c < chunks; c++) {
            int len = base + (c < rem ? 1 : 0);
            final int s = start, e = start + len;
            tasks.add(POOL.submit(() -> body.run(s, e)));
            start = e;
        }
        boolean[] flag = IN_PARALLEL.get();
        boolean was = flag[0];
        flag[0] = true;
        try {
            body.run(0, firstEnd);
        } finally {
            flag[0] = was;
        }
        for (ForkJoinTask<?> task : tasks) task.join();
    }
}
