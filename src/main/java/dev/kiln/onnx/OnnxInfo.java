package dev.kiln.onnx;

import dev.kiln.tensor.Tensor;

import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * The text of {@code kiln info MODEL.onnx}: producer and opsets, inputs and outputs with their
 * types and dims, node counts per op type (nested subgraphs included), whether Kiln has every op
 * type, and the initializers' parameter count and bytes.
 */
public final class OnnxInfo {
    private OnnxInfo() {}

    public static String describe(OnnxModel m) { return describe(m, dev.kiln.onnx.ops.OpRegistry.standard()); }

    /** As {@link #describe(OnnxModel)}, saying which op types registry lacks. */
    public static String describe(OnnxModel m, dev.kiln.onnx.ops.OpRegistry registry) {
        StringBuilder sb = new StringBuilder();
        OnnxGraph g = m.graph();
        sb.append("ONNX model: ir_version ").append(m.irVersion()).append(", producer ")
                .append(m.producerName().isEmpty() ? "?" : m.producerName())
                .append(m.producerVersion().isEmpty() ? "" : " " + m.producerVersion()).append('\n');
        sb.append("opsets: ");
        m.opsets().forEach((d, v) -> sb.append(d.isEmpty() ? "ai.onnx" : d).append(' ').append(v).append("  "));
        sb.append('\n');
        sb.append("inputs:\n");
        for (ValueInfo in : g.inputs())
            if (!g.initializers().containsKey(in.name())) sb.append("  ").append(in.name()).append(": ").append(InputCheck.describe(in)).append('\n');
        sb.append("outputs:\n");
        for (ValueInfo out : g.outputs()) sb.append("  ").append(out.name()).append(": ").append(InputCheck.describe(out)).append('\n');
        Map<String, Integer> ops = new TreeMap<>();
        int nodes = countOps(g, ops);
        sb.append("nodes: ").append(nodes).append(" (").append(ops.size()).append(" op types)\n");
        ops.forEach((op, n) -> sb.append(String.format(Locale.ROOT, "  %-28s %d%n", op, n)));
        var known = registry.names();
        var missing = ops.keySet().stream().filter(op -> !known.contains(op)).toList();
        sb.append(missing.isEmpty() ? "ops: Kiln runs all " + ops.size() + " op types"
                : "ops not supported by Kiln (" + missing.size() + " of " + ops.size() + "): " + String.join(", ", missing)).append('\n');
        long params = 0, bytes = 0;
        for (Value v : g.initializers().values()) {
            if (!(v instanceof Value.TensorValue t)) {
                if (v instanceof Value.StringTensorValue st) params += st.data().length;
                continue;
            }
            Tensor x = t.tensor();
            params += x.numel();
            bytes += x.numel() * OnnxTensors.rawSize(t.type());
        }
        sb.append("initializers: ").append(g.initializers().size()).append(", ").append(params).append(" parameters, ")
                .append(bytes).append(" bytes\n");
        return sb.toString();
    }

    private static int countOps(OnnxGraph g, Map<String, Integer> ops) {
        int n = 0;
        for (OnnxNode node : g.nodes()) {
            String key = node.domain().isEmpty() || node.domain().equals("ai.onnx") ? node.opType() : node.domain() + "." + node.opType();
            ops.merge(key, 1, Integer::sum);
            n++;
            for (OnnxGraph sub : GraphPlan.subgraphs(node)) n += countOps(sub, ops);
        }
        return n;
    }
}
