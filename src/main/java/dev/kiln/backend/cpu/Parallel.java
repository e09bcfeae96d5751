package dev.kiln.backend.cpu;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * Splits work over {@link CpuConfig#threads()} threads: the caller and persistent worker threads
 * ({@link Worker}). A worker that finishes a piece spins for {@link #SPIN_NANOS} waiting for the
 * next one before it parks: a decode step or a small batch runs hundreds of parallel ops tens of
 * microseconds apart, and waking a parked thread costs about as much as a 768 x 768 matrix-vector
 * product's share (measured ~25 us on the Zen 4 VM), the cost that OpenMP runtimes avoid the same
 * way. Property {@code kiln.cpu.spinMicros} (default 50; 0: park at once). Longer spins cost
 * elsewhere: with 200 us the CNN training epoch (2 cores, where the spinning worker competes with
 * the GC and JIT threads) took 2.21-2.30 s against 1.89-2.01 s with 50 and 2.00-2.09 s with the
 * ForkJoinPool before (Zen 4, alternating runs). So the longer spin is for bursts only: while a
 * {@link #burst} scope is open (a model graph's run, a text generation loop), an idle worker spins
 * up to {@link #BURST_SPIN_NANOS} since its last piece. A GPT-2 decode step with 4-bit weights (49
 * matrix products between ~170 small ops each, some gaps longer than 50 us) took 5.6-6.1 ms
 * against 6.4-6.9 ms with the short spin (Zen 4, 2 threads, alternating runs); ResNet-50 at batch 1
 * (few, large ops) is within noise either way.
 */
public final class Parallel {
    private Parallel() {}

    static final long SPIN_NANOS = 1000L * Long.getLong("kiln.cpu.spinMicros", 50L);
    /** How long a worker spins while a {@link #burst} is open ({@code kiln.cpu.burstSpinMicros}, default 1000). */
    static final long BURST_SPIN_NANOS = Math.max(SPIN_NANOS, 1000L * Long.getLong("kiln.cpu.burstSpinMicros", 1000L));
    /**
     * Whether a worker in a burst yields its core past the short spin ({@code kiln.cpu.burstYield=true})
     * instead of spinning (the default). Three alternating pairs each on Zen 4, 2 threads: the 4-bit
     * GPT-2 decode step 5.74-6.00 ms spinning against 5.85-6.60 yielding; ResNet-50 at batch 1 the
     * same either way (50.0-53.1 against 50.3-57.0 ms, p90 64-67 both).
     */
    static final boolean BURST_YIELD = "true".equals(System.getProperty("kiln.cpu.burstYield"));
    /** Open {@link #burst} scopes. */
    private static final AtomicInteger BURSTS = new AtomicInteger();

    /**
     * Opens a burst: until the scope is closed, idle workers spin for {@link #BURST_SPIN_NANOS}
     * (instead of {@link #SPIN_NANOS}) before they park, so the many small parallel ops of a model
     * run or a decode loop find them awake. Closing it sends workers that have been idle longer
     * than the short spin to park at once. Scopes nest and may be opened on any thread.
     */
    public static Burst burst() {
        BURSTS.incrementAndGet();
        return new Burst();
    }

    /** How many {@link #burst} scopes are open now. */
    static int openBursts() { return BURSTS.get(); }

    /** An open {@link #burst}; close is idempotent. */
    public static final class Burst implements AutoCloseable {
        private boolean closed;

        private Burst() {}

        @Override public void close() {
            if (closed) return;
            closed = true;
            BURSTS.decrementAndGet();
        }
    }

    private static final Worker[] WORKERS = new Worker[Math.max(Runtime.getRuntime().availableProcessors(), 1)];

    /** True on a thread that is running a chunk of a parallel loop (nested loops then run inline). */
    private static final ThreadLocal<boolean[]> IN_PARALLEL = ThreadLocal.withInitial(() -> new boolean[1]);

    /** Whether this thread is inside a parallel loop (a worker, or a caller running a piece): nested loops run inline. */
    private static boolean nested() { return Thread.currentThread() instanceof Worker || IN_PARALLEL.get()[0]; }

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
        if (chunks <= 1 || nested()) {
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
        if (chunks <= 1 || nested()) {
            if (n > 0) body.run(0, n);
            return;
        }
        Fork fork = new Fork(n, chunks, body, Thread.currentThread());
        // hand the fork to chunks - 1 workers (each claims pieces until none are left); the caller
        // runs the first piece and any that no worker has claimed yet
        for (int i = 0; i < Math.min(WORKERS.length, chunks - 1); i++) worker(i).offer(fork);
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

    private static Worker worker(int i) {
        Worker w = WORKERS[i];
        if (w != null) return w;
        synchronized (WORKERS) {
            if (WORKERS[i] == null) {
                WORKERS[i] = new Worker("kiln-cpu-" + i);
                WORKERS[i].start();
            }
            return WORKERS[i];
        }
    }

    /**
     * A persistent pool thread with a queue of forks. {@link #offer} always queues (a worker that
     * is just finishing the previous fork takes the next one as soon as it is done; one that is
     * busy with another caller's fork takes it later and finds nothing left: harmless), then wakes
     * the worker if it parked. Dropping the offer while the worker still looked busy made the
     * caller run back-to-back parallel ops alone. After a fork the worker spins for
     * {@link #SPIN_NANOS} on its queue ({@link #BURST_SPIN_NANOS} in a {@link #burst}), then parks; the parked flag and the queue are written and
     * read in opposite orders by the two sides, so a fork is never left waiting on a parked worker.
     */
    private static final class Worker extends Thread {
        private final java.util.concurrent.ConcurrentLinkedQueue<Fork> queue = new java.util.concurrent.ConcurrentLinkedQueue<>();
        private volatile boolean parked;

        Worker(String name) {
            super(name);
            setDaemon(true);
        }

        void offer(Fork f) {
            queue.add(f);
            if (parked) LockSupport.unpark(this);
        }

        @Override
        public void run() {
            while (true) {
                Fork f;
                long idleSince = System.nanoTime();
                while ((f = queue.poll()) == null) {
                    long idle = System.nanoTime() - idleSince;
                    if (idle < SPIN_NANOS || !BURST_YIELD && idle < BURST_SPIN_NANOS && BURSTS.get() > 0) {
                        Thread.onSpinWait();
                        continue;
                    }
                    if (idle < BURST_SPIN_NANOS && BURSTS.get() > 0) {
                        Thread.yield();   // awake, but a runnable GC or JIT thread would get this core first
                        continue;
                    }
                    parked = true;
                    if (queue.isEmpty()) LockSupport.park(this);
                    parked = false;
                    idleSince = System.nanoTime();
                }
                f.help();
            }
        }
    }
}
