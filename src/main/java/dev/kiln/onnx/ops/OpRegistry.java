package dev.kiln.onnx.ops;

import dev.kiln.onnx.OnnxException;
import dev.kiln.onnx.OnnxNode;

import java.util.Collections;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * Op type -> implementation, per domain. Each op family registers itself in one file
 * ({@code register(OpRegistry)}); {@link #standard()} holds all of them. Opset differences are
 * handled inside an op (via {@link OpCall#opset()}), so one name maps to one implementation.
 */
public final class OpRegistry {
    private final Map<String, OnnxOp> ops = new TreeMap<>();

    private static final class Holder {
        static final OpRegistry STANDARD = build();
    }

    /** An empty registry (tests register their own ops; {@link #standard()} holds Kiln's). */
    public static OpRegistry empty() { return new OpRegistry(); }

    /** The registry with every op Kiln implements. */
    public static OpRegistry standard() { return Holder.STANDARD; }

    private static OpRegistry build() {
        OpRegistry r = new OpRegistry();
        OpFamilies.registerAll(r);
        return r;
    }

    /** Registers an op of the default domain (ai.onnx). */
    public void register(String opType, OnnxOp op) { register("", opType, op); }

    public void register(String domain, String opType, OnnxOp op) {
        String key = key(domain, opType);
        if (ops.putIfAbsent(key, op) != null) throw new IllegalStateException("ONNX op registered twice: " + key);
    }

    public boolean has(String domain, String opType) { return ops.containsKey(key(domain, opType)); }

    /** The implementation for a node, or an error naming the op, the node and the opset. */
    public OnnxOp lookup(OnnxNode node, int opset) {
        OnnxOp op = ops.get(key(node.domain(), node.opType()));
        if (op == null)
            throw new OnnxException("unsupported ONNX op " + node.describe() + " (opset " + opset + ")");
        return op;
    }

    /** Registered op names ("Add", "ai.onnx.preview.training.Adam", ...). */
    public Set<String> names() { return Collections.unmodifiableSet(ops.keySet()); }

    private static String key(String domain, String opType) {
        return domain.isEmpty() || domain.equals("ai.onnx") ? opType : domain + "." + opType;
    }
}
