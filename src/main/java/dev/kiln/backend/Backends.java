package dev.kiln.backend;

import dev.kiln.backend.cpu.CpuBackend;

/** Registry of backends. The CPU backend is always present; others register when their runtime loads. */
public final class Backends {
    private Backends() {}

    private static final Backend CPU = new CpuBackend();

    public static Backend cpu() { return CPU; }
}
