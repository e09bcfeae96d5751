package dev.kiln.onnx.conformance;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * The result of a conformance run: one {@link Case} per test, counts per op, a text table and
 * JSON (for {@code kiln check-onnx --json} and the docs' per-op table).
 */
public record ConformanceReport(List<Case> cases) {

    /** One test: {@code reason} is null when it passed. */
    public record Case(String test, String op, boolean passed, String reason, long millis) {}

    /** Per-op counts. */
    public record OpCount(String op, int cases, int passed) {
        public boolean allPass() { return cases == passed; }
    }

    public int passed() { return (int) cases.stream().filter(Case::passed).count(); }

    public int failed() { return cases.size() - passed(); }

    /** Counts by op, sorted by op name. */
    public Map<String, OpCount> byOp() {
        Map<String, int[]> m = new TreeMap<>();
        for (Case c : cases) {
            int[] v = m.computeIfAbsent(c.op(), k -> new int[2]);
            v[0]++;
            if (c.passed()) v[1]++;
        }
        Map<String, OpCount> out = new TreeMap<>();
        m.forEach((op, v) -> out.put(op, new OpCount(op, v[0], v[1])));
        return out;
    }

    /** Ops with at least one failing case. */
    public List<String> failingOps() {
        List<String> out = new ArrayList<>();
        for (OpCount c : byOp().values()) if (!c.allPass()) out.add(c.op());
        return out;
    }

    public Case find(String test) {
        for (Case c : cases) if (c.test().equals(test)) return c;
        return null;
    }

    /** "N passed, M failed" then a table of op, cases, passed. */
    public String table() {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "%-32s %6s %6s%n", "op", "cases", "passed"));
        for (OpCount c : byOp().values())
            sb.append(String.format(Locale.ROOT, "%-32s %6d %6d%s%n", c.op(), c.cases(), c.passed(), c.allPass() ? "" : "  FAIL"));
        return sb.toString();
    }

    public String summary() { return passed() + " passed, " + failed() + " failed"; }

    public String toJson() {
        StringBuilder sb = new StringBuilder("{\n");
        sb.append("  \"passed\": ").append(passed()).append(",\n  \"failed\": ").append(failed()).append(",\n");
        sb.append("  \"ops\": [\n");
        List<OpCount> ops = new ArrayList<>(byOp().values());
        for (int i = 0; i < ops.size(); i++) {
            OpCount c = ops.get(i);
            sb.append("    {\"op\": ").append(str(c.op())).append(", \"cases\": ").append(c.cases())
                    .append(", \"passed\": ").append(c.passed()).append(i + 1 < ops.size() ? "},\n" : "}\n");
        }
        sb.append("  ],\n  \"tests\": [\n");
        for (int i = 0; i < cases.size(); i++) {
            Case c = cases.get(i);
            sb.append("    {\"test\": ").append(str(c.test())).append(", \"op\": ").append(str(c.op()))
                    .append(", \"passed\": ").append(c.passed()).append(", \"millis\": ").append(c.millis());
            if (c.reason() != null) sb.append(", \"reason\": ").append(str(c.reason()));
            sb.append(i + 1 < cases.size() ? "},\n" : "}\n");
        }
        return sb.append("  ]\n}\n").toString();
    }

    static String str(String s) {
        StringBuilder sb = new StringBuilder("\"");
        for (char ch : s.toCharArray()) {
            switch (ch) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> {
                    if (ch < 0x20) sb.append(String.format("\\u%04x", (int) ch));
                    else sb.append(ch);
                }
            }
        }
        return sb.append('"').toString();
    }
}
