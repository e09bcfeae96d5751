package dev.kiln.backend;

import dev.kiln.backend.cpu.CpuBackend;
import dev.kiln.backend.cuda.CudaAvailability;
import dev.kiln.backend.cuda.CudaBackend;

/** Registry of backends. The CPU backend is always present; others register when their runtime loads. */
public final class Backends {
    private Backends() {}

    private static final Backend CPU = new CpuBackend();

    public static Backend cpu() { return CPU; }

    /**
     * The CUDA backend on device 0. Throws IllegalStateException with the reason when CUDA is not
     * usable here (no natives, no driver, no device, or disabled by -Dkiln.cuda.disable=true).
     */
    public static Backend cuda() {
        if (!CudaAvailability.isAvailable()) throw new IllegalStateException(CudaAvailability.reason());
        return CudaBackend.of(0);
    }
}
