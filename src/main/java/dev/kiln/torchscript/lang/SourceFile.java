package dev.kiln.torchscript.lang;

import java.util.List;

/**
 * One parsed code/ file: its path in the archive, its module name (path with '/' as '.', no ".py",
 * e.g. "__torch__.torch.nn.functional"), and its top-level classes and functions.
 */
public record SourceFile(String path, String module, List<ClassDef> classes, List<FunctionDef> functions) {
    /** "code/__torch__/torch/nn/functional.py" -> "__torch__.torch.nn.functional". */
    public static String moduleOf(String path) {
        String p = path.replace('\\', '/');
        if (p.startsWith("code/")) p = p.substring(5);
        int slash = p.indexOf("/code/");
        if (slash >= 0) p = p.substring(slash + 6);
        if (p.endsWith(".py")) p = p.substring(0, p.length() - 3);
        return p.replace('/', '.');
    }
}
