package dev.kiln.backend.cuda;

/**
 * Thrown by {@link CachingAllocator} when an allocation still fails after the cache was emptied and
 * the allocation retried once. The message names the device, the requested and the free bytes.
 */
public final class DeviceOutOfMemoryException extends RuntimeException {
    private final long requestedBytes;
    private final long freeBytes;

    public DeviceOutOfMemoryException(String message, long requestedBytes, long freeBytes) {
        super(message);
        this.requestedBytes = requestedBytes;
        this.freeBytes = freeBytes;
    }

    /** The size the caller asked for (before rounding). */
    public long requestedBytes() {
        return requestedBytes;
    }

    /** Free bytes the device reported after the cache was emptied, or -1 when unknown. */
    public long freeBytes() {
        return freeBytes;
    }
}
