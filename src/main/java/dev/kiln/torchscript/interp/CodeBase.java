package dev.kiln.torchscript.interp;

import dev.kiln.torchscript.lang.ClassDef;
import dev.kiln.torchscript.lang.FunctionDef;
import dev.kiln.torchscript.lang.Parser;
import dev.kiln.torchscript.lang.SourceFile;

import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * All classes and functions of an archive's code/ files, by qualified name
 * ("__torch__.torch.nn.modules.linear.Linear", "__torch__.torch.nn.functional.relu").
 */
public final class CodeBase {
    private final Map<String, ClassDef> classes = new HashMap<>();
    private final Map<String, FunctionDef> functions = new HashMap<>();

    /** Parses every ".py" entry of code (archive path -> source); other entries are ignored. */
    public static CodeBase parse(Map<String, String> code) {
        CodeBase cb = new CodeBase();
        for (var e : new TreeMap<>(code).entrySet()) {
            if (!e.getKey().endsWith(".py")) continue;
            SourceFile f = Parser.parse(e.getValue(), e.getKey());
            for (ClassDef c : f.classes()) cb.classes.put(c.qualifiedName(), c);
            for (FunctionDef fn : f.functions()) cb.functions.put(f.module() + "." + fn.name(), fn);
        }
        return cb;
    }

    public ClassDef classDef(String qualifiedName) { return classes.get(qualifiedName); }

    public FunctionDef function(String qualifiedName) { return functions.get(qualifiedName); }

    public int classCount() { return classes.size(); }

    public int functionCount() { return functions.size(); }

    /**
     * The builtin functions the code calls by name ("torch.linear", "ops.prim.dtype"): every call
     * whose callee is a dotted name under torch or ops, in any method or function. Tensor methods
     * (x.view(...)) are not among them: what they resolve to is known only when they run.
     */
    public java.util.SortedSet<String> calledBuiltins() {
        java.util.SortedSet<String> names = new java.util.TreeSet<>();
        java.util.function.Consumer<Object> walk = new java.util.function.Consumer<>() {
            @Override
            public void accept(Object o) {
                if (o instanceof dev.kiln.torchscript.lang.Expr.Call c) {
                    String name = dotted(c.func());
                    if (name != null && (name.startsWith("torch.") || name.startsWith("ops."))) names.add(name);
                }
                if (o instanceof java.util.Collection<?> list) list.forEach(this);
                else if (o instanceof Map<?, ?> map) map.values().forEach(this);
                else if (o instanceof Record r)
                    for (var rc : r.getClass().getRecordComponents()) {
                        try {
                            accept(rc.getAccessor().invoke(r));
                        } catch (ReflectiveOperationException e) {
                            throw new IllegalStateException(e);
                        }
                    }
            }
        };
        classes.values().forEach(c -> walk.accept(c.methods()));
        functions.values().forEach(walk);
        return names;
    }

    /** a.b.c for a chain of attribute accesses on a name, else null. */
    private static String dotted(dev.kiln.torchscript.lang.Expr e) {
        if (e instanceof dev.kiln.torchscript.lang.Expr.Name n) return n.id();
        if (e instanceof dev.kiln.torchscript.lang.Expr.Attribute a) {
            String left = dotted(a.value());
            return left == null ? null : left + "." + a.attr();
        }
        return null;
    }
}
