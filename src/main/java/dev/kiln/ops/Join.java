package dev.kiln.ops;

import dev.kiln.autograd.GradMode;
import dev.kiln.autograd.Node;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Tensor;

/** cat, stack and split: joins copy into slices of one output; gradients are slices of g. */
public final class Join {
    private Join() {}

    /** torch.cat: all shapes equal except along axis. */
    public static Tensor cat(Tensor[] parts, int axis) {
        if (parts.length == 0) throw new IllegalArgumentException("cat: no tensors given");
        int a = Shape.axis("cat", axis, parts[0].dim());
        int[] out = catShape(parts, a);
        DType t = parts[0].dtype();
        for (Tensor p : parts) t = DType.promote(t, p.dtype());
        Tensor y = Tensor.uninitialized(parts[0].backend(), t, out);   // the parts cover every element: no zero fill
        int[] starts = copyInto(parts, a, y);
        if (Tensor.needsGrad(parts)) {
            y.setGradFn(new Node("cat", parts) {
                @Override protected Tensor[] backward(Tensor g) {
                    Tensor[] gs = new Tensor[parts.length];
                    for (int i = 0; i < parts.length; i++)
                        if (parts[i].requiresGrad()) gs[i] = g.narrow(a, starts[i], parts[i].shape()[a]).to(parts[i].dtype());
                    return gs;
                }
            });
        }
        return y;
    }

    /**
     * The parts copied one after another along axis into y (a view that other code may hold: a
     * slot of a larger tensor), no gradient: every element of y is written. The parts must agree
     * with y outside axis and fill it along axis.
     */
    public static void catInto(Tensor[] parts, int axis, Tensor y) {
        if (parts.length == 0) throw new IllegalArgumentException("cat: no tensors given");
        int a = Shape.axis("cat", axis, y.dim());
        int[] s = catShape(parts, a);
        if (!java.util.Arrays.equals(s, y.shape())) throw new IllegalArgumentException("cat: parts make " + Shape.str(s) + ", not " + Shape.str(y.shape()));
        copyInto(parts, a, y);
    }

    /**
     * The shape of the parts joined along axis a (a normalized for their rank); an
     * IllegalArgumentException when their ranks or their sizes outside a differ.
     */
    public static int[] catShape(Tensor[] parts, int a) {
        int rank = parts[0].dim();
        int[] out = parts[0].shape();
        int total = 0;
        for (Tensor p : parts) {
            int[] s = p.shape();
            if (s.length != rank)
                throw new IllegalArgumentException("cat: shapes " + Shape.str(parts[0].shape()) + " and " + Shape.str(s) + " differ in rank");
            for (int i = 0; i < rank; i++)
                if (i != a && s[i] != out[i])
                    throw new IllegalArgumentException("cat: shapes " + Shape.str(parts[0].shape()) + " and " + Shape.str(s) + " differ outside dim " + a);
            total += s[a];
        }
        out[a] = total;
        return out;
    }

    /** Copies the parts along axis a into y; returns where each starts. */
    private static int[] copyInto(Tensor[] parts, int a, Tensor y) {
        int[] starts = new int[parts.length];
        try (GradMode.Guard g = GradMode.noGrad()) {
            int off = 0;
            for (int i = 0; i < parts.length; i++) {
                starts[i] = off;
                int len = parts[i].shape()[a];
                try (Tensor region = y.narrow(a, off, len)) { region.copyFrom(parts[i]); }
                off += len;
            }
        }
        return starts;
    }

    /** torch.stack: inserts a new axis. */
    public static Tensor stack(Tensor[] parts, int axis) {
        Tensor[] u = new Tensor[parts.length];
        for (int i = 0; i < parts.length; i++) u[i] = parts[i].unsqueeze(axis);
        Tensor y = cat(u, axis);
        return y;
    }

    /** Views of consecutive chunks of the given sizes along axis (torch.split with a size list). */
    public static Tensor[] split(Tensor x, int[] sizes, int axis) {
        int a = Shape.axis("split", axis, x.dim());
        int sum = 0;
        for (int s : sizes) sum += s;
        if (sum != x.shape()[a])
            throw new IllegalArgumentException("split: sizes sum to " + sum + " but dim " + a + " of " + Shape.str(x.shape()) + " is " + x.shape()[a]);
        Tensor[] out = new Tensor[sizes.length];
        int off = 0;
        for (int i = 0; i < sizes.length; i++) {
            out[i] = x.narrow(a, off, sizes[i]);
            off += sizes[i];
        }
        return out;
    }
}
