package dev.kiln.torchscript.lang;

/**
 * A TorchScript source file that is outside the supported language subset; names file:line:col.
 * The message is one line: control characters from the source (a string token holding a newline,
 * a stray carriage return) are escaped as \xNN and long token text is cut.
 */
public final class ScriptSyntaxException extends RuntimeException {
    private static final int MAX_MESSAGE = 300;

    public ScriptSyntaxException(String file, int line, int col, String message) {
        super(file + ":" + line + ":" + col + ": " + oneLine(message));
    }

    private static String oneLine(String s) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < s.length(); i++) {
            if (sb.length() >= MAX_MESSAGE) return sb.append("...").toString();
            char c = s.charAt(i);
            if (c < 0x20 || c == 0x7f) sb.append(String.format("\\x%02x", (int) c));
            else sb.append(c);
        }
        return sb.toString();
    }
}
