package dev.kiln.tensor;

import java.util.Arrays;

/** Static helpers for shapes and strides (shapes are int[], strides long[] in elements). */
public final class Shape {
    private Shape() {}

    /** Number of elements; a product that overflows a long is an error, never a wrap. */
    public static long numel(int[] shape) {
        for (int d : shape) if (d == 0) return 0;
        long n = 1;
        try {
            for (int d : shape) n = Math.multiplyExact(n, (long) d);
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException("shape " + str(shape) + " has too many elements");
        }
        return n;
    }

    public static long[] contiguousStrides(int[] shape) {
        long[] s = new long[shape.length];
        long acc = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            s[i] = acc;
            acc *= Math.max(shape[i], 1);
        }
        return s;
    }

    public static String str(int[] shape) {
        return Arrays.toString(shape);
    }

    /** Checks dims are non-negative; names the op in the error. */
    public static int[] check(String op, int[] shape) {
        for (int d : shape)
            if (d < 0) throw new IllegalArgumentException(op + ": negative dimension in shape " + str(shape));
        return shape.clone();
    }

    /** Normalizes a possibly negative axis against rank. */
    public static int axis(String op, int axis, int rank) {
        int a = axis < 0 ? axis + rank : axis;
        if (a < 0 || a >= Math.max(rank, 1) || (rank == 0 && a != 0))
            throw new IllegalArgumentException(op + ": axis " + axis + " out of range for rank " + rank);
        return a;
    }

    /** NumPy broadcasting of two shapes; the error names both shapes and the op. */
    public static int[] broadcast(String op, int[] a, int[] b) {
        int n = Math.max(a.length, b.length);
        int[] out = new int[n];
        for (int i = 0; i < n; i++) {
            int da = i < n - a.length ? 1 : a[i - (n - a.length)];
            int db = i < n - b.length ? 1 : b[i - (n - b.length)];
            if (da != db && da != 1 && db != 1)
                throw new IllegalArgumentException(op + ": shapes " + str(a) + " and " + str(b)
                        + " cannot be broadcast (dimension " + i + ": " + da + " vs " + db + ")");
            out[i] = da == 1 ? db : da;
        }
        return out;
    }

    /** Broadcast of any number of shapes. */
    public static int[] broadcast(String op, int[]... shapes) {
        int[] out = new int[0];
        for (int[] s : shapes) out = broadcast(op, out, s);
        return out;
    }

    /** Resolves a single -1 in a reshape target against numel. */
    public static int[] inferReshape(int[] from, int[] to) {
        long n = numel(from);
        int infer = -1;
        long known = 1;
        for (int i = 0; i < to.length; i++) {
            if (to[i] == -1) {
                if (infer >= 0) throw new IllegalArgumentException("reshape: more than one -1 in " + str(to));
                infer = i;
            } else if (to[i] < 0) {
                throw new IllegalArgumentException("reshape: negative dimension in " + str(to));
            } else known *= to[i];
        }
        int[] out = to.clone();
        if (infer >= 0) {
            if (known == 0 || n % known != 0)
                throw new IllegalArgumentException("reshape: cannot reshape " + str(from) + " to " + str(to));
            out[infer] = (int) (n / known);
        }
        if (numel(out) != n)
            throw new IllegalArgumentException("reshape: cannot reshape " + str(from) + " (" + n + " elements) to " + str(to));
        return out;
    }
}
