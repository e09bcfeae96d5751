package dev.kiln.cli;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * One benchmark row: {"name","unit","kiln","peer","peer_value","ratio"}; ratio = kiln/peer for
 * throughput units (higher is better).
 */
public record BenchResult(String name, String unit, double kiln, String peer, double peerValue) {
    public double ratio() { return peerValue == 0 ? Double.NaN : kiln / peerValue; }

    public String toJson() {
        return String.format(Locale.ROOT, "{\"name\":%s,\"unit\":%s,\"kiln\":%s,\"peer\":%s,\"peer_value\":%s,\"ratio\":%s}",
                quote(name), quote(unit), num(kiln), quote(peer), num(peerValue), num(ratio()));
    }

    private static String num(double v) {
        return Double.isFinite(v) ? String.format(Locale.ROOT, "%.4f", v) : "null";
    }

    static String quote(String s) {
        StringBuilder sb = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                default -> { if (c < 0x20) sb.append(String.format("\\u%04x", (int) c)); else sb.append(c); }
            }
        }
        return sb.append('"').toString();
    }

    /**
     * Writes {"meta": {...}, "rows": [...]} (atomically: temp file + rename); meta says when, where
     * and with what the numbers were measured (see {@link #metaJson}).
     */
    public static void writeJson(Path file, List<BenchResult> rows) throws IOException {
        StringBuilder sb = new StringBuilder("{\"meta\": ").append(metaJson()).append(",\n\"rows\": [\n");
        for (int i = 0; i < rows.size(); i++) sb.append("  ").append(rows.get(i).toJson()).append(i + 1 < rows.size() ? ",\n" : "\n");
        sb.append("]}\n");
        dev.kiln.io.AtomicWrite.writeString(file, sb.toString());
    }

    /**
     * The run's metadata as a JSON object: UTC date, the git commit of the working tree (when the
     * program runs from one), CPU model, profile and the flags that matter, cores, JDK, and
     * Kiln's CPU settings (the default thread count; rows name their own), vector width, scalar switch, native kernels).
     */
    static String metaJson() {
        var cpu = dev.kiln.backend.cpu.CpuProfile.get();
        String flags = cpu.flags().stream().filter(f -> f.startsWith("avx") || f.startsWith("amx") || f.equals("fma"))
                .sorted().collect(java.util.stream.Collectors.joining(" "));
        return String.format(Locale.ROOT, "{\"date\": %s, \"commit\": %s, \"cpu\": %s, \"cpu_profile\": %s, \"cpu_flags\": %s, "
                        + "\"cores\": %d, \"jdk\": %s, \"default_threads\": %d, \"vector_bits\": %d, \"scalar\": %s, \"native_kernels\": %s}",
                quote(java.time.Instant.now().toString()), quote(gitCommit()), quote(cpu.model()), quote(cpu.name()), quote(flags),
                Runtime.getRuntime().availableProcessors(), quote(Runtime.version().toString()),
                dev.kiln.backend.cpu.CpuConfig.threads(), dev.kiln.backend.cpu.CpuConfig.F32.vectorBitSize(),
                dev.kiln.backend.cpu.CpuConfig.scalar(),
                quote(dev.kiln.backend.cpu.NativeCpu.loaded() ? "loaded" : String.valueOf(dev.kiln.backend.cpu.NativeCpu.unavailableReason())));
    }

    /** HEAD's commit of the git checkout in the working directory (read from .git, no process), or "unknown". */
    static String gitCommit() {
        try {
            Path git = Path.of(".git");
            String head = java.nio.file.Files.readString(git.resolve("HEAD")).trim();
            if (!head.startsWith("ref: ")) return head;
            Path ref = git.resolve(head.substring(5));
            if (java.nio.file.Files.exists(ref)) return java.nio.file.Files.readString(ref).trim();
            Path packed = git.resolve("packed-refs");
            if (java.nio.file.Files.exists(packed))
                for (String line : java.nio.file.Files.readAllLines(packed))
                    if (line.endsWith(" " + head.substring(5))) return line.substring(0, line.indexOf(' '));
        } catch (IOException | RuntimeException e) {
            // not a git checkout
        }
        return "unknown";
    }

    /** Prints rows as an aligned table. */
    public static void printTable(List<BenchResult> rows) {
        System.out.printf(Locale.ROOT, "%-34s %-8s %12s %12s  %-18s %7s%n", "benchmark", "unit", "kiln", "peer", "peer name", "ratio");
        for (BenchResult r : rows)
            System.out.printf(Locale.ROOT, "%-34s %-8s %12.2f %12.2f  %-18s %7.3f%n", r.name, r.unit, r.kiln, r.peerValue, r.peer, r.ratio());
    }
}
