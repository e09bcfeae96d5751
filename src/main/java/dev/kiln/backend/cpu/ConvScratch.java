package dev.kiln.backend.cpu;

import dev.kiln.backend.Backends;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;

/**
 * Per-thread scratch memory for conv kernels (column matrices). Each thread keeps one growing
 * {@link Storage} so that a training loop does not allocate (and zero) a fresh buffer per call.
 * The cached storage holds its own reference and is never tracked by a tensor Scope, so a buffer
 * first made inside a user's scope outlives it; callers get short-lived views and give them back.
 * Buffers above {@link #KEEP_LIMIT} are plain tensors freed on release.
 */
final class ConvScratch {
    private ConvScratch() {}

    private static final long KEEP_LIMIT = 32L << 20;

    private static final ThreadLocal<Storage> CACHE = new ThreadLocal<>();

    /** A contiguous 1-d tensor of at least elems elements of type t (contents undefined). */
    static Tensor acquire(DType t, long elems) {
        long bytes = elems * t.byteSize();
        int n = Math.toIntExact(elems);
        if (bytes > KEEP_LIMIT) return Tensor.empty(Backends.cpu(), t, n);
        Storage s = CACHE.get();
        if (s == null || s.byteSize() < bytes) {
            long size = Math.min(KEEP_LIMIT, Math.max(bytes, s == null ? 0 : 2 * s.byteSize()));
            s = Storage.allocateHost(Backends.cpu(), size); // the replaced one is freed by its Cleaner
            CACHE.set(s);
        }
        return Tensor.of(s, t, new int[]{n}, new long[]{1}, 0);
    }

    /** Gives back a buffer from {@link #acquire}. */
    static void release(Tensor buf) { buf.close(); }
}
