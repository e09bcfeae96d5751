package dev.kiln.torchscript.interp;

import dev.kiln.tensor.Tensor;

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

    /** Every registered full name ("torch.sigmoid", "ops.aten.sigmoid", ...). */
    java.util.Set<String> names() { return java.util.Collections.unmodifiableSet(ops.keySet()); }

    /** Where calls are timed (by op name), or null when profiling is off. */
    volatile dev.kiln.onnx.OnnxProfile profile;

    Object call(String name, java.util.List<Object> args, Map<String, Object> kwargs) {
        Entry e = ops.get(name);
        if (e == null) throw new ScriptException("unsupported TorchScript op " + name);
        String shortName = name.substring(name.lastIndexOf('.') + 1);
        var p = profile;
        long t0 = p == null ? 0 : System.nanoTime();
        try {
            Object r = e.op.call(new Args(shortName, args, kwargs, e.params));
            return inPlace(shortName, args) ? writeBack((Tensor) args.get(0), r, name, args) : r;
        } finally {
            if (p != null) p.record(shortName, System.nanoTime() - t0);
        }
    }

    /** An in-place op (PyTorch's trailing underscore: add_, masked_fill_, copy_, ...) on a tensor. */
    private static boolean inPlace(String shortName, java.util.List<Object> args) {
        return shortName.endsWith("_") && !shortName.startsWith("__") && !args.isEmpty() && args.get(0) instanceof Tensor;
    }

    /**
     * PyTorch semantics for an in-place op whose implementation computed its result as a new
     * tensor: the result is written into self (cast to self's dtype; it must have self's shape or
     * broadcast to it) and self is returned, so later reads of self (a buffer, a parameter, an
     * alias) see the update. A sealed weight is unsealed first: a GEMM must not keep using a copy
     * packed from the old values.
     */
    private static Object writeBack(Tensor self, Object result, String name, java.util.List<Object> args) {
        if (result == self) return self;
        if (!(result instanceof Tensor r))
            throw new ScriptException(name + ": in-place op returned " + Values.typeName(result) + ", not a tensor");
        if (!java.util.Arrays.equals(dev.kiln.tensor.Shape.broadcast(name, r.shape(), self.shape()), self.shape()))
            throw new ScriptException(name + ": result of shape " + dev.kiln.tensor.Shape.str(r.shape())
                    + " cannot be written into self of shape " + dev.kiln.tensor.Shape.str(self.shape()));
        if (self.storage().isConstant()) self.storage().unseal();
        self.copyFrom(r);
        boolean anArgument = false;
        for (Object a : args) anArgument |= a == r;
        if (!anArgument) r.close();      // a fresh result; an argument handed back belongs to the caller
        return self;
    }
}
