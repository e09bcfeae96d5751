package dev.kiln.backend.cuda;

import static dev.kiln.backend.cuda.CudaException.check;

import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.SizeTPointer;

/**
 * {@link DeviceMemory} on one CUDA device through cudart (cudaMalloc / cudaFree / cudaMemGetInfo).
 * Out of memory returns 0 (and clears CUDA's last error) so that {@link CachingAllocator} can empty
 * its cache and retry; other errors throw {@link CudaException}. Requires
 * {@link CudaAvailability#isAvailable()}. Runs only on a GPU host (compile-only elsewhere).
 */
public final class CudaDeviceMemory implements DeviceMemory {
    private final int device;

    public CudaDeviceMemory(int device) {
        this.device = device;
    }

    public int device() {
        return device;
    }

    @Override
    public String name() {
        return "cuda:" + device;
    }

    @Override
    public long malloc(long bytes) {
        CudaContext.makeCurrent(device);
        Pointer p = new Pointer();
        int err = cudart.cudaMalloc(p, bytes);
        if (err == cudart.cudaErrorMemoryAllocation) {
            cudart.cudaGetLastError();
            return 0;
        }
        check(err, "cudaMalloc(" + bytes + ")");
        return p.address();
    }

    @Override
    public void free(long ptr) {
        CudaContext.makeCurrent(device);
        check(cudart.cudaFree(DevicePointers.at(ptr)), "cudaFree");
    }

    @Override
    public long freeBytes() {
        return memInfo()[0];
    }

    @Override
    public long totalBytes() {
        return memInfo()[1];
    }

    private long[] memInfo() {
        CudaContext.makeCurrent(device);
        try (SizeTPointer free = new SizeTPointer(1); SizeTPointer total = new SizeTPointer(1)) {
            check(cudart.cudaMemGetInfo(free, total), "cudaMemGetInfo");
            return new long[] {free.get(), total.get()};
        }
    }
}
