package dev.kiln.data;

import java.util.NoSuchElementException;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One epoch of a {@link DataLoader} whose batches are built on a daemon worker thread and handed
 * over through a queue of 2, so the next batches are ready while the consumer works on one.
 * The worker ends after the last batch (or on {@link #close()}, which signals it, waits for it,
 * and closes every batch it made that the consumer never took). A failure on the worker is
 * rethrown by the consumer's next {@code hasNext()/next()} call.
 */
final class PrefetchIterator extends DataLoader.BatchIterator {
    private static final int DEPTH = 2;
    private static final Object END = new Object();
    private static final AtomicInteger IDS = new AtomicInteger();

    /** A worker failure carried to the consumer. */
    private record Failure(Throwable error) {}

    private final BlockingQueue<Object> queue = new ArrayBlockingQueue<>(DEPTH);
    private final Thread worker;
    private volatile boolean stopped;
    private Object head;
    private boolean done;

    PrefetchIterator(DataLoader loader, int[] order, int numBatches) {
        super(loader, order, numBatches);
        worker = Thread.ofPlatform().daemon().name("kiln-dataloader-" + IDS.incrementAndGet()).start(this::work);
    }

    /** Thread name prefix of the workers (for tests that look for leaked threads). */
    static final String THREAD_PREFIX = "kiln-dataloader-";

    private void work() {
        try {
            for (int b = 0; b < numBatches && !stopped; b++) {
                Batch batch = loader.dataset().batch(loader.indicesOf(order, b));
                if (!offer(batch)) {
                    batch.close();
                    return;
                }
            }
            offer(END);
        } catch (Throwable t) {
            offer(new Failure(t));
        }
    }

    /**
     * Waits for room in the queue; false once the iteration is closed. Polls the stop flag instead
     * of being interrupted, so a dataset doing interruptible I/O (FileChannel) is never disturbed.
     */
    private boolean offer(Object item) {
        try {
            while (!stopped)
                if (queue.offer(item, 20, TimeUnit.MILLISECONDS)) return true;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return false;
    }

    @Override
    public boolean hasNext() {
        if (done) return false;
        if (head == null) head = take();
        if (head == END) {
            finish();
            return false;
        }
        if (head instanceof Failure f) {
            finish();
            if (f.error instanceof RuntimeException re) throw re;
            if (f.error instanceof Error err) throw err;
            throw new IllegalStateException("DataLoader worker failed: " + f.error, f.error);
        }
        return true;
    }

    @Override
    public Batch next() {
        if (!hasNext()) throw new NoSuchElementException("DataLoader: epoch finished");
        Batch b = (Batch) head;
        head = null;
        produced++;
        return b;
    }

    private Object take() {
        try {
            return queue.take();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            close();
            throw new IllegalStateException("DataLoader: interrupted while waiting for a batch", e);
        }
    }

    /** The worker has ended by itself; wait for the thread to exit. */
    private void finish() {
        done = true;
        stopped = true;
        head = null;
        join();
    }

    /** Stops the worker and frees batches it made that were never handed out. */
    @Override
    public void close() {
        if (stopped) return;
        stopped = true;
        done = true;
        if (head instanceof Batch b) b.close();
        head = null;
        drain();
        join();
        drain();
    }

    private void drain() {
        for (Object o; (o = queue.poll()) != null; )
            if (o instanceof Batch b) b.close();
    }

    private void join() {
        boolean interrupted = false;
        while (true) {
            try {
                worker.join();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) Thread.currentThread().interrupt();
    }
}
