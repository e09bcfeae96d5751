package dev.kiln.torchscript;

import dev.kiln.io.KilnFormatException;
import dev.kiln.pickle.PyObject;
import dev.kiln.pickle.PyTuple;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;
import dev.kiln.torchscript.interp.CodeBase;
import dev.kiln.torchscript.interp.Interpreter;
import dev.kiln.torchscript.interp.Limits;
import dev.kiln.torchscript.interp.ScriptException;
import dev.kiln.torchscript.lang.ClassDef;
import dev.kiln.torchscript.lang.ScriptSyntaxException;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * A TorchScript model (a torch.jit.save file, scripted or traced) run by Kiln without libtorch:
 * the module tree and weights come from the archive's data.pkl, the methods from its code/
 * sources, run by the {@link Interpreter}.
 * <pre>
 * try (TorchScriptModel m = TorchScriptModel.load(Path.of("model.pt"))) {
 *     List&lt;Object&gt; out = m.forward(x);      // tensors (or ints, floats ...) in return order
 * }
 * </pre>
 * Temporaries of a call are freed when it returns; the returned tensors belong to the caller.
 */
public final class TorchScriptModel implements AutoCloseable {
    private final String name;
    private final PyObject root;
    private final List<Object> constants;
    private final Interpreter interpreter;
    private final CodeBase code;

    private TorchScriptModel(String name, PyObject root, List<Object> constants, CodeBase code, Limits limits) {
        this.name = name;
        this.root = root;
        this.constants = constants;
        this.code = code;
        this.interpreter = new Interpreter(code, constants, limits);
        interpreter.classOf(root); // fails early when the root's class has no code
    }

    public static TorchScriptModel load(Path path) throws KilnFormatException { return load(path, Limits.defaults()); }

    public static TorchScriptModel load(Path path, Limits limits) throws KilnFormatException {
        try (TorchArchive a = TorchArchive.open(path)) {
            if (!a.isTorchScript())
                throw new KilnFormatException(path + ": not a TorchScript archive (no code/ folder; a torch.save checkpoint?)");
            Map<String, String> src = a.code();
            CodeBase code;
            try {
                code = CodeBase.parse(src);
            } catch (ScriptSyntaxException e) {
                throw new KilnFormatException(path + ": " + e.getMessage());
            }
            List<Object> constants = a.constants();
            Object data = a.data();
            if (!(data instanceof PyObject root)) {
                TorchArchive.closeTensors(data);
                TorchArchive.closeTensors(constants);
                throw new KilnFormatException(path + ": data.pkl holds a " + data.getClass().getSimpleName() + ", not a module");
            }
            // the module's parameters, buffers and constants are the model's weights: sealed, so the
            // GEMM packs each weight once and keeps it (an in-place op on one unseals it, see OpTable)
            TorchArchive.forEachTensor(root, List.of(), t -> t.storage().seal());
            TorchArchive.forEachTensor(constants, List.of(), t -> t.storage().seal());
            try {
                return new TorchScriptModel(path.getFileName().toString(), root, constants, code, limits);
            } catch (ScriptException e) {
                TorchArchive.closeTensors(root);
                TorchArchive.closeTensors(constants);
                throw new KilnFormatException(path + ": " + e.getMessage());
            }
        }
    }

    /** Builds a model from pieces already in memory (tests, other loaders). */
    public static TorchScriptModel of(String name, PyObject root, List<Object> constants, Map<String, String> code) {
        return new TorchScriptModel(name, root, constants, CodeBase.parse(code), Limits.defaults());
    }

    public PyObject root() { return root; }

    /** Runs forward(inputs...). A tuple result is returned as its items, anything else as one item. */
    public List<Object> forward(Object... inputs) { return flatten(call("forward", inputs)); }

    /** Runs another method of the root module (e.g. one marked @torch.jit.export). */
    public Object call(String method, Object... args) {
        try (Scope s = Scope.open()) {
            Object out = interpreter.callMethod(root, method, new ArrayList<>(Arrays.asList(args)));
            keepTensors(out, s);
            return out;
        }
    }

    private static List<Object> flatten(Object out) { return out instanceof PyTuple t ? t.items() : List.of(out); }

    private static void keepTensors(Object v, Scope s) {
        switch (v) {
            case Tensor t -> s.keep(t);
            case PyTuple t -> t.items().forEach(x -> keepTensors(x, s));
            case Collection<?> c -> c.forEach(x -> keepTensors(x, s));
            case Map<?, ?> m -> m.values().forEach(x -> keepTensors(x, s));
            case null, default -> { }
        }
    }

    /** The module tree with each module's parameters and buffers, and the totals, for `kiln info`. */
    public String describe() {
        StringBuilder sb = new StringBuilder();
        long[] totals = new long[3]; // tensors, elements, bytes
        sb.append("TorchScript model ").append(name).append('\n');
        describe(root, "", "", sb, totals, new IdentityHashMap<>());
        sb.append("parameters and buffers: ").append(totals[0]).append(" tensors, ").append(totals[1])
                .append(" values, ").append(totals[2]).append(" bytes\n");
        sb.append("methods of the root: ").append(String.join(", ", interpreter.classOf(root).methods().keySet())).append('\n');
        var forward = interpreter.classOf(root).method("forward");
        if (forward != null) sb.append("signature: ").append(signature(forward)).append('\n');
        var called = code.calledBuiltins();
        var missing = called.stream().filter(n -> !interpreter.supports(n)).toList();
        sb.append(missing.isEmpty()
                ? "ops: Kiln runs all " + called.size() + " torch.* / ops.* functions the code calls (tensor methods are checked as they run)"
                : "ops not supported by Kiln (" + missing.size() + " of " + called.size() + " torch.* / ops.* functions): " + String.join(", ", missing)).append('\n');
        sb.append("code: ").append(code.classCount()).append(" classes, ").append(code.functionCount())
                .append(" functions; constants: ").append(constants.size()).append('\n');
        return sb.toString();
    }

    /** forward(x: Tensor, ...) -> T, from the method's source (self left out). */
    static String signature(dev.kiln.torchscript.lang.FunctionDef f) {
        StringBuilder sb = new StringBuilder(f.name()).append('(');
        boolean first = true;
        for (var p : f.params()) {
            if (p.name().equals("self")) continue;
            if (!first) sb.append(", ");
            first = false;
            sb.append(p.name());
            if (p.annotation() != null) sb.append(": ").append(show(p.annotation()));
        }
        sb.append(')');
        if (f.returns() != null) sb.append(" -> ").append(show(f.returns()));
        return sb.toString();
    }

    /** A type annotation as written (Tensor, Optional[Tensor], Tuple[Tensor, Tensor], __torch__.M). */
    private static String show(dev.kiln.torchscript.lang.Expr e) {
        return switch (e) {
            case dev.kiln.torchscript.lang.Expr.Name n -> n.id();
            case dev.kiln.torchscript.lang.Expr.Attribute a -> show(a.value()) + "." + a.attr();
            case dev.kiln.torchscript.lang.Expr.Const c -> c.value() == null ? "None" : String.valueOf(c.value());
            case dev.kiln.torchscript.lang.Expr.Subscript s -> show(s.value()) + "[" + show(s.index()) + "]";
            case dev.kiln.torchscript.lang.Expr.TupleExpr t -> String.join(", ", t.items().stream().map(TorchScriptModel::show).toList());
            case dev.kiln.torchscript.lang.Expr.ListExpr l -> "[" + String.join(", ", l.items().stream().map(TorchScriptModel::show).toList()) + "]";
            default -> "?";
        };
    }

    private void describe(PyObject m, String label, String indent, StringBuilder sb, long[] totals,
                          IdentityHashMap<Object, Boolean> seen) {
        ClassDef cls = interpreter.classOf(m);
        sb.append(indent).append(label).append(shortName(m.className())).append('\n');
        seen.put(m, Boolean.TRUE);
        for (var e : m.state().entrySet()) {
            Object v = e.getValue();
            if (v instanceof Tensor t && seen.put(t, Boolean.TRUE) == null) {
                String kind = cls.parameters().contains(e.getKey()) ? "parameter" : cls.buffers().contains(e.getKey())
                        ? "buffer" : "tensor";
                sb.append(indent).append("  ").append(e.getKey()).append(": ").append(kind).append(' ')
                        .append(Arrays.toString(t.shape())).append(' ').append(t.dtype().pyName()).append('\n');
                totals[0]++;
                totals[1] += t.numel();
                totals[2] += t.numel() * t.dtype().byteSize();
            } else if (v instanceof PyObject child && !seen.containsKey(child)) {
                describe(child, e.getKey() + ": ", indent + "  ", sb, totals, seen);
            }
        }
    }

    /** "__torch__.torch.nn.modules.linear.___torch_mangle_3.Linear" -> "torch.nn.modules.linear.Linear". */
    static String shortName(String qualified) {
        String s = qualified.replaceAll("___torch_mangle_\\d+\\.", "");
        return s.startsWith("__torch__.") ? s.substring("__torch__.".length()) : s;
    }

    /** Per-op timing of the builtin calls of later runs (on), or none (off); see {@link Interpreter#profile}. */
    public dev.kiln.onnx.OnnxProfile profile(boolean on) { return interpreter.profile(on); }

    /** forward's parameter names after self, in order (the model's positional inputs). */
    public List<String> forwardArgumentNames() {
        var f = interpreter.classOf(root).method("forward");
        if (f == null) throw new ScriptException("module " + root.className() + " has no forward method");
        List<String> names = new ArrayList<>();
        for (var p : f.params()) if (!p.name().equals("self")) names.add(p.name());
        return names;
    }

    /**
     * The rows of the largest embedding table (an nn.Embedding module's weight) in the module
     * tree, or -1 when there is none: the vocabulary a token-id input can index.
     */
    public long largestEmbeddingRows() { return embeddingRows(root, new IdentityHashMap<>()); }

    private static long embeddingRows(PyObject m, IdentityHashMap<Object, Boolean> seen) {
        if (seen.put(m, Boolean.TRUE) != null) return -1;
        long best = -1;
        if (m.className().contains("torch.nn.modules.sparse.") && m.className().endsWith(".Embedding") && m.state().get("weight") instanceof Tensor w && w.dim() == 2)
            best = w.shape()[0];
        for (Object v : m.state().values()) if (v instanceof PyObject c) best = Math.max(best, embeddingRows(c, seen));
        return best;
    }

    /** Frees the weights and constants. */
    @Override
    public void close() {
        TorchArchive.closeTensors(root);
        TorchArchive.closeTensors(constants);
    }
}
