package dev.kiln.torchscript.lang;

import java.util.List;

/** Statement nodes of the TorchScript subset. */
public sealed interface Stmt {
    int line();

    /** target = value; the target is a Name, TupleExpr/ListExpr (unpacking), Subscript or Attribute. */
    record Assign(Expr target, Expr value, int line) implements Stmt {}

    /** target : annotation [= value]. */
    record AnnAssign(Expr target, Expr annotation, Expr value, int line) implements Stmt {}

    /** target op= value (op without the '='). */
    record AugAssign(Expr target, String op, Expr value, int line) implements Stmt {}

    record ExprStmt(Expr value, int line) implements Stmt {}

    /** if/elif/else: an elif is an If inside orelse. */
    record If(Expr test, List<Stmt> body, List<Stmt> orelse, int line) implements Stmt {}

    record For(Expr target, Expr iter, List<Stmt> body, int line) implements Stmt {}

    record While(Expr test, List<Stmt> body, int line) implements Stmt {}

    /** value may be null (bare return). */
    record Return(Expr value, int line) implements Stmt {}

    record Pass(int line) implements Stmt {}

    record Break(int line) implements Stmt {}

    record Continue(int line) implements Stmt {}

    /** exception may be null (bare raise). */
    record Raise(Expr exception, int line) implements Stmt {}

    /** assert test[, msg]. */
    record Assert(Expr test, Expr msg, int line) implements Stmt {}

    /** A nested def (rare in emitted code); kept so the interpreter can report it. */
    record Def(FunctionDef function, int line) implements Stmt {}
}
