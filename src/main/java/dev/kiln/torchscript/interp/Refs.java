package dev.kiln.torchscript.interp;

import dev.kiln.pickle.PyObject;
import dev.kiln.torchscript.lang.ClassDef;
import dev.kiln.torchscript.lang.FunctionDef;

/** Runtime values that are not data: callables, namespaces and markers. */
final class Refs {
    private Refs() {}

    /** A dotted global prefix still being resolved, e.g. "torch", "ops.aten", "__torch__.torch.nn". */
    record Namespace(String path) {}

    /** A top-level script function from code/. */
    record ScriptFunction(FunctionDef def) {}

    /** A method of a module instance. */
    record BoundMethod(PyObject self, ClassDef cls, FunctionDef def) {}

    /** A builtin or op named by its table key, e.g. "torch.linear". */
    record BuiltinRef(String name) {}

    /** A script class used as a value (only for error messages). */
    record ClassRef(ClassDef def) {}

    /** A device; only the CPU is modelled. */
    record Device(String type) {
        @Override public String toString() { return type; }
    }

    /** The value of uninitialized(T): reading it in a way that matters is an error. */
    enum Uninitialized { VALUE }
}
