package dev.kiln.torchscript.lang;

/** One source token: its kind, its text (a string literal's decoded value), and its 1-based line and column. */
public record Token(TokenKind kind, String text, int line, int col) {
    public boolean is(TokenKind k, String t) { return kind == k && text.equals(t); }

    public boolean isOp(String t) { return kind == TokenKind.OP && text.equals(t); }

    @Override
    public String toString() {
        return switch (kind) {
            case NEWLINE, INDENT, DEDENT, EOF -> kind.name();
            case STRING -> "string \"" + text + "\"";
            default -> "'" + text + "'";
        };
    }
}
