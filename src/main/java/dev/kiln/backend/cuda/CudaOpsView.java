package dev.kiln.backend.cuda;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Tensor;

/**
 * A device operand as the kernels see it: the address of its first element, its dtype, logical shape
 * and strides (in elements; 0 on broadcast dims). Views are cheap descriptors and own no memory;
 * {@link #reinterpret} re-reads the same bytes as a narrower carrier dtype (used for bit-exact
 * same-dtype strided copies).
 */
record CudaOpsView(long ptr, DType dtype, int[] shape, long[] strides) {

    /** The view of a tensor living on a CUDA backend (pointer advanced by its offset). */
    static CudaOpsView of(Tensor t) {
        long base = t.storage().devicePointer();
        return new CudaOpsView(base + t.offset() * t.dtype().byteSize(), t.dtype(), t.shape(), t.strides());
    }

    /** A contiguous view of shape at ptr. */
    static CudaOpsView contiguous(long ptr, DType dtype, int[] shape) {
        return new CudaOpsView(ptr, dtype, shape, contiguousStrides(shape));
    }

    static long[] contiguousStrides(int[] shape) {
        long[] s = new long[shape.length];
        long acc = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            s[i] = acc;
            acc *= shape[i];
        }
        return s;
    }

    long numel() {
        long n = 1;
        for (int d : shape) n *= d;
        return n;
    }

    long bytes() {
        return numel() * dtype.byteSize();
    }

    /** Row-major contiguous (size-1 dims may have any stride); empty views count as contiguous. */
    boolean isContiguous() {
        if (numel() == 0) return true;
        long expect = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            if (shape[i] != 1 && strides[i] != expect) return false;
            expect *= shape[i];
        }
        return true;
    }

    /**
     * The same bytes as {@code carrier} elements (carrier.byteSize() divides dtype.byteSize()): a
     * trailing dim of k = size ratio with stride 1 is added when k > 1, other strides scale by k.
     */
    CudaOpsView reinterpret(DType carrier) {
        int k = dtype.byteSize() / carrier.byteSize();
        if (k == 1) return new CudaOpsView(ptr, carrier, shape, strides);
        int[] s = java.util.Arrays.copyOf(shape, shape.length + 1);
        long[] st = new long[strides.length + 1];
        for (int i = 0; i < strides.length; i++) st[i] = strides[i] * k;
        s[shape.length] = k;
        st[strides.length] = 1;
        return new CudaOpsView(ptr, carrier, s, st);
    }

    /** The view with its dims reordered: new dim i is old dim perm[i]. */
    CudaOpsView permute(int[] perm) {
        int[] s = new int[perm.length];
        long[] st = new long[perm.length];
        for (int i = 0; i < perm.length; i++) {
            s[i] = shape[perm[i]];
            st[i] = strides[perm[i]];
        }
        return new CudaOpsView(ptr, dtype, s, st);
    }
}
