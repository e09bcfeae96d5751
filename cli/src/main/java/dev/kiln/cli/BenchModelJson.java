package dev.kiln.cli;

import dev.kiln.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** {@code kiln bench MODEL --json FILE}: the same figures as the printed table, as one JSON object. */
final class BenchModelJson {
    private BenchModelJson() {}

    static void write(Path file, Path model, BenchTarget kiln, List<Tensor> values, BenchModel.Side k, BenchModel.Side o,
                      Map<String, double[]> diffs, long hwmKb, int threads, int iters, int warmup) throws IOException {
        StringBuilder sb = new StringBuilder("{\n");
        sb.append("  \"model\": ").append(str(model.toString())).append(",\n");
        sb.append("  \"format\": ").append(str(kiln.format())).append(",\n");
        sb.append("  \"threads\": ").append(threads).append(", \"warmup\": ").append(warmup).append(", \"iters\": ").append(iters).append(",\n");
        sb.append("  \"inputs\": {");
        for (int i = 0; i < values.size(); i++)
            sb.append(i == 0 ? "" : ", ").append(str(kiln.inputs().get(i).name())).append(": {\"dtype\": ")
                    .append(str(values.get(i).dtype().pyName())).append(", \"shape\": ").append(java.util.Arrays.toString(values.get(i).shape())).append('}');
        sb.append("},\n");
        sb.append("  \"peak_rss_mb\": ").append(num(hwmKb / 1024.0)).append(",\n");
        sb.append("  \"engines\": [\n");
        side(sb, k, "kiln_peak_rss_mb_after_first_call");
        if (o != null) side(sb.append(",\n"), o, "rss_growth_mb_over_load_and_first_call");
        sb.append("\n  ]");
        if (o != null) {
            sb.append(",\n  \"kiln_over_peer_p50\": ").append(num(k.pct(50) / o.pct(50))).append(",\n  \"max_abs_diff\": {");
            int i = 0;
            for (var e : diffs.entrySet()) sb.append(i++ == 0 ? "" : ", ").append(str(e.getKey())).append(": ").append(num(e.getValue()[0]));
            sb.append('}');
        }
        sb.append("\n}\n");
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null) Files.createDirectories(parent);
        Files.writeString(file, sb);
    }

    private static void side(StringBuilder sb, BenchModel.Side s, String rssKey) {
        sb.append("    {\"name\": ").append(str(s.name)).append(", \"load_ms\": ").append(num(s.loadMs))
                .append(", \"first_ms\": ").append(num(s.first())).append(", \"first10_mean_ms\": ").append(num(s.meanFirstTen()))
                .append(", \"p50_ms\": ").append(num(s.pct(50))).append(", \"p90_ms\": ").append(num(s.pct(90)))
                .append(", \"p99_ms\": ").append(num(s.pct(99))).append(", \"").append(rssKey).append("\": ").append(num(s.rssKb / 1024.0))
                .append(", \"timed_ms\": ").append(s.timed.stream().map(BenchModelJson::num).toList()).append('}');
    }

    private static String num(double v) { return Double.isFinite(v) ? String.format(Locale.ROOT, "%.4f", v) : "null"; }

    private static String str(String s) {
        StringBuilder sb = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') sb.append('\\').append(c);
            else if (c < 0x20) sb.append(String.format(Locale.ROOT, "\\u%04x", (int) c));
            else sb.append(c);
        }
        return sb.append('"').toString();
    }
}
