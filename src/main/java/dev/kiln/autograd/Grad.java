package dev.kiln.autograd;

import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Tensor;

import java.util.Arrays;

/** Helpers shared by gradient rules. */
public final class Grad {
    private Grad() {}

    /** Sums a broadcast gradient back down to shape (reverse of NumPy broadcasting). */
    public static Tensor sumTo(Tensor g, int[] shape) {
        int[] gs = g.shape();
        if (Arrays.equals(gs, shape)) return g;
        int lead = gs.length - shape.length;
        if (lead < 0) throw new IllegalArgumentException("sumTo: gradient " + Shape.str(gs) + " is smaller than " + Shape.str(shape));
        int n = 0;
        int[] axes = new int[gs.length];
        for (int i = 0; i < gs.length; i++) {
            if (i < lead || (shape[i - lead] == 1 && gs[i] != 1)) axes[n++] = i;
        }
        Tensor summed = g.sum(Arrays.copyOf(axes, n), true);
        Tensor out = summed.reshape(shape);
        if (out != summed) summed.close();
        return out;
    }
}
