package dev.kiln.dist;

import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Tensor;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * An in-JVM process group: the ranks are threads of one JVM sharing a {@link World}, which
 * matches the k-th collective of every rank (a rendezvous per collective, see
 * {@link World#exchange}). Each rank runs its collectives in issue order on one background
 * thread, so they are asynchronous like the TCP and NCCL backends. Every rank copies its input into
 * a {@code double[]}, and every rank reduces all copies in rank order (0, 1, ...) in float64, so
 * all ranks end with bit-identical results and F32 results are rounded once. Good for fast tests
 * of everything above the collectives and for threads-as-ranks training in one process.
 * <pre>
 * List&lt;Double&gt; r = LocalProcessGroup.world(4).run(pg -&gt; { ... pg.allReduce(t, AVG).await(); ... });
 * </pre>
 * Timeouts and failures: a rank waiting longer than {@link #timeout()} for its peers, a rank that
 * aborts, or a rank that closes its group while others still wait, fails the whole world: every
 * pending and later collective on every rank throws a {@link DistException} naming the op and ranks.
 */
public final class LocalProcessGroup implements ProcessGroup {
    private final World world;
    private final int rank;
    private final ExecutorService worker;
    private long issued;

    LocalProcessGroup(World world, int rank) {
        this.world = world;
        this.rank = rank;
        this.worker = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "kiln-local-rank-" + rank);
            t.setDaemon(true);
            return t;
        });
    }

    /** A world of {@code size} thread ranks with the default 5 minute timeout. */
    public static World world(int size) { return new World(size, Duration.ofMinutes(5)); }

    @Override public int rank() { return rank; }
    @Override public int size() { return world.size(); }
    @Override public String backend() { return "local"; }
    @Override public Duration timeout() { return world.timeout(); }

    @Override
    public Work allReduce(Tensor t, ReduceOp op) {
        return submit("allReduce", seq -> {
            double[][] all = exchange("allReduce", seq, t.toDoubleArray(), t);
            write(t, reduce(all, op, 0, all[rank].length));
        });
    }

    @Override
    public Work broadcast(Tensor t, int root) {
        if (root < 0 || root >= size()) throw new IllegalArgumentException("broadcast: root " + root + " outside [0, " + size() + ")");
        return submit("broadcast", seq -> {
            double[][] all = exchange("broadcast", seq, rank == root ? t.toDoubleArray() : null, t);
            double[] src = all[root];
            if (src.length != t.numel())
                throw new DistException("broadcast: rank " + rank + " has " + t.numel() + " elements, root " + root + " sent " + src.length);
            if (rank != root) write(t, src);
        });
    }

    @Override
    public Work allGather(List<Tensor> out, Tensor in) {
        if (out.size() != size())
            throw new IllegalArgumentException("allGather: " + out.size() + " output tensors for " + size() + " ranks");
        for (Tensor o : out)
            if (o.numel() != in.numel())
                throw new IllegalArgumentException("allGather: output " + Shape.str(o.shape()) + " does not match input " + Shape.str(in.shape()));
        return submit("allGather", seq -> {
            double[][] all = exchange("allGather", seq, in.toDoubleArray(), in);
            for (int r = 0; r < all.length; r++) write(out.get(r), all[r]);
        });
    }

    @Override
    public Work reduceScatter(Tensor out, Tensor in, ReduceOp op) {
        if (in.numel() != out.numel() * size())
            throw new IllegalArgumentException("reduceScatter: input " + Shape.str(in.shape()) + " is not " + size()
                    + " times output " + Shape.str(out.shape()));
        return submit("reduceScatter", seq -> {
            double[][] all = exchange("reduceScatter", seq, in.toDoubleArray(), in);
            int m = Math.toIntExact(out.numel());
            write(out, reduce(all, op, rank * m, m));
        });
    }

    @Override
    public Work barrier() {
        return submit("barrier", seq -> world.exchange("barrier", seq, rank, null));
    }

    @Override
    public void abort(String reason) {
        world.fail("rank " + rank + " aborted: " + reason);
        worker.shutdownNow();
    }

    /** Stops this rank's worker; a peer still waiting for this rank fails instead of hanging. */
    @Override
    public void close() {
        worker.shutdown();
        try {
            if (!worker.awaitTermination(timeout().toMillis(), TimeUnit.MILLISECONDS)) worker.shutdownNow();
        } catch (InterruptedException e) {
            worker.shutdownNow();
            Thread.currentThread().interrupt();
        }
        world.leave(rank);
    }

    @Override public String toString() { return "LocalProcessGroup(rank " + rank + " of " + size() + ")"; }

    // ------------------------------------------------------------------ internals

    private interface Body { void run(long seq); }

    /** Queues a collective on this rank's worker; collectives run in issue order. */
    private synchronized Work submit(String op, Body body) {
        long seq = issued++;
        CompletableFuture<Void> f;
        try {
            f = CompletableFuture.runAsync(() -> body.run(seq), worker);
        } catch (RejectedExecutionException e) {
            f = CompletableFuture.failedFuture(new DistException(op + ": rank " + rank + "'s group is closed or aborted"));
        }
        return new FutureWork(f);
    }

    private double[][] exchange(String op, long seq, double[] mine, Tensor t) {
        Object[] got = world.exchange(op, seq, rank, mine);
        double[][] all = new double[got.length][];
        for (int r = 0; r < got.length; r++) {
            all[r] = (double[]) got[r];
            if (all[r] != null && mine != null && all[r].length != mine.length)
                throw new DistException(op + ": rank " + rank + " has " + mine.length + " elements (" + Shape.str(t.shape())
                        + ") but rank " + r + " has " + all[r].length);
        }
        return all;
    }

    /** Elements [from, from + n) reduced over ranks in rank order. */
    private static double[] reduce(double[][] all, ReduceOp op, int from, int n) {
        double[] out = java.util.Arrays.copyOfRange(all[0], from, from + n);
        for (int r = 1; r < all.length; r++) {
            double[] x = all[r];
            for (int i = 0; i < n; i++) out[i] = op == ReduceOp.MAX ? Math.max(out[i], x[from + i]) : out[i] + x[from + i];
        }
        if (op == ReduceOp.AVG) for (int i = 0; i < n; i++) out[i] /= all.length;
        return out;
    }

    private static void write(Tensor t, double[] values) {
        try (Tensor src = Tensor.fromArray(values, t.shape())) {
            t.copyFrom(src);
        }
    }

    /** A collective running on the rank's worker thread. */
    private record FutureWork(CompletableFuture<Void> future) implements Work {
        @Override
        public void await() {
            try {
                future.join();
            } catch (CompletionException | java.util.concurrent.CancellationException e) {
                Throwable c = e.getCause() == null ? e : e.getCause();
                if (c instanceof DistException d) throw new DistException(d.getMessage(), d);
                throw new DistException("collective failed: " + c, c);
            }
        }

        @Override public boolean isCompleted() { return future.isDone(); }
    }

    /**
     * The shared state of a {@link LocalProcessGroup}: {@code size} thread ranks and a rendezvous per
     * collective. The k-th collective issued by each rank meets the k-th of every other rank in one
     * round; each rank leaves with every rank's payload. A round that does not fill within the
     * timeout, a mismatched op, an abort or a rank that leaves early fails the world: every waiting
     * and later collective of every rank then throws a {@link DistException} with the first failure.
     */
    public static final class World {
        private final int size;
        private final Duration timeout;
        private final LocalProcessGroup[] groups;
        private final Map<Long, Round> rounds = new HashMap<>();
        private final boolean[] left;
        private String failure;

        /** One collective in flight: every rank's payload, arrivals and departures. */
        private static final class Round {
            final String op;
            final Object[] payloads;
            final boolean[] arrived;
            int arrivals, departures;

            Round(String op, int size) {
                this.op = op;
                this.payloads = new Object[size];
                this.arrived = new boolean[size];
            }
        }

        public World(int size, Duration timeout) {
            if (size < 1) throw new IllegalArgumentException("LocalProcessGroup.World: size must be >= 1, got " + size);
            if (timeout.isNegative() || timeout.isZero()) throw new IllegalArgumentException("LocalProcessGroup.World: timeout must be positive, got " + timeout);
            this.size = size;
            this.timeout = timeout;
            this.groups = new LocalProcessGroup[size];
            this.left = new boolean[size];
        }

        public int size() { return size; }
        public Duration timeout() { return timeout; }

        /** The process group of one rank (the same object on every call). */
        public synchronized LocalProcessGroup group(int rank) {
            if (rank < 0 || rank >= size) throw new IllegalArgumentException("LocalProcessGroup.World: rank " + rank + " outside [0, " + size + ")");
            if (groups[rank] == null) groups[rank] = new LocalProcessGroup(this, rank);
            return groups[rank];
        }

        /**
         * Runs {@code body} on one thread per rank with that rank's group and returns the results by
         * rank. A rank that throws fails the world (its peers stop with a DistException instead of
         * waiting); the first failure is rethrown here once every thread has ended. Groups are closed.
         */
        public <T> List<T> run(Function<ProcessGroup, T> body) {
            List<T> results = new ArrayList<>();
            Object[] out = new Object[size];
            Throwable[] errors = new Throwable[size];
            Thread[] threads = new Thread[size];
            for (int r = 0; r < size; r++) {
                int rank = r;
                threads[r] = new Thread(() -> {
                    try (LocalProcessGroup pg = group(rank)) {
                        out[rank] = body.apply(pg);
                    } catch (Throwable e) {
                        errors[rank] = e;
                        fail("rank " + rank + " failed: " + e);
                    }
                }, "kiln-rank-" + r);
                threads[r].start();
            }
            for (Thread t : threads) {
                try {
                    t.join();
                } catch (InterruptedException e) {
                    fail("interrupted while waiting for the ranks");
                    Thread.currentThread().interrupt();
                }
            }
            rethrowFirst(errors);
            for (Object o : out) {
                @SuppressWarnings("unchecked") T t = (T) o;
                results.add(t);
            }
            return results;
        }

        /** Throws the root failure: the rank whose error is not merely a consequence of another's. */
        private static void rethrowFirst(Throwable[] errors) {
            Throwable first = null;
            for (Throwable e : errors) {
                if (e == null) continue;
                if (first == null || (first instanceof DistException && !(e instanceof DistException))) first = e;
            }
            if (first instanceof RuntimeException re) throw re;
            if (first instanceof Error err) throw err;
            if (first != null) throw new DistException(first.toString(), first);
        }

        /**
         * Joins collective number {@code seq} as {@code rank} with a payload; returns every rank's
         * payload (by rank) once all ranks have joined. Throws a DistException on timeout or failure.
         */
        synchronized Object[] exchange(String op, long seq, int rank, Object payload) {
            checkAlive(op, seq, rank);
            Round round = rounds.computeIfAbsent(seq, k -> new Round(op, size));
            if (!round.op.equals(op)) {
                throw failed("collective #" + seq + ": rank " + rank + " called " + op + " but another rank called " + round.op);
            }
            round.payloads[rank] = payload;
            round.arrived[rank] = true;
            round.arrivals++;
            notifyAll();
            long deadline = System.nanoTime() + timeout.toNanos();
            while (round.arrivals < size) {
                checkAlive(op, seq, rank);
                long waitNs = deadline - System.nanoTime();
                if (waitNs <= 0) {
                    throw failed(op + " (collective #" + seq + "): rank " + rank + " timed out after " + timeout
                            + " waiting for ranks " + missing(round));
                }
                try {
                    wait(Math.max(1, waitNs / 1_000_000));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw failed(op + " (collective #" + seq + "): rank " + rank + " interrupted");
                }
            }
            if (++round.departures == size) rounds.remove(seq);
            return round.payloads.clone();
        }

        /** Fails the world with a reason (the first reason wins); wakes every waiting rank. */
        synchronized void fail(String reason) {
            if (failure == null) failure = reason;
            notifyAll();
        }

        /** A rank closed its group: collectives that still need it can never finish. */
        synchronized void leave(int rank) {
            left[rank] = true;
            for (Round r : rounds.values())
                if (!r.arrived[rank]) fail("rank " + rank + " closed its group while " + r.op + " waited for it");
            notifyAll();
        }

        private void checkAlive(String op, long seq, int rank) {
            if (failure != null) throw new DistException(op + " (collective #" + seq + ") on rank " + rank + " failed: " + failure);
            for (int r = 0; r < size; r++)
                if (left[r] && r != rank) {
                    Round round = rounds.get(seq);
                    if (round == null || !round.arrived[r])
                        throw failed(op + " (collective #" + seq + "): rank " + r + " has closed its group");
                }
        }

        private DistException failed(String reason) {
            fail(reason);
            return new DistException(reason);
        }

        private List<Integer> missing(Round round) {
            List<Integer> m = new ArrayList<>();
            for (int r = 0; r < size; r++) if (!round.arrived[r]) m.add(r);
            return m;
        }
    }
}
