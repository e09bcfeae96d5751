package dev.kiln.data;

import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Tensor;

import java.lang.foreign.MemorySegment;

/**
 * A dataset over two tensors sharing their leading dim: features [N, ...] and labels [N, ...].
 * The dataset owns both (non-contiguous inputs are copied to contiguous ones) and frees them on
 * {@link #close}. {@link #get} returns views (no copy); {@link #batch} gathers rows with one
 * {@link MemorySegment#copy} per row and tensor, safe to call from several threads at once.
 */
public final class TensorDataset implements Dataset, AutoCloseable {
    private final Tensor features;
    private final Tensor labels;
    private final int n;

    /** Takes ownership of both tensors (they escape any open {@link Scope}). */
    public TensorDataset(Tensor features, Tensor labels) {
        if (features.dim() < 1 || labels.dim() < 1 || features.size(0) != labels.size(0))
            throw new IllegalArgumentException("TensorDataset: features " + Shape.str(features.shape())
                    + " and labels " + Shape.str(labels.shape()) + " must share a leading dim");
        this.features = own(features);
        this.labels = own(labels);
        this.n = features.size(0);
    }

    private static Tensor own(Tensor t) {
        Scope.escape(t);
        if (t.isContiguous()) return t;
        Tensor c = Scope.escape(t.contiguous());
        t.close();
        return c;
    }

    @Override public int size() { return n; }
    public Tensor features() { return features; }
    public Tensor labels() { return labels; }

    /** Views of row i of features and labels (closing them does not free the dataset). */
    @Override
    public Example get(int i) {
        checkIndex(i);
        return new Example(features.select(0, i), labels.select(0, i));
    }

    @Override
    public Batch batch(int[] indices) {
        if (indices.length == 0) throw new IllegalArgumentException("batch: no indices given");
        for (int i : indices) checkIndex(i);
        Tensor x = gather(features, indices);
        try {
            return new Batch(x, gather(labels, indices));
        } catch (RuntimeException e) {
            x.close();
            throw e;
        }
    }

    /** Rows of a contiguous [N, ...] tensor at the given indices, into a new [B, ...] tensor. */
    static Tensor gather(Tensor src, int[] indices) {
        int[] shape = src.shape();
        shape[0] = indices.length;
        Tensor out = Tensor.empty(src.backend(), src.dtype(), shape);
        long es = src.dtype().byteSize();
        long rowBytes = out.numel() / indices.length * es;
        long base = src.offset() * es;
        MemorySegment from = src.segment(), to = out.segment();
        for (int j = 0; j < indices.length; j++)
            MemorySegment.copy(from, base + indices[j] * rowBytes, to, j * rowBytes, rowBytes);
        return out;
    }

    private void checkIndex(int i) {
        if (i < 0 || i >= n) throw new IndexOutOfBoundsException("TensorDataset: index " + i + " out of range [0, " + n + ")");
    }

    @Override
    public void close() {
        features.close();
        labels.close();
    }
}
