package dev.kiln.dist;

import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/** What the host-memory process groups (the TCP ring and MPI) share: argument checks and the Work of a future. */
final class HostCollective {
    private HostCollective() {}

    /** The bytes of a contiguous CPU tensor of a supported dtype, or a one-line error naming the backend, op and tensor. */
    static MemorySegment data(String backend, String op, Tensor t) {
        if (t.isClosed()) throw new IllegalArgumentException(backend + " " + op + ": tensor " + Shape.str(t.shape()) + " is closed");
        if (!t.storage().isHost())
            throw new IllegalArgumentException(backend + " " + op + ": tensor lives on " + t.backend().name() + "; the " + backend
                    + " backend needs CPU tensors (use the nccl backend for CUDA)");
        if (!t.isContiguous())
            throw new IllegalArgumentException(backend + " " + op + ": tensor " + Shape.str(t.shape()) + " is not contiguous; call contiguous() first");
        if (!RingReduce.supports(t.dtype()))
            throw new IllegalArgumentException(backend + " " + op + ": dtype " + t.dtype().pyName() + " is not supported (float32, float64, int32, int64)");
        long eb = t.dtype().byteSize();
        return t.segment().asSlice(t.offset() * eb, t.numel() * eb);
    }

    static void requireSame(String backend, String op, String which, Tensor a, Tensor ref, long numel) {
        if (a.dtype() != ref.dtype() || a.numel() != numel)
            throw new IllegalArgumentException(backend + " " + op + ": " + which + " is " + a.dtype().pyName() + Shape.str(a.shape())
                    + ", expected " + numel + " " + ref.dtype().pyName() + " elements");
    }

    /** A Work backed by a future completed on a group's thread. */
    record FutureWork(CompletableFuture<Void> done) implements Work {
        @Override
        public void await() {
            try {
                done.join();
            } catch (CompletionException e) {
                Throwable c = e.getCause();
                if (c instanceof DistException d) throw new DistException(d.getMessage(), d);
                if (c instanceof RuntimeException r) throw r;
                throw new DistException(String.valueOf(c), c);
            }
        }

        @Override
        public boolean isCompleted() { return done.isDone(); }
    }
}
