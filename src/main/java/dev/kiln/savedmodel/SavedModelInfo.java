package dev.kiln.savedmodel;

import dev.kiln.savedmodel.TfGraph.Function;
import dev.kiln.savedmodel.TfGraph.Node;
import dev.kiln.savedmodel.TfGraph.Signature;
import dev.kiln.savedmodel.TfGraph.TensorInfo;

import java.util.Arrays;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * {@code kiln info DIR} for a SavedModel: tags, every signature (inputs and outputs with dtype and
 * shape), the op types of the graph and its function library with counts (ops Kiln cannot lower
 * marked), and the variables checkpoint (entries, parameter count and bytes).
 */
public final class SavedModelInfo {
    private SavedModelInfo() {}

    public static String describe(SavedModel m) {
        StringBuilder sb = new StringBuilder();
        sb.append(m.directory()).append(": TensorFlow SavedModel, tags ").append(String.join(",", m.tags())).append('\n');
        for (Signature s : m.signatures().values()) {
            sb.append("signature '").append(s.key()).append("'").append(s.method().isEmpty() ? "" : " (" + s.method() + ")").append('\n');
            for (Map.Entry<String, TensorInfo> e : s.inputs().entrySet()) sb.append(row("input", e.getKey(), e.getValue()));
            for (Map.Entry<String, TensorInfo> e : s.outputs().entrySet()) sb.append(row("output", e.getKey(), e.getValue()));
        }
        Map<String, Integer> ops = new TreeMap<>();
        for (Node n : m.metaGraph().nodes()) ops.merge(n.op(), 1, Integer::sum);
        for (Function f : m.metaGraph().functions().values())
            for (Node n : f.body()) ops.merge(n.op(), 1, Integer::sum);
        sb.append(String.format(Locale.ROOT, "graph: %d nodes, %d library functions%n", m.metaGraph().nodes().size(), m.metaGraph().functions().size()));
        sb.append("ops (* = not run by Kiln; saver and initializer ops are never needed):\n");
        for (Map.Entry<String, Integer> e : ops.entrySet())
            sb.append(String.format(Locale.ROOT, "  %-28s %d%s%n", e.getKey(), e.getValue(), runs(e.getKey()) ? "" : " *"));
        TensorBundle v = m.variables();
        if (v == null) sb.append("variables: none\n");
        else {
            long params = 0;
            for (TensorBundle.Entry e : v.entries().values()) {
                if (TfTensors.elemType(e.dtype()) == null || e.shape() == null) continue;
                long n = 1;
                for (long d : e.shape()) n *= d;
                params += n;
            }
            sb.append(String.format(Locale.ROOT, "variables: %d checkpoint entries, %,d values, %,d bytes%n", v.entries().size(), params, v.totalBytes()));
            for (TensorBundle.Entry e : v.entries().values())
                sb.append(String.format(Locale.ROOT, "  %-48s %-10s %s%n", e.key(), TfTensors.name(e.dtype()), Arrays.toString(e.shape())));
        }
        return sb.toString();
    }

    /** Whether Kiln lowers this op (in the table, or handled by the importer itself). */
    public static boolean runs(String op) {
        return TfOps.supports(op) || TfImporter.STRUCTURAL.contains(op);
    }

    private static String row(String kind, String key, TensorInfo t) {
        return String.format(Locale.ROOT, "  %-6s %-20s %-9s %s  (%s)%n", kind, key, TfTensors.name(t.dtype()),
                t.shape() == null ? "unknown rank" : Arrays.toString(t.shape()).replace("-1", "?"), t.name());
    }
}
