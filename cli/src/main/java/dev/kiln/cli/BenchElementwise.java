package dev.kiln.cli;

import dev.kiln.backend.Backend;
import dev.kiln.backend.cpu.CpuConfig;
import dev.kiln.backend.cpu.Parallel;
import dev.kiln.ops.BinaryOp;
import dev.kiln.ops.UnaryOp;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code kiln bench elementwise}: memory-bound F32 kernels (add, mul, exp, sum, softmax over rows of
 * {@value #SOFTMAX_ROW}) in GB/s, with 1
 * thread and all threads, against the memory copy peer measured in the same run.
 * <ul>
 *   <li>GB/s = (bytes read + bytes written) / median time: add/mul 12 bytes per element, exp and softmax 8,
 *       sum 4 (its output is one float); the zero-filled allocation counts 4 bytes written.</li>
 *   <li>"kernel" rows call the backend with a preallocated output
 *       ({@code backend.binary(ADD, a, b, out)}); "api" rows call {@code a.add(b)} as users do,
 *       which also allocates and zero-fills the output and frees it.</li>
 *   <li>peer "memcpy": {@code MemorySegment.copy} of a 64 MiB buffer into another, split into
 *       as many pieces as threads (bytes read + written = 2 x 64 MiB). It is timed beside every
 *       row, one copy after each timed call of the row's op, and each row reports its own peer
 *       median: on a shared VM the memory bandwidth moves by 1.5-2x within a minute (memcpy 24 to
 *       36 GB/s on one thread between two runs of this bench, 2026-12-07), so a copy timed once
 *       before all rows made ratios of whatever the bandwidth was then.</li>
 * </ul>
 */
@Command(name = "elementwise", mixinStandardHelpOptions = true,
        description = {"Elementwise add/mul/exp and sum on F32 tensors: GB/s vs a memory copy, 1 thread and all threads.",
                "GB/s counts bytes read + written; the peer 'memcpy' copies 64 MiB with MemorySegment.copy."})
public final class BenchElementwise implements Callable<Integer> {
    static final long PEER_BYTES = 64L << 20;
    /** Row length of the softmax row (the last axis; a long attention row). */
    static final int SOFTMAX_ROW = 1024;

    @Option(names = "--size", defaultValue = "16777216", description = "Elements per tensor (default: ${DEFAULT-VALUE}).")
    int size;

    @Option(names = "--runs", defaultValue = "15", description = "Timed runs; the median is reported (default: ${DEFAULT-VALUE}).")
    int runs;

    @Option(names = "--warmup", defaultValue = "3", description = "Untimed warm-up runs after a second of untimed calls (0: neither) (default: ${DEFAULT-VALUE}).")
    int warmup;

    @Option(names = "--threads", split = ",", paramLabel = "N",
            description = "Thread counts to run (default: 1 and all cores).")
    List<Integer> threads;

    @Option(names = "--json", paramLabel = "FILE", description = "Also write the rows as a JSON array to FILE.")
    Path json;

    @Mixin PlotOption plot;

    @Spec private CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        if (size < 1) throw new IllegalArgumentException("bench elementwise: --size must be >= 1, got " + size);
        if (runs < 1 || warmup < 0) throw new IllegalArgumentException("bench elementwise: need --runs >= 1 and --warmup >= 0");
        List<Integer> counts = threadCounts();
        checkWritable(json);
        PrintWriter out = spec.commandLine().getOut();
        out.printf(Locale.ROOT, "bench elementwise: %d f32 elements (%.1f MiB per tensor), median of %d runs after %d warm-up%n",
                size, size * 4.0 / (1 << 20), runs, warmup);
        out.flush();
        List<BenchResult> rows = new ArrayList<>();
        List<BenchPlot.Panel> panels = new ArrayList<>();
        int saved = CpuConfig.threads();
        try {
            for (int t : counts) {
                CpuConfig.setThreads(t);
                List<BenchResult> some = runAll(t);
                rows.addAll(some);
                panels.add(panel(some, t));
            }
        } finally {
            CpuConfig.setThreads(saved);
        }
        out.flush();
        BenchResult.printTable(rows); // System.out, like the other bench suites
        if (json != null) {
            BenchResult.writeJson(json, rows);
            out.println("wrote " + json);
        }
        plot.write(out, "kiln bench elementwise: F32 GB/s (bytes read + written) per op, " + sizeLabel(size) + " elements", panels);
        out.flush();
        return Main.OK;
    }

    /** One chart panel per thread count: a bar per op, the memcpy peer as a line across them. */
    private BenchPlot.Panel panel(List<BenchResult> rows, int t) {
        BenchPlot.Panel p = new BenchPlot.Panel(BenchGemm.threadsLabel(t), "op", "GB/s (higher is better)", BenchPlot.Style.BARS);
        for (BenchResult r : rows) {
            String op = r.name().replace(" f32 " + sizeLabel(size), "").replace(" t" + t, "").replace(" rows of " + SOFTMAX_ROW, "(" + SOFTMAX_ROW + ")");
            p.add("Kiln", op, r.kiln()).add("memcpy (peer)", op, r.peerValue());
        }
        return p.asLine("memcpy (peer)");
    }

    /** Fails before the run (not after minutes of it) when the JSON file's folder does not exist. */
    static void checkWritable(Path file) throws NoSuchFileException {
        if (file == null) return;
        Path dir = file.toAbsolutePath().getParent();
        if (dir != null && !Files.isDirectory(dir)) throw new NoSuchFileException(dir.toString(), null, "folder for --json does not exist");
    }

    private List<Integer> threadCounts() {
        int all = Runtime.getRuntime().availableProcessors();
        List<Integer> req = threads == null ? List.of(1, all) : threads;
        LinkedHashSet<Integer> set = new LinkedHashSet<>();
        for (int t : req) {
            if (t < 1) throw new IllegalArgumentException("bench elementwise: --threads must be >= 1, got " + t);
            set.add(t);
        }
        return new ArrayList<>(set);
    }

    /** All rows for one thread count. */
    private List<BenchResult> runAll(int t) throws Exception {
        List<BenchResult> rows = new ArrayList<>();
        String n = sizeLabel(size);
        try (Scope s = Scope.open()) {
            int floats = (int) (PEER_BYTES / 4);
            MemorySegment from = Tensor.zeros(DType.F32, floats).segment(), to = Tensor.zeros(DType.F32, floats).segment();
            from.fill((byte) 1); // touch every page of both buffers before timing
            to.fill((byte) 2);
            Peer peer = new Peer("memcpy t" + t, 2.0 * PEER_BYTES, () -> parallelCopy(from, to, t));
            Generator g = new Generator(7);
            Tensor a = Tensor.uniform(g, -2, 2, DType.F32, size);
            Tensor b = Tensor.uniform(g, -2, 2, DType.F32, size);
            Tensor out = Tensor.zeros(DType.F32, size);
            Backend be = a.backend();
            double bin = 12.0 * size, un = 8.0 * size;
            rows.add(row("add f32 " + n + " t" + t + " kernel", bin, () -> be.binary(BinaryOp.ADD, a, b, out), peer));
            rows.add(row("add f32 " + n + " t" + t + " api", bin, () -> a.add(b).close(), peer));
            rows.add(row("mul f32 " + n + " t" + t + " kernel", bin, () -> be.binary(BinaryOp.MUL, a, b, out), peer));
            rows.add(row("mul f32 " + n + " t" + t + " api", bin, () -> a.mul(b).close(), peer));
            rows.add(row("exp f32 " + n + " t" + t + " kernel", un, () -> be.unary(UnaryOp.EXP, a, out, 0, 0), peer));
            rows.add(row("exp f32 " + n + " t" + t + " api", un, () -> a.exp().close(), peer));
            rows.add(row("sum f32 " + n + " t" + t + " api", 4.0 * size, () -> a.sum().close(), peer));
            if (size % SOFTMAX_ROW == 0) {
                Tensor rowsA = a.view(size / SOFTMAX_ROW, SOFTMAX_ROW), rowsOut = out.view(size / SOFTMAX_ROW, SOFTMAX_ROW);
                rows.add(row("softmax f32 " + n + " rows of " + SOFTMAX_ROW + " t" + t + " kernel", un,
                        () -> be.softmax(rowsA, 1, false, rowsOut), peer));
            }
            rows.add(row("alloc+zero f32 " + n + " t" + t, 4.0 * size, () -> Tensor.zeros(DType.F32, size).close(), peer));
        }
        return rows;
    }

    /** The memcpy peer: its name, bytes moved per call and the call. */
    private record Peer(String name, double bytes, Timing.Action copy) {}

    /** One row: the op and the peer copy timed in turn, run by run; each side's median. */
    private BenchResult row(String name, double bytes, Timing.Action action, Peer peer) throws Exception {
        if (warmup > 0) {          // at least a second of calls first: the JIT's C2 versions, not its C1 ones, are timed
            long end = System.nanoTime() + 1_000_000_000L;
            do action.run(); while (System.nanoTime() < end);
        }
        double[] sec = Timing.interleavedMedians(action, peer.copy(), warmup, runs);
        return new BenchResult(name, "GB/s", bytes / sec[0] * 1e-9, peer.name(), peer.bytes() / sec[1] * 1e-9);
    }

    /** Copies from into to in t contiguous pieces (64-byte aligned) on Kiln's CPU pool. */
    static void parallelCopy(MemorySegment from, MemorySegment to, int t) {
        long bytes = from.byteSize();
        long piece = ((bytes + t - 1) / t + 63) & ~63L;
        Parallel.forChunks(t, t, (start, end) -> {
            for (int i = start; i < end; i++) {
                long off = i * piece, len = Math.min(piece, bytes - off);
                if (len > 0) MemorySegment.copy(from, off, to, off, len);
            }
        });
    }

    static String sizeLabel(long n) {
        if (n % (1 << 20) == 0) return (n >> 20) + "M";
        if (n % (1 << 10) == 0) return (n >> 10) + "K";
        return Long.toString(n);
    }
}
