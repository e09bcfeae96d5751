package dev.kiln.backend.cuda;

/**
 * Raw device memory as the {@link CachingAllocator} sees it: a malloc/free pair plus a free-memory
 * query. Kept free of CUDA types so the allocator can be tested on a machine without a GPU against a
 * fake; {@link CudaDeviceMemory} is the cudart implementation.
 */
public interface DeviceMemory {
    /** Short device name for error messages, e.g. {@code "cuda:0"}. */
    String name();

    /**
     * Allocates {@code bytes} of device memory and returns its address, or 0 when the device is out of
     * memory. Other failures throw.
     */
    long malloc(long bytes);

    /** Releases memory returned by {@link #malloc}. */
    void free(long ptr);

    /** Bytes currently free on the device, or -1 when unknown. */
    long freeBytes();

    /** Total bytes of the device, or -1 when unknown. */
    long totalBytes();
}
