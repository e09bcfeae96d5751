package dev.kiln.torchscript.lang;

/** A TorchScript source file that is outside the supported language subset; names file:line:col. */
public final class ScriptSyntaxException extends RuntimeException {
    public ScriptSyntaxException(String file, int line, int col, String message) {
        super(file + ":" + line + ":" + col + ": " + message);
    }
}
