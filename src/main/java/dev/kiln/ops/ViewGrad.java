package dev.kiln.ops;

import dev.kiln.autograd.Grad;
import dev.kiln.autograd.Node;
import dev.kiln.tensor.Tensor;

/**
 * Gradient rules of the view ops of {@link Tensor} (reshape, permute, slice, select, expand,
 * squeeze/unsqueeze, copies). Tensor's view methods attach these when grad mode records.
 */
public final class ViewGrad {
    private ViewGrad() {}

    /** reshape / view / squeeze / unsqueeze / flatten / contiguous / clone: reshape back. */
    public static Node reshape(Tensor x) {
        int[] shape = x.shape();
        return new Node("reshape", x) {
            @Override protected Tensor[] backward(Tensor g) { return new Tensor[]{g.reshape(shape)}; }
        };
    }

    public static Node permute(Tensor x, int[] dims) {
        int[] inv = new int[dims.length];
        for (int i = 0; i < dims.length; i++) inv[Math.floorMod(dims[i], dims.length)] = i;
        return new Node("permute", x) {
            @Override protected Tensor[] backward(Tensor g) { return new Tensor[]{g.permute(inv)}; }
        };
    }

    public static Node expand(Tensor x) {
        int[] shape = x.shape();
        return new Node("expand", x) {
            @Override protected Tensor[] backward(Tensor g) { return new Tensor[]{Grad.sumTo(g, shape)}; }
        };
    }

    /** slice(axis, start, end, step): scatter g into zeros of x's shape. */
    public static Node slice(Tensor x, int axis, int start, int end, int step) {
        int[] shape = x.shape();
        return new Node("slice", x) {
            @Override protected Tensor[] backward(Tensor g) {
                Tensor z = Tensor.empty(g.backend(), g.dtype(), shape);
                try (Tensor region = z.slice(axis, start, end, step)) { region.copyFrom(g); }
                return new Tensor[]{z};
            }
        };
    }

    public static Node select(Tensor x, int axis, int index) {
        int[] shape = x.shape();
        return new Node("select", x) {
            @Override protected Tensor[] backward(Tensor g) {
                Tensor z = Tensor.empty(g.backend(), g.dtype(), shape);
                try (Tensor region = z.select(axis, index)) { region.copyFrom(g); }
                return new Tensor[]{z};
            }
        };
    }

    /** Cast to another dtype: cast the gradient back. */
    public static Node cast(Tensor x) { return ElementwiseGrad.cast(x); }
}
