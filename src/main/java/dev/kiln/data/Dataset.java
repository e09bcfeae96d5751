package dev.kiln.data;

import dev.kiln.tensor.Tensor;

/**
 * An indexed collection of examples. {@link #get} returns one example; {@link #batch} gathers several
 * into stacked tensors. The default {@code batch} stacks {@code get} results one by one; datasets
 * backed by contiguous memory ({@link TensorDataset}) override it with bulk row copies.
 * Implementations must allow {@code batch} to be called from a loader's worker thread.
 */
public interface Dataset {
    int size();

    /** Example i ({@code 0 <= i < size()}); the caller closes it. */
    Example get(int i);

    /** Examples at the given indices stacked along a new leading dim; the caller closes the batch. */
    default Batch batch(int[] indices) {
        if (indices.length == 0) throw new IllegalArgumentException("batch: no indices given");
        Tensor x = null, y = null;
        try {
            for (int j = 0; j < indices.length; j++) {
                try (Example e = get(indices[j])) {
                    if (x == null) {
                        x = stacked(e.x(), indices.length);
                        y = stacked(e.y(), indices.length);
                    }
                    copyRow(e.x(), x, j);
                    copyRow(e.y(), y, j);
                }
            }
            return new Batch(x, y);
        } catch (RuntimeException ex) {
            if (x != null) x.close();
            if (y != null) y.close();
            throw ex;
        }
    }

    private static Tensor stacked(Tensor first, int n) {
        int[] s = first.shape();
        int[] out = new int[s.length + 1];
        out[0] = n;
        System.arraycopy(s, 0, out, 1, s.length);
        return Tensor.empty(first.backend(), first.dtype(), out);
    }

    private static void copyRow(Tensor row, Tensor dst, int j) {
        try (Tensor slot = dst.select(0, j)) {
            if (!java.util.Arrays.equals(row.shape(), slot.shape()))
                throw new IllegalArgumentException("batch: example " + j + " of the batch has shape "
                        + java.util.Arrays.toString(row.shape()) + ", the first has " + java.util.Arrays.toString(slot.shape()));
            slot.copyFrom(row);
        }
    }
}
