package dev.kiln.dist;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.UnknownHostException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;

/**
 * The rendezvous store, a small TCP key-value store that plays the role of torch.distributed's
 * TCPStore: rank 0 hosts a {@link TcpStoreServer} on MASTER_ADDR:MASTER_PORT and every rank
 * (rank 0 included) talks to it through one of these clients. Ranks use it to exchange addresses
 * and ids before they talk to each other directly.
 *
 * <p>{@link #set} stores bytes; {@link #get} waits until the key exists; {@link #add} is an atomic
 * counter (8 bytes, big-endian, readable with {@link #get}); {@link #await} waits for several keys.
 * Every call gives up after the store's timeout with a {@link DistException} such as
 * {@code store: timed out after 30 s waiting for key 'x' (rank 1)}. Connecting retries until the
 * timeout, so ranks may start in any order. One client is safe to share between threads (calls
 * are serialized).
 */
public final class TcpStore implements AutoCloseable {
    /** Extra time a client waits for the server's own TIMEOUT answer before giving up itself. */
    private static final long REPLY_SLACK_MS = 5_000;

    private final String host;
    private final int port;
    private final int rank;
    private final Duration timeout;
    private final TcpStoreServer server; // hosted by this client (rank 0), or null
    private final Socket socket;
    private final DataInputStream in;
    private final DataOutputStream out;

    private TcpStore(String host, int port, int rank, Duration timeout, TcpStoreServer server) {
        this.host = host;
        this.port = port;
        this.rank = rank;
        this.timeout = timeout;
        this.server = server;
        this.socket = connect();
        try {
            this.in = new DataInputStream(new BufferedInputStream(socket.getInputStream()));
            this.out = new DataOutputStream(new BufferedOutputStream(socket.getOutputStream()));
        } catch (IOException e) {
            throw new DistException(where() + ": " + e.getMessage(), e);
        }
    }

    /**
     * Opens the store: rank 0 starts the server on {@code host:port} (port 0 picks a free one, read
     * it with {@link #port()}) and connects to it; other ranks connect, retrying until the timeout.
     */
    public static TcpStore open(int rank, String host, int port, Duration timeout) {
        if (rank != 0) return connect(rank, host, port, timeout);
        TcpStoreServer server = TcpStoreServer.start(bindAddress(host), port);
        try {
            return new TcpStore(host, server.port(), rank, timeout, server);
        } catch (RuntimeException e) {
            server.close();
            throw e;
        }
    }

    /** A client of a server that runs elsewhere (another rank or a {@link TcpStoreServer} of its own). */
    public static TcpStore connect(int rank, String host, int port, Duration timeout) {
        return new TcpStore(host, port, rank, timeout, null);
    }

    private static InetAddress bindAddress(String host) {
        try {
            InetAddress a = InetAddress.getByName(host);
            // a loopback master only needs loopback; any other address listens on every interface
            return a.isLoopbackAddress() ? a : null;
        } catch (UnknownHostException e) {
            throw new DistException("store: unknown host '" + host + "'", e);
        }
    }

    private Socket connect() {
        long deadline = System.nanoTime() + timeout.toNanos();
        IOException last = null;
        while (System.nanoTime() < deadline) {
            Socket s = new Socket();
            try {
                s.setTcpNoDelay(true);
                long leftMs = Math.max(1, (deadline - System.nanoTime()) / 1_000_000L);
                s.connect(new InetSocketAddress(host, port), (int) Math.min(leftMs, Integer.MAX_VALUE));
                return s;
            } catch (IOException e) {
                last = e;
                closeQuietly(s);
                sleep(100);
            }
        }
        throw new DistException("store: cannot connect to " + host + ":" + port + " within " + seconds(timeout) + " (rank " + rank + ")"
                + (last == null ? "" : ": " + last.getMessage()), last);
    }

    /** The server's port (the chosen one when rank 0 opened it with port 0). */
    public int port() { return port; }

    public String host() { return host; }

    public int rank() { return rank; }

    public Duration timeout() { return timeout; }

    /** The local address this client reaches the server from: the address peers can reach this rank at. */
    public InetAddress localAddress() { return socket.getLocalAddress(); }

    /** Stores {@code value} under {@code key}, replacing any earlier value, and wakes its waiters. */
    public synchronized void set(String key, byte[] value) {
        call("set('" + key + "')", timeout.toMillis(), () -> {
            out.writeByte(TcpStoreServer.SET);
            out.writeUTF(key);
            out.writeInt(value.length);
            out.write(value);
            out.flush();
            expectOk("set('" + key + "')");
            return null;
        });
    }

    public void set(String key, String value) { set(key, value.getBytes(StandardCharsets.UTF_8)); }

    /** The value of {@code key}, waiting until some rank sets it or the timeout passes. */
    public synchronized byte[] get(String key) {
        return call("get('" + key + "')", timeout.toMillis() + REPLY_SLACK_MS, () -> {
            out.writeByte(TcpStoreServer.GET);
            out.writeUTF(key);
            out.writeLong(timeout.toMillis());
            out.flush();
            int status = in.readByte();
            if (status == TcpStoreServer.TIMEOUT) throw timedOut(key);
            checkStatus(status, "get('" + key + "')");
            byte[] v = new byte[in.readInt()];
            in.readFully(v);
            return v;
        });
    }

    public String getString(String key) { return new String(get(key), StandardCharsets.UTF_8); }

    /** Adds {@code delta} to the counter {@code key} (0 when absent) atomically; returns the new value. */
    public synchronized long add(String key, long delta) {
        return call("add('" + key + "')", timeout.toMillis(), () -> {
            out.writeByte(TcpStoreServer.ADD);
            out.writeUTF(key);
            out.writeLong(delta);
            out.flush();
            int status = in.readByte();
            checkStatus(status, "add('" + key + "')");
            return in.readLong();
        });
    }

    /** Reads a counter value written by {@link #add} (as returned by {@link #get}). */
    public static long counterValue(byte[] bytes) { return ByteBuffer.wrap(bytes).getLong(); }

    /** True when {@code key} is set now (does not wait). */
    public synchronized boolean check(String key) {
        return call("check('" + key + "')", timeout.toMillis(), () -> {
            out.writeByte(TcpStoreServer.CHECK);
            out.writeUTF(key);
            out.flush();
            checkStatus(in.readByte(), "check('" + key + "')");
            return in.readBoolean();
        });
    }

    /** Waits until every key is set; the timeout covers all of them together. */
    public synchronized void await(List<String> keys) {
        call("wait(" + keys + ")", timeout.toMillis() + REPLY_SLACK_MS, () -> {
            out.writeByte(TcpStoreServer.WAIT);
            out.writeInt(keys.size());
            for (String k : keys) out.writeUTF(k);
            out.writeLong(timeout.toMillis());
            out.flush();
            int status = in.readByte();
            if (status == TcpStoreServer.TIMEOUT) throw timedOut(in.readUTF());
            checkStatus(status, "wait(" + keys + ")");
            return null;
        });
    }

    private DistException timedOut(String key) {
        return new DistException("store: timed out after " + seconds(timeout) + " waiting for key '" + key + "' (rank " + rank + ")");
    }

    private void expectOk(String what) throws IOException { checkStatus(in.readByte(), what); }

    private void checkStatus(int status, String what) throws IOException {
        if (status == TcpStoreServer.OK) return;
        String msg = status == TcpStoreServer.ERROR ? in.readUTF() : "bad reply " + status;
        throw new DistException("store: " + what + " failed (rank " + rank + "): " + msg);
    }

    private interface Call<T> { T run() throws IOException; }

    private <T> T call(String what, long readTimeoutMs, Call<T> body) {
        try {
            socket.setSoTimeout((int) Math.min(Math.max(1, readTimeoutMs), Integer.MAX_VALUE));
            return body.run();
        } catch (SocketTimeoutException e) {
            throw new DistException("store: timed out after " + seconds(timeout) + " in " + what + " (rank " + rank + "): no reply from " + host + ":" + port, e);
        } catch (IOException e) {
            throw new DistException("store: lost connection to " + host + ":" + port + " in " + what + " (rank " + rank + "): " + e.getMessage(), e);
        }
    }

    /** "30 s", "2.5 s": durations in error messages. */
    static String seconds(Duration d) {
        long ms = d.toMillis();
        return ms % 1000 == 0 ? (ms / 1000) + " s" : String.format(java.util.Locale.ROOT, "%.1f s", ms / 1000.0);
    }

    private String where() { return "store " + host + ":" + port + " (rank " + rank + ")"; }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new DistException("store: interrupted while connecting", e);
        }
    }

    private static void closeQuietly(Socket s) {
        try {
            s.close();
        } catch (IOException ignored) {
            // nothing to do
        }
    }

    /** Disconnects; rank 0's client also stops the server it hosts. */
    @Override
    public void close() {
        closeQuietly(socket);
        if (server != null) server.close();
    }
}
