package dev.kiln.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** CudaAvailability: the real probe never throws; every branch of the probe logic via fakes. */
class CudaAvailabilityTest {

    @Test
    void realProbeNeverThrowsAndExplainsItself() {
        CudaAvailability.Probe p = CudaAvailability.probe();
        assertSame(p, CudaAvailability.probe(), "the probe is cached");
        if (p.available()) {
            assertTrue(p.deviceCount() > 0);
            assertEquals("", CudaAvailability.reason());
            System.out.println("CUDA available: " + p.detail());
        } else {
            assertEquals(0, CudaAvailability.deviceCount());
            assertFalse(CudaAvailability.isAvailable());
            String r = CudaAvailability.reason();
            assertTrue(r.equals(CudaAvailability.NO_RUNTIME) || r.equals(CudaAvailability.NO_DEVICE)
                    || r.equals(CudaAvailability.NO_DRIVER) || r.equals(CudaAvailability.DISABLED), r);
            assertFalse(r.contains("\n"));
            System.out.println("CUDA unavailable here: " + r + " [" + p.detail() + "]");
        }
    }

    @Test
    void missingNativesGiveTheRuntimeReason() {
        CudaAvailability.Probe p = CudaAvailability.probe(() -> {
            throw new UnsatisfiedLinkError("no jnicudart in java.library.path");
        }, () -> {
            throw new AssertionError("must not ask for devices when loading failed");
        });
        assertFalse(p.available());
        assertEquals(CudaAvailability.NO_RUNTIME, p.reason());
        assertTrue(p.detail().contains("jnicudart"));
        CudaAvailability.Probe q = CudaAvailability.probe(() -> {
            throw new NoClassDefFoundError("org/bytedeco/cuda/global/cudart");
        }, () -> 1);
        assertEquals(CudaAvailability.NO_RUNTIME, q.reason());
    }

    @Test
    void noDeviceOrDriverErrorGiveTheDeviceReason() {
        assertEquals(CudaAvailability.NO_DEVICE, CudaAvailability.probe(() -> {}, () -> 0).reason());
        CudaAvailability.Probe err = CudaAvailability.probe(() -> {}, () -> -100);
        assertEquals(CudaAvailability.NO_DEVICE, err.reason());
        assertTrue(err.detail().contains("100"), err.detail());
        assertEquals(CudaAvailability.NO_DRIVER, CudaAvailability.probe(() -> {}, () -> -35).reason());
        assertEquals(CudaAvailability.NO_DEVICE, CudaAvailability.probe(() -> {}, () -> {
            throw new UnsatisfiedLinkError("libcuda.so.1");
        }).reason());
    }

    @Test
    void devicesFoundMeansAvailable() {
        CudaAvailability.Probe p = CudaAvailability.probe(() -> {}, () -> 2);
        assertTrue(p.available());
        assertEquals(2, p.deviceCount());
        assertEquals("", p.reason());
    }
}
