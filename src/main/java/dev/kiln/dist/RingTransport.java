package dev.kiln.dist;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * The sockets of one rank in the CPU ring: a channel to the next rank (rank+1, sends only) and one
 * from the previous rank (rank-1, receives only). Sends run on a sender thread of their own so a
 * rank can send and receive at once (two ranks that both only wrote would deadlock once the socket
 * buffers fill); receives run on the caller's thread. Data moves between off-heap segments and the
 * sockets in pieces of {@link #PIECE_BYTES}, without heap copies.
 *
 * <p>Timeouts: a shared watchdog checks every few ms whether a receive or send call has been
 * blocked longer than the timeout without progress, and if so fails the transport: it records the
 * reason (the first failure wins) and closes every channel, which unblocks both threads. Any other
 * failure (EOF, reset) fails it the same way, so the rank's neighbours see their sockets close and
 * fail in turn: an error travels around the ring instead of leaving anyone blocked.
 */
final class RingTransport implements AutoCloseable {
    static final int PIECE_BYTES = 1 << 20;
    private static final int MAGIC = 0x4B494C4E; // "KILN"
    private static final ScheduledExecutorService WATCHDOG = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "kiln-dist-watchdog");
        t.setDaemon(true);
        return t;
    });

    /** A failure of the ring, already phrased: "lost peer rank 1 (connection closed)". */
    static final class RingFailure extends IOException {
        RingFailure(String message, Throwable cause) { super(message, cause); }
    }

    private final int rank, size, prev, next;
    private final Duration timeout;
    private final ServerSocketChannel server;
    private volatile SocketChannel toNext, fromPrev;
    private final ExecutorService sender;
    private final ScheduledFuture<?> watch;
    private volatile long recvSince, sendSince; // System.nanoTime() of the blocked call, 0 when idle
    private volatile String failure;

    /**
     * Connects the ring: listens on an ephemeral port, publishes "host:port" under
     * {@code prefix/addr/rank} in the store, connects to the next rank and accepts the previous one.
     */
    RingTransport(TcpStore store, String prefix, int rank, int size, Duration timeout) {
        this.rank = rank;
        this.size = size;
        this.prev = (rank - 1 + size) % size;
        this.next = (rank + 1) % size;
        this.timeout = timeout;
        this.sender = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "kiln-dist-send-r" + rank);
            t.setDaemon(true);
            return t;
        });
        long period = Math.clamp(timeout.toMillis() / 20, 5, 200);
        this.watch = WATCHDOG.scheduleAtFixedRate(this::checkTimeouts, period, period, TimeUnit.MILLISECONDS);
        try {
            this.server = ServerSocketChannel.open().bind(new InetSocketAddress(0), size);
            connect(store, prefix);
        } catch (IOException | RuntimeException e) {
            String why = failure != null ? failure : e.getMessage();
            close();
            throw new DistException("cpu process group setup (rank " + rank + " of " + size + "): " + why, e);
        }
    }

    private void connect(TcpStore store, String prefix) throws IOException {
        int port = ((InetSocketAddress) server.getLocalAddress()).getPort();
        store.set(prefix + "/addr/" + rank, store.localAddress().getHostAddress() + ":" + port);
        String addr = store.getString(prefix + "/addr/" + next);
        int colon = addr.lastIndexOf(':');
        SocketChannel out = SocketChannel.open();
        out.setOption(StandardSocketOptions.TCP_NODELAY, true);
        out.socket().connect(new InetSocketAddress(addr.substring(0, colon), Integer.parseInt(addr.substring(colon + 1))),
                (int) Math.min(timeout.toMillis(), Integer.MAX_VALUE));
        toNext = out;
        ByteBuffer hello = ByteBuffer.allocate(12).putInt(MAGIC).putInt(rank).putInt(size).flip();
        while (hello.hasRemaining()) out.write(hello);
        recvSince = System.nanoTime(); // the watchdog bounds the accept and the hello
        SocketChannel in;
        try {
            in = server.accept();
        } finally {
            recvSince = 0;
        }
        in.setOption(StandardSocketOptions.TCP_NODELAY, true);
        fromPrev = in;
        ByteBuffer got = ByteBuffer.allocate(12);
        recvFully(MemorySegment.ofBuffer(got));
        if (got.getInt(0) != MAGIC || got.getInt(4) != prev || got.getInt(8) != size)
            throw new IOException("unexpected hello from " + in.getRemoteAddress() + ": expected rank " + prev + " of " + size
                    + ", got rank " + got.getInt(4) + " of " + got.getInt(8));
        server.close(); // the ring is complete
    }

    int prev() { return prev; }

    int next() { return next; }

    /** The reason the transport failed, or null while it works. */
    String failure() { return failure; }

    /** Queues {@code seg} for sending to the next rank (in order with earlier sends). */
    Future<?> send(MemorySegment seg) {
        return sender.submit(() -> {
            sendFully(seg);
            return null;
        });
    }

    private void sendFully(MemorySegment seg) throws RingFailure {
        try {
            for (long off = 0; off < seg.byteSize(); off += PIECE_BYTES) {
                ByteBuffer bb = seg.asSlice(off, Math.min(PIECE_BYTES, seg.byteSize() - off)).asByteBuffer();
                while (bb.hasRemaining()) {
                    sendSince = System.nanoTime();
                    toNext.write(bb);
                }
            }
        } catch (IOException | RuntimeException e) {
            throw failed("lost peer rank " + next + " (" + describe(e) + ")", e);
        } finally {
            sendSince = 0;
        }
    }

    /** Waits for a send queued by {@link #send}; its failure comes back as a RingFailure. */
    void awaitSend(Future<?> f) throws RingFailure {
        try {
            f.get();
        } catch (java.util.concurrent.ExecutionException e) {
            throw e.getCause() instanceof RingFailure rf ? rf : failed("send failed: " + describe(e.getCause()), e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw failed("interrupted", e);
        }
    }

    /** Reads exactly {@code seg.byteSize()} bytes from the previous rank into {@code seg}. */
    void recvFully(MemorySegment seg) throws RingFailure {
        try {
            for (long off = 0; off < seg.byteSize(); off += PIECE_BYTES) {
                ByteBuffer bb = seg.asSlice(off, Math.min(PIECE_BYTES, seg.byteSize() - off)).asByteBuffer();
                while (bb.hasRemaining()) {
                    recvSince = System.nanoTime();
                    if (fromPrev.read(bb) < 0) throw new java.io.EOFException("connection closed");
                }
            }
        } catch (IOException | RuntimeException e) {
            throw failed("lost peer rank " + prev + " (" + describe(e) + ")", e);
        } finally {
            recvSince = 0;
        }
    }

    /** A scratch segment for received pieces (GC-managed so no thread can see it freed). */
    static MemorySegment scratch(long bytes) {
        return Arena.ofAuto().allocate(Math.max(bytes, 1), 64);
    }

    private void checkTimeouts() {
        long now = System.nanoTime(), limit = timeout.toNanos();
        long r = recvSince, s = sendSince;
        if (r != 0 && now - r > limit)
            fail("timed out after " + TcpStore.seconds(timeout) + " waiting for rank " + prev);
        else if (s != 0 && now - s > limit)
            fail("timed out after " + TcpStore.seconds(timeout) + " waiting for rank " + next + " to receive");
    }

    /** Records the first failure and closes every channel; later calls keep the first reason. */
    void fail(String reason) {
        synchronized (this) {
            if (failure == null) failure = reason;
        }
        closeChannels();
    }

    private RingFailure failed(String reason, Throwable cause) {
        fail(reason);
        return new RingFailure(failure, cause); // a close we caused ourselves reports the first reason
    }

    private static String describe(Throwable e) {
        String m = e.getMessage();
        return m == null || m.isBlank() ? e.getClass().getSimpleName() : m;
    }

    private void closeChannels() {
        for (java.io.Closeable c : new java.io.Closeable[]{toNext, fromPrev, server}) {
            if (c == null) continue;
            try {
                c.close();
            } catch (IOException ignored) {
                // closing anyway
            }
        }
    }

    @Override
    public void close() {
        fail("group closed");
        watch.cancel(false);
        sender.shutdownNow();
    }
}
