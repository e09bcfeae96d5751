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
}
