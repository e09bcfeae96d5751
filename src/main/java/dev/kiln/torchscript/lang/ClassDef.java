package dev.kiln.torchscript.lang;

import java.util.List;
import java.util.Map;

/**
 * A class from a code/ file, e.g. {@code class Linear(Module):}. Holds the declared parameter and
 * buffer names, attribute annotations ({@code weight : Tensor}, {@code __annotations__["0"] = T}),
 * class-level constants ({@code in_features : Final[int] = 4}) and methods.
 *
 * @param qualifiedName e.g. "__torch__.torch.nn.modules.linear.Linear"
 * @param bases base class expressions (Module, NamedTuple, Enum ...)
 */
public record ClassDef(String name, String qualifiedName, List<Expr> bases, List<String> parameters,
                       List<String> buffers, Map<String, Expr> attributes, Map<String, Expr> constants,
                       Map<String, FunctionDef> methods, String file, int line) {
    public FunctionDef method(String n) { return methods.get(n); }
}
