package dev.kiln.torchscript.interp;

/**
 * Bounds on what a TorchScript program may do: nested calls (script functions and methods) and
 * iterations of any single loop. Exceeding one is a {@link ScriptException}, never a hang or a
 * StackOverflowError.
 */
public record Limits(int maxCallDepth, long maxLoopIterations) {
    public static Limits defaults() { return new Limits(200, 10_000_000L); }
}
