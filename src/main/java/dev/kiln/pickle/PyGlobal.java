package dev.kiln.pickle;

/**
 * A Python global (class, function or constant) that a pickle named with GLOBAL or STACK_GLOBAL
 * and that the {@link Globals} allow-list let through. A global with a handler can be called by
 * REDUCE / NEWOBJ (the handler builds a Java value from the arguments, it never runs Python); one
 * without a handler is a plain marker value, e.g. {@code torch.FloatStorage} inside a persistent
 * id or a {@code torch.float32} dtype attribute.
 */
public record PyGlobal(String module, String name, Handler handler) {
    /** Builds the Java value of a call {@code module.name(*args)}. */
    @FunctionalInterface
    public interface Handler {
        Object call(PyTuple args) throws dev.kiln.io.KilnFormatException;
    }

    /** "module.name", as Python prints it. */
    public String qualifiedName() { return module + "." + name; }

    public boolean is(String module, String name) { return this.module.equals(module) && this.name.equals(name); }

    @Override
    public String toString() { return qualifiedName(); }
}
