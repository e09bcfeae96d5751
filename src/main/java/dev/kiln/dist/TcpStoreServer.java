package dev.kiln.dist;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The server side of the rendezvous store ({@link TcpStore} is the client): a map of byte values
 * guarded by one monitor, one daemon thread per connected client. GET and WAIT block on the server
 * until the keys exist or the client's timeout passes, so clients do not poll. A client that
 * disconnects (or sends garbage) only ends its own thread; the server keeps serving the others.
 *
 * <p>Wire format (big-endian, one request at a time per connection), see {@link TcpStore}:
 * SET key bytes -> OK; GET key timeoutMs -> OK bytes | TIMEOUT; ADD key delta -> OK long;
 * WAIT n keys... timeoutMs -> OK | TIMEOUT missingKey. Keys are modified UTF-8 strings.
 */
public final class TcpStoreServer implements AutoCloseable {
    static final byte SET = 1, GET = 2, ADD = 3, WAIT = 4, CHECK = 5;
    static final byte OK = 0, TIMEOUT = 1, ERROR = 2;

    private final ServerSocket server;
    private final Map<String, byte[]> data = new HashMap<>();
    private final Set<Socket> clients = ConcurrentHashMap.newKeySet();
    private volatile boolean closed;

    private TcpStoreServer(ServerSocket server) {
        this.server = server;
        Thread t = new Thread(this::acceptLoop, "kiln-store-accept-" + server.getLocalPort());
        t.setDaemon(true);
        t.start();
    }

    /**
     * Listens on {@code bind:port} (port 0 picks a free port, see {@link #port()}); a null bind
     * address listens on every interface.
     */
    public static TcpStoreServer start(InetAddress bind, int port) {
        try {
            ServerSocket s = new ServerSocket();
            s.setReuseAddress(true);
            s.bind(new InetSocketAddress(bind, port), 128);
            return new TcpStoreServer(s);
        } catch (IOException e) {
            throw new DistException("store: cannot listen on " + (bind == null ? "*" : bind.getHostAddress()) + ":" + port + ": " + e.getMessage(), e);
        }
    }

    /** The port the server listens on (the chosen one when started with port 0). */
    public int port() { return server.getLocalPort(); }

    /** Number of keys held (for tests). */
    public int keyCount() {
        synchronized (data) { return data.size(); }
    }

    private void acceptLoop() {
        while (!closed) {
            try {
                Socket s = server.accept();
                s.setTcpNoDelay(true);
                clients.add(s);
                Thread t = new Thread(() -> serve(s), "kiln-store-client");
                t.setDaemon(true);
                t.start();
            } catch (IOException e) {
                if (closed) return;
            }
        }
    }

    private void serve(Socket s) {
        try (s) {
            DataInputStream in = new DataInputStream(new BufferedInputStream(s.getInputStream()));
            DataOutputStream out = new DataOutputStream(new BufferedOutputStream(s.getOutputStream()));
            while (!closed) {
                int cmd;
                try {
                    cmd = in.readByte();
                } catch (EOFException eof) {
                    return; // the client left
                }
                handle(cmd, in, out);
                out.flush();
            }
        } catch (IOException | RuntimeException e) {
            // a broken or malformed client ends its own connection only
        } finally {
            clients.remove(s);
        }
    }

    private void handle(int cmd, DataInputStream in, DataOutputStream out) throws IOException {
        switch (cmd) {
            case SET -> {
                String key = in.readUTF();
                byte[] value = new byte[in.readInt()];
                in.readFully(value);
                put(key, value);
                out.writeByte(OK);
            }
            case GET -> {
                String key = in.readUTF();
                byte[] v = awaitKey(key, in.readLong());
                if (v == null) {
                    out.writeByte(TIMEOUT);
                } else {
                    out.writeByte(OK);
                    out.writeInt(v.length);
                    out.write(v);
                }
            }
            case ADD -> add(in.readUTF(), in.readLong(), out);
            case WAIT -> {
                String[] keys = new String[in.readInt()];
                for (int i = 0; i < keys.length; i++) keys[i] = in.readUTF();
                long timeoutMs = in.readLong();
                String missing = null;
                long deadline = System.nanoTime() + timeoutMs * 1_000_000L;
                for (String k : keys) {
                    long left = Math.max(0, (deadline - System.nanoTime()) / 1_000_000L);
                    if (awaitKey(k, left) == null) { missing = k; break; }
                }
                if (missing == null) out.writeByte(OK);
                else { out.writeByte(TIMEOUT); out.writeUTF(missing); }
            }
            case CHECK -> {
                String key = in.readUTF();
                boolean has;
                synchronized (data) { has = data.containsKey(key); }
                out.writeByte(OK);
                out.writeBoolean(has);
            }
            default -> throw new IOException("store: unknown command " + cmd);
        }
    }

    private void put(String key, byte[] value) {
        synchronized (data) {
            data.put(key, value);
            data.notifyAll();
        }
    }

    private void add(String key, long delta, DataOutputStream out) throws IOException {
        long value;
        synchronized (data) {
            byte[] old = data.get(key);
            if (old != null && old.length != Long.BYTES) {
                out.writeByte(ERROR);
                out.writeUTF("key '" + key + "' holds " + old.length + " bytes, not a counter");
                return;
            }
            value = (old == null ? 0 : ByteBuffer.wrap(old).getLong()) + delta;
            data.put(key, ByteBuffer.allocate(Long.BYTES).putLong(value).array());
            data.notifyAll();
        }
        out.writeByte(OK);
        out.writeLong(value);
    }

    /** The value of key once present, or null after timeoutMs. */
    private byte[] awaitKey(String key, long timeoutMs) {
        long deadline = System.nanoTime() + timeoutMs * 1_000_000L;
        synchronized (data) {
            while (!closed) {
                byte[] v = data.get(key);
                if (v != null) return v;
                long leftMs = (deadline - System.nanoTime()) / 1_000_000L;
                if (leftMs <= 0) return null;
                try {
                    data.wait(leftMs);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return null;
                }
            }
            return null;
        }
    }

    /** Stops listening and drops every client connection. */
    @Override
    public void close() {
        closed = true;
        try {
            server.close();
        } catch (IOException ignored) {
            // closing anyway
        }
        for (Socket s : clients) {
            try {
                s.close();
            } catch (IOException ignored) {
                // closing anyway
            }
        }
        synchronized (data) { data.notifyAll(); }
    }
}
