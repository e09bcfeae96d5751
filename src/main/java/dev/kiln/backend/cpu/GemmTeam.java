package dev.kiln.backend.cpu;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntConsumer;

/**
 * One parallel step of the blocked GEMM in a single fork ({@link Parallel#forChunks}): every
 * participant claims B-packing tasks until none are left, waits until all of B is packed, then
 * claims blocks of M rows until none are left (the caller from the front, helpers from the back,
 * see {@link #claim}). Work is claimed dynamically, so a participant that
 * starts late (thread wake-up) or is preempted just does less, and the wake-up of the helpers
 * overlaps the packing of B. The barrier only waits for packing tasks already claimed by a running
 * participant, so it cannot deadlock when a helper never gets to run.
 *
 * <p>The calling thread, once out of work, spins briefly for helpers still finishing their last
 * block before the fork's join: at small sizes the park / unpark of a plain join cost ~20% of a
 * 256^3 GEMM on 2 threads.
 */
final class GemmTeam {
    /** Whether helpers claim from the back ({@link #claim}); property kiln.gemm.twoEnded=false: all from the front (for A/B runs). */
    static volatile boolean twoEnded = !"false".equalsIgnoreCase(System.getProperty("kiln.gemm.twoEnded"));

    /** Longest the caller spins for running helpers before falling back to the blocking join. */
    private static final long SPIN_NANOS = 200_000L;

    private final int packTasks, blocks;
    private final IntConsumer pack, block;
    private final AtomicInteger packFront = new AtomicInteger(), packBack = new AtomicInteger(), packClaims = new AtomicInteger();
    private final AtomicInteger packed = new AtomicInteger();
    private final AtomicInteger blockFront = new AtomicInteger(), blockBack = new AtomicInteger(), blockClaims = new AtomicInteger();
    private final AtomicInteger started = new AtomicInteger(), finished = new AtomicInteger();

    private GemmTeam(int packTasks, IntConsumer pack, int blocks, IntConsumer block) {
        this.packTasks = packTasks;
        this.pack = pack;
        this.blocks = blocks;
        this.block = block;
    }

    /** Runs pack(0..packTasks-1), then block(0..blocks-1), on up to threads threads. */
    static void run(int threads, int packTasks, IntConsumer pack, int blocks, IntConsumer block) {
        if (threads <= 1 || blocks <= 1) {
            for (int i = 0; i < packTasks; i++) pack.accept(i);
            for (int i = 0; i < blocks; i++) block.accept(i);
            return;
        }
        GemmTeam team = new GemmTeam(packTasks, pack, blocks, block);
        Parallel.forChunks(Math.min(threads, blocks), threads, (s, e) -> team.participate(s == 0));
    }

    private void participate(boolean caller) {
        started.incrementAndGet();
        try {
            for (int i; (i = claim(caller, packTasks, packClaims, packFront, packBack)) >= 0; ) {
                try {
                    pack.accept(i);
                } finally {
                    packed.incrementAndGet();
                }
            }
            awaitPacked();
            for (int i; (i = claim(caller, blocks, blockClaims, blockFront, blockBack)) >= 0; ) block.accept(i);
        } finally {
            finished.incrementAndGet();
        }
        if (caller) awaitHelpers();
    }

    /**
     * The next unclaimed index of [0, count), or -1: the caller takes them from the front, helpers
     * from the back, so when both run the caller ends up with the first rows of C and the helper
     * with the last ones. That is the split the elementwise ops after a GEMM use (the caller runs
     * the first piece of a parallel loop), so they read what their own core just wrote: on the
     * Zen 4 VM a residual Add after a GEMM whose tasks were claimed in one order from the front
     * (each thread writing alternate column groups) took twice as long (45 against 22 us for
     * 128 x 768). Indices from the two ends never meet: at most count claims succeed.
     */
    private static int claim(boolean caller, int count, AtomicInteger claims, AtomicInteger front, AtomicInteger back) {
        if (claims.getAndIncrement() >= count) return -1;
        return caller || !twoEnded ? front.getAndIncrement() : count - 1 - back.getAndIncrement();
    }

    private void awaitPacked() {
        for (int spins = 0; packed.get() < packTasks; spins++) {
            if ((spins & 1023) == 1023) Thread.yield();
            else Thread.onSpinWait();
        }
    }

    private void awaitHelpers() {
        long deadline = System.nanoTime() + SPIN_NANOS;
        while (finished.get() < started.get() && System.nanoTime() < deadline) Thread.onSpinWait();
    }
}
