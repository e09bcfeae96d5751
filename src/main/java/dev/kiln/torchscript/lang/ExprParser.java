package dev.kiln.torchscript.lang;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Expression grammar with Python precedence: ternary < or < and < not < comparison < | < ^ < &
 * < shift < + - < * / // % @ < unary - + ~ < ** < primary (call, attribute, subscript, slice).
 */
final class ExprParser {
    private static final Set<String> KEYWORDS = Set.of("and", "or", "not", "in", "is", "if", "else", "elif",
            "for", "while", "def", "class", "return", "lambda", "pass", "raise", "assert", "import", "from",
            "break", "continue", "with", "try", "yield", "del", "global");
    private static final int MAX_DEPTH = 200;

    private final TokenStream ts;
    private int depth;

    ExprParser(TokenStream ts) { this.ts = ts; }

    /** expr (',' expr)* [','] : a bare tuple when there is a comma. */
    Expr expressionList() {
        int line = ts.peek().line();
        Expr first = expression();
        if (!ts.peek().isOp(",")) return first;
        List<Expr> items = new ArrayList<>(List.of(first));
        while (ts.acceptOp(",")) {
            if (endOfList()) break;
            items.add(expression());
        }
        return new Expr.TupleExpr(items, line);
    }

    /** The targets of a for loop: like expressionList but stops before 'in'. */
    Expr targetList() {
        int line = ts.peek().line();
        Expr first = bitOr();
        if (!ts.peek().isOp(",")) return first;
        List<Expr> items = new ArrayList<>(List.of(first));
        while (ts.acceptOp(",")) {
            if (ts.peek().is(TokenKind.NAME, "in")) break;
            items.add(bitOr());
        }
        return new Expr.TupleExpr(items, line);
    }

    private boolean endOfList() {
        Token t = ts.peek();
        return t.kind() == TokenKind.NEWLINE || t.kind() == TokenKind.EOF || t.isOp("=") || t.isOp(")")
                || t.isOp("]") || t.isOp(":") || t.isOp("}");
    }

    /**
     * Counts one more level of nesting (of the parser's recursion or of the tree it builds); past
     * MAX_DEPTH the source is refused, so neither this parser nor anything walking its tree can
     * overflow the stack. Every enter is paired with a depth decrement by its caller.
     */
    private void enter(Token at) {
        if (++depth > MAX_DEPTH) throw ts.error(at, "expression nested too deeply (more than " + MAX_DEPTH + " levels)");
    }

    Expr expression() {
        enter(ts.peek());
        try {
            Expr body = orExpr();
            if (ts.peek().is(TokenKind.NAME, "if")) {
                ts.next();
                Expr test = orExpr();
                if (!ts.acceptName("else")) throw ts.error(ts.peek(), "expected 'else' in conditional expression");
                return new Expr.IfExp(test, body, expression(), body.line());
            }
            return body;
        } finally {
            depth--;
        }
    }

    private Expr orExpr() { return boolChain("or", this::andExpr); }

    private Expr andExpr() { return boolChain("and", this::notExpr); }

    private Expr boolChain(String op, java.util.function.Supplier<Expr> sub) {
        Expr first = sub.get();
        if (!ts.peek().is(TokenKind.NAME, op)) return first;
        List<Expr> values = new ArrayList<>(List.of(first));
        while (ts.acceptName(op)) values.add(sub.get());
        return new Expr.BoolOp(op, values, first.line());
    }

    private Expr notExpr() {
        Token t = ts.peek();
        if (!ts.acceptName("not")) return comparison();
        enter(t);
        try {
            return new Expr.Unary("not", notExpr(), t.line());
        } finally {
            depth--;
        }
    }

    private Expr comparison() {
        Expr first = bitOr();
        List<String> ops = new ArrayList<>();
        List<Expr> operands = new ArrayList<>(List.of(first));
        while (true) {
            String op = compareOp();
            if (op == null) break;
            ops.add(op);
            operands.add(bitOr());
        }
        return ops.isEmpty() ? first : new Expr.Compare(ops, operands, first.line());
    }

    private String compareOp() {
        Token t = ts.peek();
        if (t.kind() == TokenKind.OP && Set.of("<", ">", "==", "!=", "<=", ">=").contains(t.text())) {
            ts.next();
            return t.text();
        }
        if (t.is(TokenKind.NAME, "in")) { ts.next(); return "in"; }
        if (t.is(TokenKind.NAME, "is")) {
            ts.next();
            return ts.acceptName("not") ? "is not" : "is";
        }
        if (t.is(TokenKind.NAME, "not") && ts.peek(1).is(TokenKind.NAME, "in")) {
            ts.next();
            ts.next();
            return "not in";
        }
        return null;
    }

    private Expr bitOr() { return binary(0); }

    private static final List<Set<String>> LEVELS = List.of(
            Set.of("|"), Set.of("^"), Set.of("&"), Set.of("<<", ">>"), Set.of("+", "-"),
            Set.of("*", "/", "//", "%", "@"));

    /** A left-associative chain: a + b + c builds a tree one level deeper per operator. */
    private Expr binary(int level) {
        if (level == LEVELS.size()) return unary();
        Expr left = binary(level + 1);
        int levels = 0;
        try {
            while (ts.peek().kind() == TokenKind.OP && LEVELS.get(level).contains(ts.peek().text())) {
                enter(ts.peek());
                levels++;
                String op = ts.next().text();
                left = new Expr.BinOp(op, left, binary(level + 1), left.line());
            }
            return left;
        } finally {
            depth -= levels;
        }
    }

    private Expr unary() {
        Token t = ts.peek();
        if (t.isOp("-") || t.isOp("+") || t.isOp("~")) {
            ts.next();
            enter(t);
            try {
                return new Expr.Unary(t.text(), unary(), t.line());
            } finally {
                depth--;
            }
        }
        return power();
    }

    private Expr power() {
        Expr base = primary();
        Token t = ts.peek();
        if (!ts.acceptOp("**")) return base;
        enter(t);
        try {
            return new Expr.BinOp("**", base, unary(), base.line());
        } finally {
            depth--;
        }
    }

    /** An atom and its trailers; each trailer (.name, call, subscript) nests the tree one level deeper. */
    private Expr primary() {
        Expr e = atom();
        int levels = 0;
        try {
            while (true) {
                Token t = ts.peek();
                if (!t.isOp(".") && !t.isOp("(") && !t.isOp("[")) return e;
                enter(t);
                levels++;
                ts.next();
                if (t.isOp(".")) {
                    e = new Expr.Attribute(e, ts.expect(TokenKind.NAME).text(), t.line());
                } else if (t.isOp("(")) {
                    e = call(e, t.line());
                } else {
                    e = new Expr.Subscript(e, subscriptList(), t.line());
                    ts.expectOp("]");
                }
            }
        } finally {
            depth -= levels;
        }
    }

    private Expr call(Expr func, int line) {
        List<Expr> args = new ArrayList<>();
        List<Expr.Keyword> kws = new ArrayList<>();
        while (!ts.acceptOp(")")) {
            if (ts.peek().kind() == TokenKind.NAME && ts.peek(1).isOp("=")) {
                String name = ts.next().text();
                ts.next();
                kws.add(new Expr.Keyword(name, expression()));
            } else {
                if (ts.peek().isOp("*") || ts.peek().isOp("**"))
                    throw ts.error(ts.peek(), "star arguments are not supported");
                if (!kws.isEmpty()) throw ts.error(ts.peek(), "positional argument after keyword argument");
                args.add(expression());
            }
            if (!ts.peek().isOp(")")) ts.expectOp(",");
        }
        return new Expr.Call(func, args, kws, line);
    }

    private Expr subscriptList() {
        int line = ts.peek().line();
        Expr first = subscriptItem();
        if (!ts.peek().isOp(",")) return first;
        List<Expr> items = new ArrayList<>(List.of(first));
        while (ts.acceptOp(",")) {
            if (ts.peek().isOp("]")) break;
            items.add(subscriptItem());
        }
        return new Expr.TupleExpr(items, line);
    }

    private Expr subscriptItem() {
        int line = ts.peek().line();
        Expr lower = sliceEnd() ? null : expression();
        if (!ts.acceptOp(":")) {
            if (lower == null) throw ts.error(ts.peek(), "expected an expression or slice in the subscript");
            return lower;
        }
        Expr upper = sliceEnd() ? null : expression();
        Expr step = null;
        if (ts.acceptOp(":")) step = sliceEnd() ? null : expression();
        return new Expr.Slice(lower, upper, step, line);
    }

    private boolean sliceEnd() {
        Token t = ts.peek();
        return t.isOp(":") || t.isOp("]") || t.isOp(",");
    }

    private Expr atom() {
        Token t = ts.next();
        int line = t.line();
        switch (t.kind()) {
            case INT: return new Expr.Const(parseInt(t), line);
            case FLOAT: return new Expr.Const(Double.parseDouble(t.text()), line);
            case STRING: {
                StringBuilder sb = new StringBuilder(t.text());
                while (ts.at(TokenKind.STRING)) sb.append(ts.next().text()); // adjacent literals
                return new Expr.Const(sb.toString(), line);
            }
            case NAME: return name(t);
            case OP: return bracket(t);
            default: throw ts.error(t, "expected an expression, got " + t);
        }
    }

    private Object parseInt(Token t) {
        try {
            return Long.parseLong(t.text());
        } catch (NumberFormatException e) {
            throw ts.error(t, "integer literal out of range: " + t.text());
        }
    }

    private Expr name(Token t) {
        switch (t.text()) {
            case "None": return new Expr.Const(null, t.line());
            case "True": return new Expr.Const(Boolean.TRUE, t.line());
            case "False": return new Expr.Const(Boolean.FALSE, t.line());
            default:
                if (KEYWORDS.contains(t.text())) throw ts.error(t, "unexpected keyword '" + t.text() + "'");
                return new Expr.Name(t.text(), t.line());
        }
    }

    private Expr bracket(Token t) {
        enter(t);
        try {
            return switch (t.text()) {
                case "(" -> parenthesized(t);
                case "[" -> new Expr.ListExpr(items("]"), t.line());
                case "{" -> dict(t);
                default -> throw ts.error(t, "expected an expression, got " + t);
            };
        } finally {
            depth--;
        }
    }

    private Expr parenthesized(Token t) {
        if (ts.acceptOp(")")) return new Expr.TupleExpr(List.of(), t.line());
        Expr first = expression();
        if (ts.acceptOp(")")) return first;
        List<Expr> rest = new ArrayList<>(List.of(first));
        while (ts.acceptOp(",")) {
            if (ts.peek().isOp(")")) break;
            rest.add(expression());
        }
        ts.expectOp(")");
        return new Expr.TupleExpr(rest, t.line());
    }

    private List<Expr> items(String close) {
        List<Expr> out = new ArrayList<>();
        while (!ts.acceptOp(close)) {
            out.add(expression());
            if (!ts.peek().isOp(close)) ts.expectOp(",");
        }
        return out;
    }

    private Expr dict(Token t) {
        List<Expr> keys = new ArrayList<>(), values = new ArrayList<>();
        while (!ts.acceptOp("}")) {
            keys.add(expression());
            ts.expectOp(":");
            values.add(expression());
            if (!ts.peek().isOp("}")) ts.expectOp(",");
        }
        return new Expr.DictExpr(keys, values, t.line());
    }
}
