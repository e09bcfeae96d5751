package dev.kiln.dist;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * Test harness: runs {@code n} ranks in this JVM, each on its own thread with its own
 * {@link CpuProcessGroup} over loopback (store on a free port), and returns each rank's result.
 * Groups are closed even when a rank fails; a rank's exception is rethrown.
 */
final class CpuRanks {
    private CpuRanks() {}

    interface RankBody<T> {
        T run(CpuProcessGroup pg) throws Exception;
    }

    static <T> List<T> run(int n, Duration timeout, RankBody<T> body) throws Exception {
        try (TcpStoreServer server = TcpStoreServer.start(java.net.InetAddress.getLoopbackAddress(), 0)) {
            ExecutorService pool = Executors.newFixedThreadPool(n);
            try {
                List<Future<T>> fs = new ArrayList<>();
                for (int r = 0; r < n; r++) {
                    int rank = r;
                    fs.add(pool.submit(() -> {
                        try (TcpStore store = TcpStore.connect(rank, "127.0.0.1", server.port(), Duration.ofSeconds(10));
                             CpuProcessGroup pg = CpuProcessGroup.create(store, "test", rank, n, timeout)) {
                            return body.run(pg);
                        }
                    }));
                }
                List<T> out = new ArrayList<>();
                for (Future<T> f : fs) {
                    try {
                        out.add(f.get(30, TimeUnit.SECONDS));
                    } catch (ExecutionException e) {
                        if (e.getCause() instanceof Exception ex) throw ex;
                        throw e;
                    }
                }
                return out;
            } finally {
                pool.shutdownNow();
            }
        }
    }
}
