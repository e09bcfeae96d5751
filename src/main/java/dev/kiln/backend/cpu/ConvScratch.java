package dev.kiln.backend.cpu;

import dev.kiln.backend.Backends;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;

/**
 * Per-thread scratch memory for conv kernels (column matrices). Each thread keeps one growing
 * {@link Storage} so that a training loop does not allocate (and zero) a fresh buffer per call.
 * The cache holds its buffer through a tensor of its own that no Scope tracks, so a buffer first made
 * inside a user's scope outlives it; callers get short-lived views and give them back. A buffer
 * outgrown is closed at once (views still out keep it alive until they are given back), never left
 * to the Cleaner.
 * Buffers above {@link #KEEP_LIMIT} are plain tensors freed on release.
 */
final class ConvScratch {
    private ConvScratch() {}

    private static final long KEEP_LIMIT = 32L << 20;

    private static final ThreadLocal<Tensor> CACHE = new ThreadLocal<>();

    /** A contiguous 1-d tensor of at least elems elements of type t (contents undefined). */
    static Tensor acquire(DType t, long elems) {
        long bytes = elems * t.byteSize();
        int n = Math.toIntExact(elems);
        if (bytes > KEEP_LIMIT) return Tensor.empty(Backends.cpu(), t, n);
        Tensor held = CACHE.get();
        long have = held == null ? 0 : held.numel();
        if (have < bytes) {
            long size = Math.min(KEEP_LIMIT, Math.max(bytes, 2 * have));
            Tensor grown = Scope.escape(Tensor.empty(Backends.cpu(), DType.I8, Math.toIntExact(size)));
            if (held != null) held.close();
            CACHE.set(held = grown);
        }
        return Tensor.of(held.storage(), t, new int[]{n}, new long[]{1}, 0);
    }

    /** Gives back a buffer from {@link #acquire}. */
    static void release(Tensor buf) { buf.close(); }
}
