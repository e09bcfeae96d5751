package dev.kiln.dist;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The rendezvous store over loopback: set/get/add/wait, waiting, timeouts, client failures. */
@Timeout(20)
class TcpStoreTest {
    private static final Duration T = Duration.ofSeconds(5);

    @Test
    void setGetCheckAndChosenPort() {
        try (TcpStore master = TcpStore.open(0, "127.0.0.1", 0, T);
             TcpStore other = TcpStore.connect(1, "127.0.0.1", master.port(), T)) {
            assertTrue(master.port() > 0);
            assertFalse(other.check("a"));
            master.set("a", new byte[]{1, 2, 3});
            assertTrue(other.check("a"));
            assertArrayEquals(new byte[]{1, 2, 3}, other.get("a"));
            other.set("a", "replaced");
            assertEquals("replaced", master.getString("a"));
            other.set("empty", new byte[0]);
            assertEquals(0, master.get("empty").length);
        }
    }

    @Test
    void getWaitsUntilAnotherRankSets() throws Exception {
        try (TcpStore master = TcpStore.open(0, "127.0.0.1", 0, T);
             TcpStore other = TcpStore.connect(1, "127.0.0.1", master.port(), T)) {
            CompletableFuture<String> got = CompletableFuture.supplyAsync(() -> other.getString("late"));
            Thread.sleep(200);
            assertFalse(got.isDone(), "get must wait for the key");
            master.set("late", "here");
            assertEquals("here", got.get(5, TimeUnit.SECONDS));
            CompletableFuture<Void> both = CompletableFuture.runAsync(() -> other.await(List.of("x", "y")));
            master.set("x", "1");
            Thread.sleep(100);
            assertFalse(both.isDone(), "wait must wait for every key");
            master.set("y", "2");
            both.get(5, TimeUnit.SECONDS);
        }
    }

    @Test
    void addIsAtomicAcrossClients() throws Exception {
        try (TcpStore master = TcpStore.open(0, "127.0.0.1", 0, T)) {
            int clients = 4, each = 50;
            ExecutorService pool = Executors.newFixedThreadPool(clients);
            List<Future<?>> fs = new ArrayList<>();
            for (int c = 0; c < clients; c++) {
                int rank = c + 1;
                fs.add(pool.submit(() -> {
                    try (TcpStore s = TcpStore.connect(rank, "127.0.0.1", master.port(), T)) {
                        for (int i = 0; i < each; i++) s.add("n", 1);
                    }
                    return null;
                }));
            }
            for (Future<?> f : fs) f.get(10, TimeUnit.SECONDS);
            pool.shutdown();
            assertEquals(clients * each + 5, master.add("n", 5));
            assertEquals(clients * each + 5, TcpStore.counterValue(master.get("n")));
            master.set("text", "abc");
            DistException e = assertThrows(DistException.class, () -> master.add("text", 1));
            assertTrue(e.getMessage().contains("not a counter"), e.getMessage());
        }
    }

    @Test
    void timeoutNamesKeyAndRank() {
        Duration shortT = Duration.ofMillis(300);
        try (TcpStore master = TcpStore.open(0, "127.0.0.1", 0, T);
             TcpStore other = TcpStore.connect(1, "127.0.0.1", master.port(), shortT)) {
            long t0 = System.nanoTime();
            DistException e = assertThrows(DistException.class, () -> other.get("x"));
            assertEquals("store: timed out after 0.3 s waiting for key 'x' (rank 1)", e.getMessage());
            assertTrue((System.nanoTime() - t0) / 1e9 < 3, "timed out too late");
            master.set("a", "1");
            e = assertThrows(DistException.class, () -> other.await(List.of("a", "b")));
            assertTrue(e.getMessage().contains("key 'b' (rank 1)"), e.getMessage());
            assertEquals("1", other.getString("a"), "the client still works after a timeout");
        }
    }

    @Test
    void serverSurvivesClientsThatDisconnectOrSendGarbage() throws Exception {
        try (TcpStore master = TcpStore.open(0, "127.0.0.1", 0, T)) {
            TcpStore quitter = TcpStore.connect(1, "127.0.0.1", master.port(), T);
            CompletableFuture<byte[]> waiting = CompletableFuture.supplyAsync(() -> quitter.get("never"));
            Thread.sleep(100);
            quitter.close(); // leaves while the server waits for a key on its behalf
            try (Socket raw = new Socket("127.0.0.1", master.port())) {
                OutputStream o = raw.getOutputStream();
                o.write("GARBAGE\n".getBytes(StandardCharsets.US_ASCII));
                o.flush();
            }
            assertThrows(Exception.class, () -> waiting.get(5, TimeUnit.SECONDS));
            try (TcpStore fresh = TcpStore.connect(2, "127.0.0.1", master.port(), T)) {
                fresh.set("k", "v");
                assertEquals("v", master.getString("k"));
            }
        }
    }

    @Test
    void clientStartedBeforeServerRetriesAndLostServerFails() throws Exception {
        int port;
        try (TcpStoreServer probe = TcpStoreServer.start(null, 0)) {
            port = probe.port();
        }
        CompletableFuture<TcpStore> early = CompletableFuture.supplyAsync(() -> TcpStore.connect(1, "127.0.0.1", port, T));
        Thread.sleep(300);
        TcpStore master = TcpStore.open(0, "127.0.0.1", port, T);
        TcpStore c = early.get(5, TimeUnit.SECONDS);
        master.set("k", "v");
        assertEquals("v", c.getString("k"));
        master.close(); // rank 0 stops the server
        DistException e = assertThrows(DistException.class, () -> c.get("other"));
        assertTrue(e.getMessage().startsWith("store: lost connection to 127.0.0.1:" + port), e.getMessage());
        c.close();
        // no server at all: port 1, where nothing listens (the freed port above could be taken by any
        // other test's server in the meantime, which made this flaky under load)
        DistException never = assertThrows(DistException.class,
                () -> TcpStore.connect(3, "127.0.0.1", 1, Duration.ofMillis(300)));
        assertTrue(never.getMessage().contains("within 0.3 s (rank 3)"), never.getMessage());
    }
}
