package dev.kiln.torchscript.interp;

import java.util.HashMap;
import java.util.Map;

/**
 * The builtins a TorchScript program may call, by name ("torch.linear", "ops.prim.dtype",
 * "builtins.len"). A name missing here is an unsupported op: the interpreter reports it with the
 * source location. Nothing outside this table is ever reachable from a program.
 */
final class OpTable {
    private record Entry(String[] params, Op op) {}

    private final Map<String, Entry> ops = new HashMap<>();

    static OpTable standard() {
        OpTable t = new OpTable();
        PrimOps.register(t);
        TensorOps.register(t);
        ShapeOps.register(t);
        NnOps.register(t);
        AttentionOps.register(t);
        return t;
    }

    /**
     * Registers op under "torch.NAME" and "ops.aten.NAME" (or under the name as given when it
     * already has a prefix). params is the schema's parameter names, for keyword arguments.
     */
    void add(String name, String params, Op op) {
        String[] names = params.isEmpty() ? null : params.split(",\\s*"); // "" = no schema: positional, any count
        Entry e = new Entry(names, op);
        if (name.contains(".")) {
            ops.put(name, e);
        } else {
            ops.put("torch." + name, e);
            ops.put("ops.aten." + name, e);
        }
    }

    /** Registers op under the given full names only, with no parameter names (positional use). */
    void addRaw(String fullName, Op op) { ops.put(fullName, new Entry(null, op)); }

    boolean has(String name) { return ops.containsKey(name); }

    /** Where calls are timed (by op name), or null when profiling is off. */
    volatile dev.kiln.onnx.OnnxProfile profile;

    Object call(String name, java.util.List<Object> args, Map<String, Object> kwargs) {
        Entry e = ops.get(name);
        if (e == null) throw new ScriptException("unsupported TorchScript op " + name);
        String shortName = name.substring(name.lastIndexOf('.') + 1);
        var p = profile;
        if (p == null) return e.op.call(new Args(shortName, args, kwargs, e.params));
        long t0 = System.nanoTime();
        try {
            return e.op.call(new Args(shortName, args, kwargs, e.params));
        } finally {
            p.record(shortName, System.nanoTime() - t0);
        }
    }
}
