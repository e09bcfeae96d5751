package dev.kiln.dist;

import dev.kiln.autograd.GradMode;
import dev.kiln.backend.Backend;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;

import java.util.List;

/**
 * One bucket of {@link DistributedDataParallel}'s gradient all-reduce: a few parameters of one dtype
 * and one flat buffer {@code [g_0 | g_1 | ... | f_0 f_1 ...]} holding their gradients back to back,
 * followed by one flag per parameter (1 where this rank has a gradient, 0 where it has none). The
 * whole buffer is all-reduced (AVG) in one collective, so after it a positive flag means some rank
 * had a gradient for that parameter, and its slot holds the sum of the ranks' gradients / size.
 * The buffer lives on the parameters' backend (a CUDA device for NCCL, which rejects host tensors);
 * the parameters of one bucket must share it.
 */
final class GradBucket implements AutoCloseable {
    final int index;
    final List<Tensor> params;
    final List<String> names;
    private final Tensor flat;
    private final Tensor[] slots;     // views of flat shaped like each parameter
    private final Tensor flags;       // the last params.size() elements of flat
    /** Parameters of this bucket whose gradient is complete for the current backward. */
    int ready;
    /** Parameters known to get no gradient (ready from the start of every backward). */
    int readyAtStart;
    private Work work;

    GradBucket(int index, List<Tensor> params, List<String> names) {
        this.index = index;
        this.params = List.copyOf(params);
        this.names = List.copyOf(names);
        DType dtype = params.getFirst().dtype();
        Backend backend = params.getFirst().backend();
        long total = 0;
        for (int i = 0; i < params.size(); i++) {
            Tensor p = params.get(i);
            if (p.backend() != backend)
                throw new IllegalArgumentException("DistributedDataParallel: parameter " + names.get(i) + " lives on " + DistributedTraining.where(p.backend())
                        + " but " + names.getFirst() + " on " + DistributedTraining.where(backend) + "; build the whole model on one device");
            total += p.numel();
        }
        this.flat = Scope.escape(Tensor.empty(backend, dtype, Math.toIntExact(total + params.size())));
        this.slots = new Tensor[params.size()];
        long off = 0;
        for (int i = 0; i < slots.length; i++) {
            int n = Math.toIntExact(params.get(i).numel());
            try (Tensor piece = flat.narrow(0, (int) off, n)) {
                slots[i] = Scope.escape(piece.view(params.get(i).shape()));
            }
            off += n;
        }
        try (Tensor f = flat.narrow(0, (int) total, params.size())) {
            this.flags = Scope.escape(f.view(params.size()));
        }
    }

    long bytes() { return flat.numel() * flat.dtype().byteSize(); }

    /** Where the flat buffer lives (the parameters' backend). */
    Backend backend() { return flat.backend(); }

    boolean launched() { return work != null; }

    boolean isReady() { return ready == params.size(); }

    /** Copies the current gradients (zeros and flag 0 where a parameter has none) and starts the all-reduce. */
    void launch(ProcessGroup pg) {
        if (work != null) throw new IllegalStateException("GradBucket " + index + " launched twice");
        float[] has = new float[slots.length];
        try (GradMode.Guard g = GradMode.noGrad(); Scope s = Scope.open()) {
            for (int i = 0; i < slots.length; i++) {
                Tensor grad = params.get(i).grad();
                if (grad != null) slots[i].copyFrom(grad);
                else slots[i].copyFrom(Tensor.zeros(slots[i].dtype(), slots[i].shape()));
                has[i] = grad != null ? 1 : 0;
            }
            flags.copyFrom(Tensor.fromArray(has, has.length)); // host -> the bucket's device
        }
        work = pg.allReduce(flat, ProcessGroup.ReduceOp.AVG);
    }

    /** Waits for the all-reduce and writes the averaged gradients back; a parameter no rank had stays without one. */
    void finish() {
        work.await();
        work = null;
        ready = readyAtStart;
        try (GradMode.Guard g = GradMode.noGrad(); Scope s = Scope.open()) {
            float[] any = flags.to(dev.kiln.backend.Backends.cpu()).toFloatArray();
            for (int i = 0; i < slots.length; i++) {
                Tensor p = params.get(i);
                if (any[i] <= 0) {
                    p.setGrad(null);
                } else if (p.grad() != null) {
                    p.grad().copyFrom(slots[i]);
                } else {
                    p.setGrad(Scope.escape(slots[i].clone()));
                }
            }
        }
    }

    /** Drops a pending all-reduce's result (after a failure) so that the bucket can be reused or closed. */
    void reset() {
        work = null;
        ready = readyAtStart;
    }

    @Override
    public void close() {
        for (Tensor s : slots) s.close();
        flags.close();
        flat.close();
    }
}
