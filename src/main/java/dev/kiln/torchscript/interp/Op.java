package dev.kiln.torchscript.interp;

/** One builtin: torch.* / ops.aten.* / ops.prim.* / Python builtins. */
@FunctionalInterface
interface Op {
    Object call(Args args);
}
