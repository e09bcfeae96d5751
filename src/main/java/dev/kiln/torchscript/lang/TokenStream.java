package dev.kiln.torchscript.lang;

import java.util.List;

/** A cursor over a token list with the expect/accept helpers the parsers share. */
final class TokenStream {
    private final List<Token> tokens;
    private final String file;
    private int pos;

    TokenStream(List<Token> tokens, String file) {
        this.tokens = tokens;
        this.file = file;
    }

    Token peek() { return tokens.get(pos); }

    Token peek(int ahead) { return tokens.get(Math.min(pos + ahead, tokens.size() - 1)); }

    Token next() {
        Token t = tokens.get(pos);
        if (t.kind() != TokenKind.EOF) pos++;
        return t;
    }

    boolean at(TokenKind k) { return peek().kind() == k; }

    boolean accept(TokenKind k) {
        if (!at(k)) return false;
        next();
        return true;
    }

    boolean acceptOp(String op) {
        if (!peek().isOp(op)) return false;
        next();
        return true;
    }

    boolean acceptName(String kw) {
        if (!peek().is(TokenKind.NAME, kw)) return false;
        next();
        return true;
    }

    void skip(TokenKind k) { while (at(k)) next(); }

    Token expect(TokenKind k) {
        Token t = peek();
        if (t.kind() != k) throw error(t, "expected " + k + ", got " + t);
        return next();
    }

    Token expectOp(String op) {
        Token t = peek();
        if (!t.isOp(op)) throw error(t, "expected '" + op + "', got " + t);
        return next();
    }

    ScriptSyntaxException error(Token t, String msg) { return new ScriptSyntaxException(file, t.line(), t.col(), msg); }
}
