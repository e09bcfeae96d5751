package dev.kiln.onnx;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Time per op type over the runs of an executor with profiling on ({@link OnnxExecutor#profile},
 * and TorchScriptModel.profile for builtin calls): calls and total wall time, printed as a table sorted by time. Nested subgraph nodes count too
 * (their time is also inside the enclosing If/Loop/Scan).
 */
public final class OnnxProfile {
    private final Map<String, long[]> byOp = new LinkedHashMap<>(); // op -> {calls, nanos}
    private final boolean byShape;

    /** A table keyed by op type. */
    public OnnxProfile() { this(false); }

    /** byShape: keyed by op type and input shapes (plus strides where the node has them), one row per distinct call. */
    public OnnxProfile(boolean byShape) { this.byShape = byShape; }

    /** Whether rows are split by input shape. */
    public boolean byShape() { return byShape; }

    /** Adds one call of op that took nanos (the TorchScript interpreter's op table records here too). */
    public synchronized void record(String op, long nanos) {
        long[] c = byOp.computeIfAbsent(op, k -> new long[2]);
        c[0]++;
        c[1] += nanos;
    }

    public synchronized void reset() { byOp.clear(); }

    /** Total nanoseconds recorded for an op type (0 when none). */
    public synchronized long nanos(String op) {
        long[] c = byOp.get(op);
        return c == null ? 0 : c[1];
    }

    /** Calls recorded for an op type (0 when none). */
    public synchronized long calls(String op) {
        long[] c = byOp.get(op);
        return c == null ? 0 : c[0];
    }

    /** "op  calls  total ms  share" rows, slowest first. */
    public synchronized String table() {
        List<Map.Entry<String, long[]>> rows = new ArrayList<>(byOp.entrySet());
        rows.sort((a, b) -> Long.compare(b.getValue()[1], a.getValue()[1]));
        long total = 0;
        for (var e : rows) total += e.getValue()[1];
        StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "%-" + width(rows) + "s %8s %11s %7s%n", "op", "calls", "total ms", "share"));
        for (var e : rows)
            sb.append(String.format(Locale.ROOT, "%-" + width(rows) + "s %8d %11.3f %6.1f%%%n", e.getKey(), e.getValue()[0],
                    e.getValue()[1] / 1e6, 100.0 * e.getValue()[1] / Math.max(1, total)));
        return sb.toString();
    }

    private static int width(List<Map.Entry<String, long[]>> rows) {
        int w = 26;
        for (var e : rows) w = Math.max(w, e.getKey().length());
        return w;
    }
}
