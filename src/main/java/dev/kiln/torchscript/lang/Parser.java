package dev.kiln.torchscript.lang;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Recursive-descent parser for the TorchScript subset: top-level classes and functions; statements
 * (assignment with unpacking, annotated and augmented assignment, if/elif/else, for, while,
 * return, pass, break, continue, raise, assert); expressions with Python's precedence.
 * Anything else is a {@link ScriptSyntaxException} naming file:line:col. Statement grammar is
 * here; expressions are in {@link ExprParser}.
 */
public final class Parser {
    private final TokenStream ts;
    private final ExprParser exprs;
    private static final int MAX_BLOCK_DEPTH = 100;
    private final String file;
    private int blockDepth;

    private Parser(String src, String file) {
        this.file = file;
        this.ts = new TokenStream(Lexer.tokenize(src, file), file);
        this.exprs = new ExprParser(ts);
    }

    /** Parses one code/ file; path is its name in the archive (used for the module name and errors). */
    public static SourceFile parse(String src, String path) {
        return new Parser(src, path).file(path);
    }

    /** Parses a single expression (used by tests and for default values). */
    public static Expr parseExpression(String src) {
        Parser p = new Parser(src, "<expr>");
        Expr e = p.exprs.expression();
        p.ts.skip(TokenKind.NEWLINE);
        p.ts.expect(TokenKind.EOF);
        return e;
    }

    private SourceFile file(String path) {
        String module = SourceFile.moduleOf(path);
        List<ClassDef> classes = new ArrayList<>();
        List<FunctionDef> functions = new ArrayList<>();
        while (!ts.at(TokenKind.EOF)) {
            Token t = ts.peek();
            if (t.is(TokenKind.NAME, "class")) classes.add(classDef(module));
            else if (t.is(TokenKind.NAME, "def")) functions.add(functionDef());
            else if (t.is(TokenKind.NAME, "import") || t.is(TokenKind.NAME, "from")) skipLine();
            else if (t.kind() == TokenKind.NEWLINE) ts.next();
            else throw ts.error(t, "expected 'class' or 'def' at top level, got " + t);
        }
        return new SourceFile(path, module, classes, functions);
    }

    private void skipLine() {
        while (!ts.at(TokenKind.NEWLINE) && !ts.at(TokenKind.EOF)) ts.next();
        ts.skip(TokenKind.NEWLINE);
    }

    private ClassDef classDef(String module) {
        Token kw = ts.next();
        String name = ts.expect(TokenKind.NAME).text();
        List<Expr> bases = new ArrayList<>();
        if (ts.acceptOp("(")) {
            while (!ts.acceptOp(")")) {
                bases.add(exprs.expression());
                if (!ts.peek().isOp(")")) ts.expectOp(",");
            }
        }
        ts.expectOp(":");
        ClassBody body = new ClassBody();
        ts.expect(TokenKind.NEWLINE);
        ts.expect(TokenKind.INDENT);
        while (!ts.accept(TokenKind.DEDENT)) classMember(body);
        return new ClassDef(name, module + "." + name, bases, body.parameters, body.buffers, body.attributes,
                body.constants, body.methods, file, kw.line());
    }

    /** What a class body declares, collected while parsing. */
    private static final class ClassBody {
        List<String> parameters = new ArrayList<>();
        List<String> buffers = new ArrayList<>();
        final Map<String, Expr> attributes = new LinkedHashMap<>();
        final Map<String, Expr> constants = new LinkedHashMap<>();
        final Map<String, FunctionDef> methods = new LinkedHashMap<>();
    }

    private void classMember(ClassBody body) {
        Token t = ts.peek();
        if (t.is(TokenKind.NAME, "def")) {
            FunctionDef f = functionDef();
            body.methods.put(f.name(), f);
            return;
        }
        if (t.is(TokenKind.NAME, "pass")) { skipLine(); return; }
        if (t.kind() == TokenKind.STRING) { skipLine(); return; } // docstring
        Stmt s = simpleStatement();
        switch (s) {
            case Stmt.Assign a when a.target() instanceof Expr.Name n -> classAssign(body, n.id(), a);
            case Stmt.Assign a when a.target() instanceof Expr.Subscript sub
                    && sub.value() instanceof Expr.Name n && n.id().equals("__annotations__")
                    && sub.index() instanceof Expr.Const c && c.value() instanceof String key ->
                    body.attributes.put(key, a.value());
            case Stmt.AnnAssign a when a.target() instanceof Expr.Name n -> {
                body.attributes.put(n.id(), a.annotation());
                if (a.value() != null) body.constants.put(n.id(), a.value());
            }
            default -> throw ts.error(t, "unsupported statement in class body");
        }
    }

    private void classAssign(ClassBody body, String name, Stmt.Assign a) {
        switch (name) {
            case "__parameters__" -> body.parameters = stringList(a.value(), a.line());
            case "__buffers__" -> body.buffers = stringList(a.value(), a.line());
            default -> body.constants.put(name, a.value());
        }
    }

    private List<String> stringList(Expr e, int line) {
        List<String> out = new ArrayList<>();
        if (e instanceof Expr.ListExpr l) {
            for (Expr item : l.items()) {
                if (!(item instanceof Expr.Const c) || !(c.value() instanceof String s))
                    throw new ScriptSyntaxException(file, line, 1, "expected a list of strings");
                out.add(s);
            }
            return out;
        }
        throw new ScriptSyntaxException(file, line, 1, "expected a list of strings");
    }

    private FunctionDef functionDef() {
        Token kw = ts.next();
        String name = ts.expect(TokenKind.NAME).text();
        ts.expectOp("(");
        List<FunctionDef.Param> params = new ArrayList<>();
        while (!ts.acceptOp(")")) {
            if (ts.acceptOp("*")) { // keyword-only marker
                if (!ts.peek().isOp(")")) ts.expectOp(",");
                continue;
            }
            String p = ts.expect(TokenKind.NAME).text();
            Expr ann = ts.acceptOp(":") ? exprs.expression() : null;
            Expr def = ts.acceptOp("=") ? exprs.expression() : null;
            params.add(new FunctionDef.Param(p, ann, def));
            if (!ts.peek().isOp(")")) ts.expectOp(",");
        }
        Expr returns = ts.acceptOp("->") ? exprs.expression() : null;
        ts.expectOp(":");
        List<Stmt> body = block();
        return new FunctionDef(name, params, returns, body, file, kw.line());
    }

    /** ':' already consumed: NEWLINE INDENT stmt+ DEDENT, or one simple statement on the same line. */
    private List<Stmt> block() {
        List<Stmt> body = new ArrayList<>();
        if (!ts.at(TokenKind.NEWLINE)) {
            body.add(simpleStatement());
            return body;
        }
        ts.expect(TokenKind.NEWLINE);
        Token indent = ts.expect(TokenKind.INDENT);
        if (++blockDepth > MAX_BLOCK_DEPTH) throw ts.error(indent, "blocks nested deeper than " + MAX_BLOCK_DEPTH);
        while (!ts.accept(TokenKind.DEDENT)) body.add(statement());
        blockDepth--;
        return body;
    }

    private Stmt statement() {
        Token t = ts.peek();
        if (t.kind() == TokenKind.NAME) {
            switch (t.text()) {
                case "if": return ifStatement();
                case "for": return forStatement();
                case "while": return whileStatement();
                case "def": return new Stmt.Def(functionDef(), t.line());
                case "class", "with", "try", "lambda", "global", "nonlocal", "async", "yield", "del":
                    throw ts.error(t, "'" + t.text() + "' is outside the supported TorchScript subset");
                default: break;
            }
        }
        return simpleStatement();
    }

    /**
     * if / elif* / else. The elif chain is read in a loop and nested from the last branch outwards
     * (elif is an If in the else part); its length counts toward the block depth limit, since the
     * tree it makes is that deep.
     */
    private Stmt ifStatement() {
        List<Token> keywords = new ArrayList<>();
        List<Expr> tests = new ArrayList<>();
        List<List<Stmt>> bodies = new ArrayList<>();
        do {
            Token kw = ts.next(); // if / elif
            if (blockDepth + keywords.size() >= MAX_BLOCK_DEPTH)
                throw ts.error(kw, "if/elif chain with blocks nested deeper than " + MAX_BLOCK_DEPTH);
            keywords.add(kw);
            tests.add(exprs.expression());
            ts.expectOp(":");
            bodies.add(block());
        } while (ts.peek().is(TokenKind.NAME, "elif"));
        List<Stmt> orelse = new ArrayList<>();
        if (ts.peek().is(TokenKind.NAME, "else")) {
            ts.next();
            ts.expectOp(":");
            orelse = block();
        }
        for (int i = tests.size() - 1; i >= 0; i--) {
            Stmt s = new Stmt.If(tests.get(i), bodies.get(i), orelse, keywords.get(i).line());
            orelse = i == 0 ? List.of(s) : new ArrayList<>(List.of(s));
        }
        return orelse.getFirst();
    }

    private Stmt forStatement() {
        Token kw = ts.next();
        Expr target = exprs.targetList();
        Token in = ts.expect(TokenKind.NAME);
        if (!in.text().equals("in")) throw ts.error(in, "expected 'in'");
        Expr iter = exprs.expressionList();
        ts.expectOp(":");
        return new Stmt.For(target, iter, block(), kw.line());
    }

    private Stmt whileStatement() {
        Token kw = ts.next();
        Expr test = exprs.expression();
        ts.expectOp(":");
        return new Stmt.While(test, block(), kw.line());
    }

    /** One simple statement, then NEWLINE (a ';' separated line is not emitted by torch). */
    private Stmt simpleStatement() {
        Stmt s = simpleBody();
        if (!ts.at(TokenKind.EOF)) ts.expect(TokenKind.NEWLINE);
        return s;
    }

    private Stmt simpleBody() {
        Token t = ts.peek();
        int line = t.line();
        if (t.kind() == TokenKind.NAME) {
            switch (t.text()) {
                case "pass": ts.next(); return new Stmt.Pass(line);
                case "break": ts.next(); return new Stmt.Break(line);
                case "continue": ts.next(); return new Stmt.Continue(line);
                case "return": {
                    ts.next();
                    Expr v = ts.at(TokenKind.NEWLINE) ? null : exprs.expressionList();
                    return new Stmt.Return(v, line);
                }
                case "raise": {
                    ts.next();
                    Expr v = ts.at(TokenKind.NEWLINE) ? null : exprs.expression();
                    if (ts.peek().is(TokenKind.NAME, "from")) { ts.next(); exprs.expression(); }
                    return new Stmt.Raise(v, line);
                }
                case "assert": {
                    ts.next();
                    Expr test = exprs.expression();
                    Expr msg = ts.acceptOp(",") ? exprs.expression() : null;
                    return new Stmt.Assert(test, msg, line);
                }
                default: break;
            }
        }
        Expr first = exprs.expressionList();
        if (ts.acceptOp("=")) {
            Expr value = exprs.expressionList();
            if (ts.peek().isOp("=")) throw ts.error(ts.peek(), "chained assignment is not supported");
            checkTarget(first, t);
            return new Stmt.Assign(first, value, line);
        }
        if (ts.acceptOp(":")) {
            Expr ann = exprs.expression();
            Expr value = ts.acceptOp("=") ? exprs.expressionList() : null;
            checkTarget(first, t);
            return new Stmt.AnnAssign(first, ann, value, line);
        }
        Token op = ts.peek();
        if (op.kind() == TokenKind.OP && op.text().length() >= 2 && op.text().endsWith("=")
                && !List.of("==", "!=", "<=", ">=").contains(op.text())) {
            ts.next();
            checkTarget(first, t);
            return new Stmt.AugAssign(first, op.text().substring(0, op.text().length() - 1), exprs.expressionList(), line);
        }
        return new Stmt.ExprStmt(first, line);
    }

    private void checkTarget(Expr e, Token at) {
        switch (e) {
            case Expr.Name n -> { }
            case Expr.Subscript s -> { }
            case Expr.Attribute a -> { }
            case Expr.TupleExpr tu -> tu.items().forEach(i -> checkTarget(i, at));
            case Expr.ListExpr l -> l.items().forEach(i -> checkTarget(i, at));
            default -> throw ts.error(at, "cannot assign to this expression");
        }
    }
}
