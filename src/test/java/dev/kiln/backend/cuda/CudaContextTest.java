package dev.kiln.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.cuda.cudart.CUfunc_st;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.javacpp.PointerPointer;
import org.junit.jupiter.api.Test;

/**
 * The launch path without a GPU, through a recording driver: the device is made current on the
 * calling thread before every launch (a fresh thread has no context: CUDA_ERROR_INVALID_CONTEXT),
 * the sync-launch debug switch waits after each launch and names the faulting kernel, and the
 * switch's values parse strictly. Also: the cuSPARSE peer's missing library is an
 * IllegalStateException naming it (the GPU check skips the peer on it).
 */
class CudaContextTest {
    /** Records calls; returns the preset codes. */
    static final class Recorder implements CudaContext.Driver {
        final List<String> calls = new ArrayList<>();
        int launchResult, syncResult;

        @Override public int setDevice(int device) {
            calls.add("setDevice " + device + " on " + Thread.currentThread().getName());
            return 0;
        }

        @Override public int launch(CUfunc_st f, int[] grid, int[] block, int shared, CUstream_st s, PointerPointer<?> args) {
            calls.add("launch on " + Thread.currentThread().getName());
            return launchResult;
        }

        @Override public int synchronize(CUstream_st s) {
            calls.add("sync");
            return syncResult;
        }

        @Override public String describe(int code, boolean driverApi) {
            return (driverApi ? "CUresult " : "cudaError ") + code;
        }
    }

    private static void launch(CudaContext c) {
        c.launch(1, "reduce/kiln_softmax_f32", null, new int[] {4, 1, 1}, new int[] {256, 1, 1}, 0, CudaStream.legacyDefault(), null);
    }

    @Test
    void everyLaunchMakesTheDeviceCurrentOnItsOwnThreadFirst() throws Exception {
        Recorder r = new Recorder();
        CudaContext c = new CudaContext(r, false);
        launch(c);
        Thread t = new Thread(() -> launch(c), "fresh-thread");
        t.start();
        t.join();
        assertEquals(List.of("setDevice 1 on main", "launch on main", "setDevice 1 on fresh-thread", "launch on fresh-thread"), r.calls);
    }

    @Test
    void syncLaunchWaitsAfterEachLaunchAndNamesTheFaultingKernel() {
        Recorder r = new Recorder();
        r.syncResult = 700; // cudaErrorIllegalAddress
        CudaContext c = new CudaContext(r, true);
        CudaException e = assertThrows(CudaException.class, () -> launch(c));
        assertEquals("kernel reduce/kiln_softmax_f32, grid [4, 1, 1], block [256, 1, 1] failed (kiln.cuda.syncLaunch): cudaError 700",
                e.getMessage());
        assertEquals(700, e.code());
        assertEquals(List.of("setDevice 1 on main", "launch on main", "sync"), r.calls);
    }

    @Test
    void withoutTheSwitchALaunchDoesNotWait() {
        Recorder r = new Recorder();
        launch(new CudaContext(r, false));
        assertFalse(r.calls.contains("sync"));
    }

    @Test
    void aFailedLaunchNamesKernelGridAndBlock() {
        Recorder r = new Recorder();
        r.launchResult = 201; // CUDA_ERROR_INVALID_CONTEXT
        CudaException e = assertThrows(CudaException.class, () -> launch(new CudaContext(r, true)));
        assertEquals("cuLaunchKernel(reduce/kiln_softmax_f32, grid [4, 1, 1], block [256, 1, 1]) failed: CUresult 201", e.getMessage());
        assertFalse(r.calls.contains("sync"));
    }

    @Test
    void switchValues() {
        assertFalse(CudaContext.syncLaunchRequested(null, null));
        assertTrue(CudaContext.syncLaunchRequested("true", null));
        assertTrue(CudaContext.syncLaunchRequested(null, "1"));
        assertFalse(CudaContext.syncLaunchRequested("false", "1"), "the property wins over the environment");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> CudaContext.syncLaunchRequested("maybe", null));
        assertTrue(e.getMessage().contains("expected true or false, got 'maybe'"), e.getMessage());
    }

    @Test
    void missingCusparseIsAnIllegalStateNamingTheLibrary() {
        String old = System.getProperty("kiln.cusparse.lib");
        System.setProperty("kiln.cusparse.lib", "/nonexistent/libcusparse.so.12");
        try (Arena a = Arena.ofConfined()) {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> CusparseSpmm.library(a));
            assertTrue(e.getMessage().startsWith("cusparse: cannot load -Dkiln.cusparse.lib=/nonexistent/libcusparse.so.12"), e.getMessage());
        } finally {
            if (old == null) System.clearProperty("kiln.cusparse.lib");
            else System.setProperty("kiln.cusparse.lib", old);
        }
    }
}
