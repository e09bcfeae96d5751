package dev.kiln.backend.cpu;

import dev.kiln.backend.Backend;
import dev.kiln.backend.BackendProvider;
import dev.kiln.backend.Backends;

/** "cpu": the host backend, always there (one device: the host). */
public final class CpuBackendProvider implements BackendProvider {
    @Override public String name() { return "cpu"; }
    @Override public boolean isAvailable() { return true; }
    @Override public String unavailableReason() { return ""; }

    @Override public Backend open(int device) {
        if (device != 0) throw new IllegalArgumentException("cpu: the host is device 0, not " + device);
        return Backends.cpu();
    }
}
