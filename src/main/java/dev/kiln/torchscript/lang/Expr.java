package dev.kiln.torchscript.lang;

import java.util.List;

/** Expression nodes of the TorchScript subset. Every node knows its source line for error messages. */
public sealed interface Expr {
    int line();

    /** A variable or a global such as torch, ops, __torch__, CONSTANTS, inf. */
    record Name(String id, int line) implements Expr {}

    /** None, True/False (Boolean), ints (Long), floats (Double), strings (String). */
    record Const(Object value, int line) implements Expr {}

    record Attribute(Expr value, String attr, int line) implements Expr {}

    record Keyword(String name, Expr value) {}

    record Call(Expr func, List<Expr> args, List<Keyword> keywords, int line) implements Expr {}

    record Subscript(Expr value, Expr index, int line) implements Expr {}

    /** a[lower:upper:step]; absent parts are null. */
    record Slice(Expr lower, Expr upper, Expr step, int line) implements Expr {}

    record TupleExpr(List<Expr> items, int line) implements Expr {}

    record ListExpr(List<Expr> items, int line) implements Expr {}

    record DictExpr(List<Expr> keys, List<Expr> values, int line) implements Expr {}

    /** Arithmetic and bitwise operators: {@code + - * / // % ** @ & | ^ << >>}. */
    record BinOp(String op, Expr left, Expr right, int line) implements Expr {}

    /** Unary -, + , ~ and not. */
    record Unary(String op, Expr operand, int line) implements Expr {}

    /** {@code a < b <= c ...}: ops.size() == operands.size() - 1; ops include "is", "is not", "in", "not in". */
    record Compare(List<String> ops, List<Expr> operands, int line) implements Expr {}

    /** "and" / "or" over two or more operands, short-circuit. */
    record BoolOp(String op, List<Expr> values, int line) implements Expr {}

    /** body if test else orelse. */
    record IfExp(Expr test, Expr body, Expr orelse, int line) implements Expr {}
}
