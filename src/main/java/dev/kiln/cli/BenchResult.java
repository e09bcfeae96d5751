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

    /** Writes rows as a JSON array (atomically: temp file + rename). */
    public static void writeJson(Path file, List<BenchResult> rows) throws IOException {
        StringBuilder sb = new StringBuilder("[\n");
        for (int i = 0; i < rows.size(); i++) sb.append("  ").append(rows.get(i).toJson()).append(i + 1 < rows.size() ? ",\n" : "\n");
        sb.append("]\n");
        dev.kiln.io.AtomicWrite.writeString(file, sb.toString());
    }

    /** Prints rows as an aligned table. */
    public static void printTable(List<BenchResult> rows) {
        System.out.printf(Locale.ROOT, "%-34s %-8s %12s %12s  %-18s %7s%n", "benchmark", "unit", "kiln", "peer", "peer name", "ratio");
        for (BenchResult r : rows)
            System.out.printf(Locale.ROOT, "%-34s %-8s %12.2f %12.2f  %-18s %7.3f%n", r.name, r.unit, r.kiln, r.peerValue, r.peer, r.ratio());
    }
}
