package dev.kiln.dist;

import dev.kiln.tensor.Tensor;

import java.time.Duration;
import java.util.List;

/**
 * A group of {@code size()} ranks that run collectives on tensors, the role torch.distributed's
 * ProcessGroup plays. Every rank calls the same collectives in the same order. Collectives work
 * in place on contiguous tensors of the same dtype and shape on every rank, return a {@link Work}
 * handle at once and finish in the background; {@link Work#await()} waits for one and rethrows
 * its failure. A collective that does not finish within {@link #timeout()} fails on every rank
 * with a {@link DistException} naming the op and the rank it waited for; a lost peer does too.
 * Backends: the TCP ring ({@code cpu}) and NCCL ({@code nccl}, CUDA tensors).
 */
public interface ProcessGroup extends AutoCloseable {

    /** Reduction applied by all-reduce and reduce-scatter. */
    enum ReduceOp { SUM, AVG, MAX }

    int rank();

    int size();

    /** Backend name, e.g. "cpu" or "nccl". */
    String backend();

    Duration timeout();

    /**
     * The backend whose tensors this group's collectives take: the CPU for the CPU and in-process
     * groups, the group's CUDA device for NCCL (which rejects host tensors). DDP keeps its gradient
     * buckets there and {@link DistributedTraining} moves the model there.
     */
    default dev.kiln.backend.Backend tensorBackend() { return dev.kiln.backend.Backends.cpu(); }

    /** Reduces {@code t} over all ranks in place: every rank ends with the same result. */
    Work allReduce(Tensor t, ReduceOp op);

    /** Copies {@code t} from rank {@code root} into {@code t} on every other rank. */
    Work broadcast(Tensor t, int root);

    /** Fills {@code out.get(r)} with rank r's {@code in} on every rank ({@code out.size() == size()}). */
    Work allGather(List<Tensor> out, Tensor in);

    /**
     * Reduces {@code in} (whose first dimension is {@code size()} times {@code out}'s) over all
     * ranks and leaves slice {@code rank()} of the result in {@code out}.
     */
    Work reduceScatter(Tensor out, Tensor in, ReduceOp op);

    /** Returns once every rank has called it. */
    Work barrier();

    /** Fails every pending and later collective on this rank and releases sockets/communicators. */
    void abort(String reason);

    @Override
    void close();
}
