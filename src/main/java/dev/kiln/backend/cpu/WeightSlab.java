package dev.kiln.backend.cpu;

import dev.kiln.backend.Backends;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;

import java.lang.foreign.MemorySegment;

/**
 * Off-heap memory for weights that kernels stream from DRAM (the decode step's quantized weights,
 * the int8 GEMM's packed weights of dev.kiln.compress.quant):
 * pieces carved out of {@value #SLAB_MB} MiB blocks of tensor memory, which the host allocator maps
 * on 2 MiB pages. Each of GPT-2's 4-bit weights is 0.4-1.5 MB, below the allocator's 2 MiB
 * threshold, so on its own it would sit on 4 KiB pages; sharing blocks puts them all on 2 MiB
 * pages. Measured on Zen 4, 2 threads, one pass over the 49 4-bit weights of GPT-2 small (77 MB)
 * through {@link NBitsVnni}, both layouts in one process, passes alternating: median 2.75 / 2.87 ms
 * shared against 2.92 / 2.97 ms with a block per weight, shared faster in 45-47 of 60 pairs (two
 * runs). A small gain, but the decode step is bound by exactly this stream.
 *
 * <p>A block is freed when the last piece carved from it is closed (pieces of a quarter of a block
 * or more get a block of their own), so a model's weights go when the model is closed. A piece
 * dropped unclosed keeps its block until the block is unreachable and the tensor memory's Cleaner
 * frees it. Thread-safe.
 */
public final class WeightSlab {
    private WeightSlab() {}

    static final int SLAB_MB = 32;
    private static final long SLAB = (long) SLAB_MB << 20, ALIGN = 64;

    /** Whether pieces share blocks ({@code -Dkiln.weightSlab=false}: each piece its own tensor memory, as for a comparison). */
    static volatile boolean share = !"false".equals(System.getProperty("kiln.weightSlab"));

    /** The block pieces are carved from now (null: none yet, or its pieces were all closed). */
    private static Block current;

    private static final class Block {
        final Tensor memory;
        final long size;
        long used;
        int live;

        Block(long size) {
            // the block outlives any scope open on the thread that happens to carve the first piece
            // (pieces of it go to other callers): its lifetime is its pieces' count, not the scope
            this.memory = Scope.escape(Tensor.uninitialized(Backends.cpu(), DType.I8, Math.toIntExact(size)));
            this.size = size;
        }
    }

    /** A piece of a block: segment is its memory (64-byte aligned); close gives it back. */
    public static final class Piece implements AutoCloseable {
        final MemorySegment segment;
        private final Block block;
        private boolean closed;

        private Piece(Block block, long at, long bytes) {
            this.block = block;
            this.segment = block.memory.segment().asSlice(block.memory.offset() + at, bytes);
        }

        /** The piece's memory (64-byte aligned, native). */
        public MemorySegment segment() { return segment; }

        @Override public void close() {
            synchronized (WeightSlab.class) {
                if (closed) return;
                closed = true;
                if (--block.live > 0) return;
                if (block == current) current = null;
            }
            block.memory.close();
        }
    }

    /** A piece of bytes bytes (contents unspecified). */
    public static Piece allocate(long bytes) {
        long size = Math.max(ALIGN, (bytes + ALIGN - 1) / ALIGN * ALIGN);
        synchronized (WeightSlab.class) {
            Block b;
            if (size >= SLAB / 4 || !share) {
                b = new Block(size);
            } else {
                if (current == null || current.used + size > current.size) current = new Block(SLAB);
                b = current;
            }
            Piece p = new Piece(b, b.used, bytes);
            b.used += size;
            b.live++;
            return p;
        }
    }
}
