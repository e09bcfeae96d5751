package dev.kiln.torchscript.lang;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;

/**
 * Splits TorchScript source (the Python subset torch.jit.save writes to code/*.py) into tokens.
 * Indentation at the start of a logical line becomes INDENT/DEDENT tokens, as in Python; inside
 * brackets newlines and indentation are ignored (implicit line joining), as are blank lines and
 * comments. String literals are decoded (single or double quotes, backslash escapes).
 */
public final class Lexer {
    private static final String[] OPS3 = {"**=", "//=", "...", ">>=", "<<="};
    private static final String[] OPS2 = {"==", "!=", "<=", ">=", "->", "**", "//", "+=", "-=", "*=", "/=", "%=",
        "<<", ">>", "&=", "|=", "^="};
    private static final String OPS1 = "()[]{},:.;@=+-*/%<>&|^~";

    private final String src;
    private final String file;
    private final List<Token> out = new ArrayList<>();
    private final Deque<Integer> indents = new ArrayDeque<>();
    private int pos;
    private int line = 1;
    private int lineStart;
    private int depth;

    private Lexer(String src, String file) {
        this.src = src;
        this.file = file;
        indents.push(0);
    }

    public static List<Token> tokenize(String src, String file) {
        Lexer lx = new Lexer(src, file);
        lx.run();
        return lx.out;
    }

    private void run() {
        boolean atLineStart = true;
        while (pos < src.length()) {
            if (atLineStart && depth == 0) {
                if (!indentation()) continue; // blank or comment-only line
                atLineStart = false;
            }
            char c = src.charAt(pos);
            if (c == '\n') {
                newline();
                if (depth == 0 && !out.isEmpty() && out.getLast().kind() != TokenKind.NEWLINE)
                    add(TokenKind.NEWLINE, "\\n", pos - lineStart);
                atLineStart = depth == 0;
            } else if (c == ' ' || c == '\t' || c == '\r' || c == '\f') {
                pos++;
            } else if (c == '\\' && pos + 1 < src.length() && src.charAt(pos + 1) == '\n') {
                pos++;
                newline();
            } else if (c == '#') {
                skipComment();
            } else {
                token(c);
            }
        }
        if (!out.isEmpty() && out.getLast().kind() != TokenKind.NEWLINE) add(TokenKind.NEWLINE, "\\n", 0);
        while (indents.peek() > 0) {
            indents.pop();
            add(TokenKind.DEDENT, "", 0);
        }
        add(TokenKind.EOF, "", 0);
    }

    private void newline() {
        pos++;
        line++;
        lineStart = pos;
    }

    private void skipComment() {
        while (pos < src.length() && src.charAt(pos) != '\n') pos++;
    }

    /** Measures the indentation of a new line; returns false (and skips it) when the line is blank. */
    private boolean indentation() {
        int col = 0, p = pos;
        while (p < src.length() && (src.charAt(p) == ' ' || src.charAt(p) == '\t')) {
            col = src.charAt(p) == '\t' ? (col / 8 + 1) * 8 : col + 1;
            p++;
        }
        if (p >= src.length() || src.charAt(p) == '\n' || src.charAt(p) == '#' || src.charAt(p) == '\r') {
            pos = p;
            if (pos < src.length() && src.charAt(pos) == '#') skipComment();
            if (pos < src.length() && src.charAt(pos) == '\r') pos++;
            if (pos < src.length()) newline();
            return false;
        }
        pos = p;
        if (col > indents.peek()) {
            indents.push(col);
            add(TokenKind.INDENT, "", col);
        } else {
            while (col < indents.peek()) {
                indents.pop();
                add(TokenKind.DEDENT, "", col);
            }
            if (col != indents.peek()) throw error(col, "inconsistent dedent");
        }
        return true;
    }

    private void token(char c) {
        int col = pos - lineStart;
        if (Character.isLetter(c) || c == '_') {
            int s = pos;
            while (pos < src.length() && (Character.isLetterOrDigit(src.charAt(pos)) || src.charAt(pos) == '_')) pos++;
            add(TokenKind.NAME, src.substring(s, pos), col);
        } else if (isDigit(c) || (c == '.' && pos + 1 < src.length() && isDigit(src.charAt(pos + 1)))) {
            number(col);
        } else if (c == '"' || c == '\'') {
            string(c, col);
        } else {
            operator(col);
        }
    }

    private void number(int col) {
        int s = pos;
        boolean isFloat = false;
        if (src.startsWith("0x", pos) || src.startsWith("0X", pos)) {
            pos += 2;
            while (pos < src.length() && isHexDigit(src.charAt(pos))) pos++;
            String digits = src.substring(s + 2, pos);
            if (digits.isEmpty() || digits.length() > 16) throw error(col, "invalid hexadecimal literal '" + src.substring(s, pos) + "'");
            add(TokenKind.INT, String.valueOf(Long.parseUnsignedLong(digits, 16)), col);
            return;
        }
        while (pos < src.length() && isDigit(src.charAt(pos))) pos++;
        if (pos < src.length() && src.charAt(pos) == '.') {
            isFloat = true;
            pos++;
            while (pos < src.length() && isDigit(src.charAt(pos))) pos++;
        }
        if (pos < src.length() && (src.charAt(pos) == 'e' || src.charAt(pos) == 'E')) {
            int save = pos++;
            if (pos < src.length() && (src.charAt(pos) == '+' || src.charAt(pos) == '-')) pos++;
            if (pos < src.length() && isDigit(src.charAt(pos))) {
                isFloat = true;
                while (pos < src.length() && isDigit(src.charAt(pos))) pos++;
            } else {
                pos = save;
            }
        }
        if (pos < src.length() && (src.charAt(pos) == 'j' || src.charAt(pos) == 'J'))
            throw error(col, "complex literals are not supported");
        add(isFloat ? TokenKind.FLOAT : TokenKind.INT, src.substring(s, pos), col);
    }

    /** ASCII digits only: number literals are Python's, and Long/Double parsing takes no other digits. */
    private static boolean isDigit(char c) { return c >= '0' && c <= '9'; }

    private static boolean isHexDigit(char c) { return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

    private void string(char quote, int col) {
        boolean triple = src.startsWith(String.valueOf(quote).repeat(3), pos);
        pos += triple ? 3 : 1;
        StringBuilder sb = new StringBuilder();
        while (true) {
            if (pos >= src.length()) throw error(col, "unterminated string literal");
            char c = src.charAt(pos);
            if (triple ? src.startsWith(String.valueOf(quote).repeat(3), pos) : c == quote) {
                pos += triple ? 3 : 1;
                break;
            }
            if (c == '\n') {
                if (!triple) throw error(col, "unterminated string literal");
                sb.append(c);
                newline();
                continue;
            }
            if (c == '\\') {
                pos++;
                escape(sb, col);
                continue;
            }
            sb.append(c);
            pos++;
        }
        add(TokenKind.STRING, sb.toString(), col);
    }

    private void escape(StringBuilder sb, int col) {
        if (pos >= src.length()) throw error(col, "unterminated string literal");
        char e = src.charAt(pos++);
        switch (e) {
            case 'n' -> sb.append('\n');
            case 't' -> sb.append('\t');
            case 'r' -> sb.append('\r');
            case '0' -> sb.append('\0');
            case '\\', '\'', '"' -> sb.append(e);
            case '\n' -> { line++; lineStart = pos; }
            case 'x' -> sb.append((char) hex(2, col));
            case 'u' -> sb.append((char) hex(4, col));
            case 'U' -> {
                int cp = hex(8, col);
                if (cp < 0 || cp > Character.MAX_CODE_POINT) throw error(col, "bad escape in string literal (code point out of range)");
                sb.appendCodePoint(cp);
            }
            default -> sb.append('\\').append(e);
        }
    }

    private int hex(int n, int col) {
        if (pos + n > src.length()) throw error(col, "bad escape in string literal");
        try {
            int v = Integer.parseUnsignedInt(src.substring(pos, pos + n), 16);
            pos += n;
            return v;
        } catch (NumberFormatException e) {
            throw error(col, "bad escape in string literal");
        }
    }

    private void operator(int col) {
        for (String op : OPS3) if (src.startsWith(op, pos)) { emitOp(op, col); return; }
        for (String op : OPS2) if (src.startsWith(op, pos)) { emitOp(op, col); return; }
        char c = src.charAt(pos);
        if (OPS1.indexOf(c) < 0) throw error(col, "unexpected character '" + c + "'");
        emitOp(String.valueOf(c), col);
    }

    private void emitOp(String op, int col) {
        pos += op.length();
        if (op.equals("(") || op.equals("[") || op.equals("{")) depth++;
        if (op.equals(")") || op.equals("]") || op.equals("}")) {
            if (depth == 0) throw error(col, "unbalanced '" + op + "'");
            depth--;
        }
        add(TokenKind.OP, op, col);
    }

    private void add(TokenKind kind, String text, int col) { out.add(new Token(kind, text, line, col + 1)); }

    private ScriptSyntaxException error(int col, String msg) { return new ScriptSyntaxException(file, line, col + 1, msg); }
}
