package dev.kiln.cli;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;

/** A plain-text table with left-aligned columns sized to their content (the demo's report). */
final class ResultTable {
    private final String[] header;
    private final List<String[]> rows = new ArrayList<>();
    private final boolean[] right;

    ResultTable(String... header) {
        this.header = header;
        this.right = new boolean[header.length];
    }

    /** Right-aligns the given columns (numbers). */
    ResultTable alignRight(int... cols) {
        for (int c : cols) right[c] = true;
        return this;
    }

    void add(String... cells) {
        if (cells.length != header.length)
            throw new IllegalArgumentException("table row has " + cells.length + " cells, header has " + header.length);
        rows.add(cells);
    }

    int size() { return rows.size(); }

    void print(PrintWriter out) {
        int[] w = new int[header.length];
        for (int c = 0; c < w.length; c++) {
            w[c] = header[c].length();
            for (String[] r : rows) w[c] = Math.max(w[c], r[c].length());
        }
        printRow(out, header, w, right);
        StringBuilder rule = new StringBuilder();
        for (int c = 0; c < w.length; c++) rule.append(c == 0 ? "" : "  ").append("-".repeat(w[c]));
        out.println(rule);
        for (String[] r : rows) printRow(out, r, w, right);
        out.flush();
    }

    private static void printRow(PrintWriter out, String[] cells, int[] w, boolean[] right) {
        StringBuilder sb = new StringBuilder();
        for (int c = 0; c < cells.length; c++) {
            if (c > 0) sb.append("  ");
            String pad = " ".repeat(w[c] - cells[c].length());
            sb.append(right[c] ? pad + cells[c] : cells[c] + pad);
        }
        out.println(sb.toString().stripTrailing());
    }
}
