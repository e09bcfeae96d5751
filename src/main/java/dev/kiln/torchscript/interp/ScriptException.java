package dev.kiln.torchscript.interp;

/**
 * A TorchScript program failed while running: an unsupported op, a wrong argument, a limit hit,
 * or the program's own raise. The message starts with the source file:line once the interpreter
 * has attached it (ops throw without a location; the interpreter adds the innermost one). An
 * IllegalArgumentException, so the CLI reports it as bad input (exit 2) in one line.
 */
public class ScriptException extends IllegalArgumentException {
    private final boolean located;

    public ScriptException(String message) {
        super(message);
        this.located = false;
    }

    private ScriptException(String message, Throwable cause, boolean located) {
        super(message, cause);
        this.located = located;
    }

    public boolean located() { return located; }

    /** This error (or any runtime error from an op) with "file:line: " in front. */
    static ScriptException at(String file, int line, RuntimeException e) {
        if (e instanceof ScriptException se && se.located) return se;
        String msg = e instanceof ScriptException ? e.getMessage()
                : e.getClass().getSimpleName().replace("Exception", "") + ": " + e.getMessage();
        if (e instanceof ScriptRaise r) return new ScriptRaise(file + ":" + line + ": " + r.getMessage(), true);
        return new ScriptException(file + ":" + line + ": " + msg, e, true);
    }

    /** The program raised an exception itself (ops.prim.RaiseException, raise, a failed assert). */
    public static final class ScriptRaise extends ScriptException {
        public ScriptRaise(String message) { super(message); }

        private ScriptRaise(String message, boolean located) { super(message, null, located); }
    }
}
