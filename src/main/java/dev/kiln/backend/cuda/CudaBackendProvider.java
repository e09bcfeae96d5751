package dev.kiln.backend.cuda;

import dev.kiln.backend.Backend;
import dev.kiln.backend.BackendProvider;

/** "cuda": the CUDA backend, when its natives, a driver and a device are there. */
public final class CudaBackendProvider implements BackendProvider {
    @Override public String name() { return "cuda"; }
    @Override public boolean isAvailable() { return CudaAvailability.isAvailable(); }
    @Override public String unavailableReason() { return isAvailable() ? "" : CudaAvailability.reason(); }

    @Override public Backend open(int device) {
        if (!isAvailable()) throw new IllegalStateException(CudaAvailability.reason());
        return CudaBackend.of(device);
    }
}
