package dev.kiln.backend.cpu;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntConsumer;

/**
 * One parallel step of the blocked GEMM in a single fork ({@link Parallel#forChunks}): every
 * participant claims B-packing tasks until none are left, waits until all of B is packed, then
 * claims blocks of M rows until none are left. Work is claimed dynamically, so a participant that
 * starts late (thread wake-up) or is preempted just does less, and the wake-up of the helpers
 * overlaps the packing of B. The barrier only waits for packing tasks already claimed by a running
 * participant, so it cannot deadlock when a helper never gets to run.
 *
 * <p>The calling thread, once out of work, spins briefly for helpers still finishing their last
 * block before the fork's join: at small sizes the park / unpark of a plain join cost ~20% of a
 * 256^3 GEMM on 2 threads.
 */
final class GemmTeam {
    /** Longest the caller spins for running helpers before falling back to the blocking join. */
    private static final long SPIN_NANOS = 200_000L;

    private final int packTasks, blocks;
    private final IntConsumer pack, block;
    private final AtomicInteger nextPack = new AtomicInteger(), packed = new AtomicInteger();
    private final AtomicInteger nextBlock = new AtomicInteger(), started = new AtomicInteger(), finished = new AtomicInteger();

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
            for (int i; (i = nextPack.getAndIncrement()) < packTasks; ) {
                try {
                    pack.accept(i);
                } finally {
                    packed.incrementAndGet();
                }
            }
            awaitPacked();
            for (int i; (i = nextBlock.getAndIncrement()) < blocks; ) block.accept(i);
        } finally {
            finished.incrementAndGet();
        }
        if (caller) awaitHelpers();
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
