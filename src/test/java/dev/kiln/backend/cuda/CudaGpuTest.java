package dev.kiln.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The CUDA wrappers on a real device: allocator over cudaMalloc, OOM message, streams/events, NVRTC +
 * cuModuleLoadData + cuLaunchKernel. Tagged gpu (excluded by default); skips with the reason when no
 * device is usable.
 */
@Tag("gpu")
class CudaGpuTest {
    private static final long MIB = 1L << 20;

    @BeforeAll
    static void needsCuda() {
        if (!CudaAvailability.isAvailable()) System.out.println("CudaGpuTest skipped: " + CudaAvailability.reason());
        Assumptions.assumeTrue(CudaAvailability.isAvailable(), CudaAvailability.reason());
    }

    @Test
    void allocatorOverCudaMallocReusesAndReleases() {
        CudaDeviceMemory mem = new CudaDeviceMemory(0);
        CachingAllocator a = new CachingAllocator(mem);
        long freeBefore = mem.freeBytes();
        long p = a.allocate(100 * MIB);
        assertTrue(p != 0 && p % 256 == 0, "cudaMalloc pointers are 256-byte aligned");
        a.free(p);
        assertEquals(p, a.allocate(100 * MIB), "reused from the cache");
        assertEquals(1, a.deviceMallocs());
        a.free(p);
        assertTrue(mem.freeBytes() < freeBefore);
        assertEquals(100 * MIB, a.emptyCache());
        assertEquals(0, a.bytesReserved());
    }

    @Test
    void outOfMemoryIsAClearError() {
        CudaDeviceMemory mem = new CudaDeviceMemory(0);
        CachingAllocator a = new CachingAllocator(mem);
        long tooMuch = mem.totalBytes() + 64 * MIB;
        DeviceOutOfMemoryException e = assertThrows(DeviceOutOfMemoryException.class, () -> a.allocate(tooMuch));
        assertTrue(e.getMessage().startsWith("cuda:0: out of memory"), e.getMessage());
        assertTrue(e.freeBytes() > 0);
        long p = a.allocate(MIB); // the device is still usable afterwards
        a.free(p);
        a.emptyCache();
    }

    @Test
    void nvrtcKernelLaunchesOnAStreamAndEventsTimeIt() {
        String src = "extern \"C\" __global__ void iota_scale(float* out, float s, int n) {\n"
                + "  int i = blockIdx.x * blockDim.x + threadIdx.x;\n"
                + "  if (i < n) out[i] = s * i;\n}\n";
        String arch = KernelModule.arch(0);
        byte[] cubin = NvrtcCompiler.compile("test_iota", src, Map.of(), arch);
        int n = 1025;
        CachingAllocator a = new CachingAllocator(new CudaDeviceMemory(0));
        long out = a.allocate(4L * n);
        try (KernelModule m = KernelModule.fromImage("test_iota", 0, cubin, "nvrtc");
                CudaStream s = CudaStream.create(true);
                CudaEvent start = CudaEvent.create(true);
                CudaEvent stop = CudaEvent.create(true);
                KernelArgs args = new KernelArgs().ptr(out).f32(0.5f).i32(n);
                FloatPointer host = new FloatPointer(n)) {
            start.record(s);
            m.launch("iota_scale", new int[] {(n + 255) / 256, 1, 1}, new int[] {256, 1, 1}, 0, s, args);
            stop.record(s);
            s.synchronize();
            assertTrue(stop.isDone() && s.isIdle());
            assertTrue(stop.elapsedMillisSince(start) >= 0);
            CudaException.check(cudart.cudaMemcpy(host, DevicePointers.at(out), 4L * n, cudart.cudaMemcpyDeviceToHost), "cudaMemcpy");
            for (int i = 0; i < n; i++) assertEquals(0.5f * i, host.get(i), "element " + i);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> m.function("nope"));
            assertTrue(e.getMessage().contains("no kernel named 'nope'"), e.getMessage());
        } finally {
            a.free(out);
            a.emptyCache();
        }
    }
}
