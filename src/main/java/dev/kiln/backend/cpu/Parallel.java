package dev.kiln.backend.cpu;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinTask;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

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

    /**
     * Runs body over [0, n) split into exactly min(chunks, n) contiguous pieces, in parallel where
     * the pool's threads get to run. Pieces are claimed from a shared counter: the caller runs the
     * first, then claims any piece no helper has started, and waits only for pieces a helper is
     * running. A helper that is slow to be scheduled (a busy machine) thus never holds the caller
     * up; it finds nothing left and returns. An exception from any piece is rethrown here.
     */
    public static void forChunks(int n, int chunks, Range body) {
        chunks = Math.min(chunks, n);
        if (chunks <= 1 || ForkJoinTask.getPool() == POOL || IN_PARALLEL.get()[0]) {
            if (n > 0) body.run(0, n);
            return;
        }
        Fork fork = new Fork(n, chunks, body, Thread.currentThread());
        for (int c = 1; c < chunks; c++) POOL.execute(fork::help);
        boolean[] flag = IN_PARALLEL.get();
        boolean was = flag[0];
        flag[0] = true;
        int byHelpers = chunks - 1;
        try {
            fork.piece(0);
            for (int c; (c = fork.next.getAndIncrement()) < chunks; byHelpers--) fork.piece(c);
        } finally {
            flag[0] = was;
        }
        fork.await(byHelpers); // every piece is claimed now: the rest run on helpers
    }

    /** The shared state of one {@link #forChunks} call. */
    private static final class Fork {
        final int n, chunks;
        final Range body;
        final Thread caller;
        final AtomicInteger next = new AtomicInteger(1), helped = new AtomicInteger();
        volatile Throwable error;

        Fork(int n, int chunks, Range body, Thread caller) {
            this.n = n;
            this.chunks = chunks;
            this.body = body;
            this.caller = caller;
        }

        void piece(int c) {
            int base = n / chunks, rem = n % chunks;
            int s = c * base + Math.min(c, rem), e = s + base + (c < rem ? 1 : 0);
            body.run(s, e);
        }

        /** A pool thread: claims and runs pieces until none are left. */
        void help() {
            for (int c; (c = next.getAndIncrement()) < chunks; ) {
                try {
                    piece(c);
                } catch (Throwable t) {
                    error = t;
                } finally {
                    helped.incrementAndGet();
                    LockSupport.unpark(caller);
                }
            }
        }

        /** Waits (briefly spinning, then parked) until the pieces helpers claimed have finished. */
        void await(int byHelpers) {
            long spinUntil = System.nanoTime() + 50_000L;
            while (helped.get() < byHelpers) {
                if (System.nanoTime() < spinUntil) Thread.onSpinWait();
                else LockSupport.parkNanos(this, 100_000L);
            }
            Throwable t = error;
            if (t instanceof RuntimeException r) throw r;
            if (t instanceof Error err) throw err;
            if (t != null) throw new RuntimeException(t);
        }
    }
}
