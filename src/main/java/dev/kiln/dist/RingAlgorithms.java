package dev.kiln.dist;

import dev.kiln.dist.RingTransport.RingFailure;
import dev.kiln.tensor.DType;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Future;
import java.util.function.IntFunction;

/**
 * The collective algorithms of the CPU ring, over a {@link RingTransport}. A buffer is cut into
 * {@code n} blocks (block i of N elements starts at {@code i*N/n}, so sizes differ by at most one
 * and may be empty). In step s of a ring phase every rank sends one block to the next rank while it
 * receives another from the previous one:
 *
 * <ul>
 *   <li>reduce-scatter (n-1 steps): rank r sends block r-s and folds the received block r-s-1
 *       into its own copy; afterwards it holds block r+1 reduced over all ranks.</li>
 *   <li>all-gather (n-1 steps): rank r sends the complete block r+1-s and stores the received
 *       block r-s; afterwards every rank holds every block.</li>
 * </ul>
 * All-reduce is the two phases back to back: every rank sends and receives 2(n-1)/n of the buffer,
 * the least any all-reduce can (bandwidth-optimal). Received data is folded in pieces of
 * {@link RingTransport#PIECE_BYTES} through one scratch piece while the send of the step runs on the
 * sender thread, so a 256 MB tensor needs 1 MB of scratch. Broadcast is a pipelined chain from the
 * root: each rank forwards piece k while it receives piece k+1.
 */
final class RingAlgorithms {
    private final RingTransport io;
    private final int rank, n;
    private final MemorySegment scratch = RingTransport.scratch(RingTransport.PIECE_BYTES);

    RingAlgorithms(RingTransport io, int rank, int n) {
        this.io = io;
        this.rank = rank;
        this.n = n;
    }

    /** Start (in elements) of block i of a buffer of count elements. */
    long blockStart(long count, int i) {
        return count / n * i + Math.min(i, count % n);
    }

    /** Block i of a contiguous buffer of count elements of elemBytes each. */
    MemorySegment block(MemorySegment buf, long count, int elemBytes, int i) {
        long a = blockStart(count, i), b = blockStart(count, i + 1);
        return buf.asSlice(a * elemBytes, (b - a) * elemBytes);
    }

    private int mod(int i) {
        return Math.floorMod(i, n);
    }

    /**
     * Ring reduce-scatter over the blocks: afterwards this rank's block {@code rank + 1 + shift}
     * holds the reduction over all ranks (shift 0 for all-reduce, -1 to end on block {@code rank}).
     */
    void reduceScatter(IntFunction<MemorySegment> blocks, DType t, ProcessGroup.ReduceOp op, int shift) throws RingFailure {
        List<Future<?>> sends = new ArrayList<>();
        for (int s = 0; s < n - 1; s++) {
            sends.add(io.send(blocks.apply(mod(rank - s + shift))));
            MemorySegment dst = blocks.apply(mod(rank - s - 1 + shift));
            for (long off = 0; off < dst.byteSize(); off += scratch.byteSize()) {
                long len = Math.min(scratch.byteSize(), dst.byteSize() - off);
                MemorySegment piece = scratch.asSlice(0, len);
                io.recvFully(piece);
                RingReduce.combine(t, op, dst.asSlice(off, len), piece, len / t.byteSize());
            }
        }
        for (Future<?> f : sends) io.awaitSend(f);
    }

    /** Ring all-gather: this rank starts with block {@code rank + 1 + shift} complete and ends with all. */
    void allGather(IntFunction<MemorySegment> blocks, int shift) throws RingFailure {
        List<Future<?>> sends = new ArrayList<>();
        for (int s = 0; s < n - 1; s++) {
            sends.add(io.send(blocks.apply(mod(rank + 1 - s + shift))));
            io.recvFully(blocks.apply(mod(rank - s + shift)));
        }
        for (Future<?> f : sends) io.awaitSend(f);
    }

    /** In-place all-reduce of count elements; AVG divides this rank's reduced block before gathering. */
    void allReduce(MemorySegment buf, long count, DType t, ProcessGroup.ReduceOp op) throws RingFailure {
        int eb = t.byteSize();
        IntFunction<MemorySegment> blocks = i -> block(buf, count, eb, i);
        reduceScatter(blocks, t, op, 0);
        if (op == ProcessGroup.ReduceOp.AVG) {
            MemorySegment mine = blocks.apply(mod(rank + 1));
            RingReduce.divide(t, mine, mine.byteSize() / eb, n);
        }
        allGather(blocks, 0);
    }

    /** Pipelined chain broadcast from root through root+1, ..., root-1. */
    void broadcast(MemorySegment buf, int root) throws RingFailure {
        int pos = mod(rank - root); // 0 at the root, n-1 at the end of the chain
        List<Future<?>> sends = new ArrayList<>();
        if (pos == 0) {
            sends.add(io.send(buf));
        } else {
            for (long off = 0; off < buf.byteSize(); off += RingTransport.PIECE_BYTES) {
                MemorySegment piece = buf.asSlice(off, Math.min(RingTransport.PIECE_BYTES, buf.byteSize() - off));
                io.recvFully(piece);
                if (pos < n - 1) sends.add(io.send(piece));
            }
        }
        for (Future<?> f : sends) io.awaitSend(f);
    }

    /**
     * Sends this rank's 40-byte header to the next rank and checks the previous rank's: both must
     * run the same collective (op, sequence number, dtype, element count, argument) or the ring
     * would silently mix unrelated data. Returns null when they agree, else what the previous
     * rank called.
     */
    long[] exchangeHeader(long[] header) throws RingFailure {
        MemorySegment out = RingTransport.scratch(header.length * 8L);
        for (int i = 0; i < header.length; i++) out.setAtIndex(java.lang.foreign.ValueLayout.JAVA_LONG, i, header[i]);
        Future<?> f = io.send(out);
        MemorySegment in = RingTransport.scratch(header.length * 8L);
        io.recvFully(in);
        io.awaitSend(f);
        long[] got = in.toArray(java.lang.foreign.ValueLayout.JAVA_LONG);
        return java.util.Arrays.equals(got, header) ? null : got;
    }
}
