package dev.kiln.torchscript.lang;

import java.util.List;

/**
 * A function or method: {@code def name(p: T = default, ...) -> R:}. For methods the first
 * parameter is self. The file is kept for error messages.
 */
public record FunctionDef(String name, List<Param> params, Expr returns, List<Stmt> body, String file, int line) {
    /** One parameter; annotation and default may be null. */
    public record Param(String name, Expr annotation, Expr defaultValue) {}
}
