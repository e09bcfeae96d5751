package dev.kiln.backend;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** Backends found through ServiceLoader: cpu always, cuda registered (available only with a GPU), one-line errors. */
class BackendsTest {
    @Test
    void providersAreFoundByName() {
        List<String> names = Backends.providers().stream().map(BackendProvider::name).toList();
        assertTrue(names.contains("cpu") && names.contains("cuda"), names.toString());
        assertTrue(Backends.available().contains("cpu"));
        assertSame(Backends.cpu(), Backends.get("cpu", 0));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Backends.get("tpu", 0));
        assertEquals("kiln: no backend named tpu (registered: cpu, cuda)", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Backends.get("cpu", 1));
        BackendProvider cuda = Backends.providers().stream().filter(p -> p.name().equals("cuda")).findFirst().orElseThrow();
        if (!cuda.isAvailable()) {
            IllegalStateException s = assertThrows(IllegalStateException.class, () -> Backends.get("cuda", 0));
            assertTrue(s.getMessage().startsWith("kiln: backend cuda is not available here: "), s.getMessage());
            assertFalse(Backends.available().contains("cuda"));
        }
    }
}
