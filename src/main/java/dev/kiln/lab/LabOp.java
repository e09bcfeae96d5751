package dev.kiln.lab;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * An op of the kernel lab: its float64 reference, its inputs for a "size", the work one call does
 * (bytes moved or FLOPs) and the registered {@link Variant}s. A size is an int[]: a tensor shape for
 * elementwise ops and reductions, {m, k, n} for gemm. Subclasses supply the op-specific parts.
 */
public abstract class LabOp {
    /**
     * What {@link #work} counts: bytes read + written (GB/s), floating-point operations (GFLOP/s) or
     * int8 multiply-add operations, 2 per multiply-add (GOP/s).
     */
    public enum Unit { BYTES, FLOPS, INT8_OPS }

    private final String name;
    private final List<int[]> testSizes;
    private final int[] timingSize;
    private final double atol, rtol;
    private final List<Variant> variants = new ArrayList<>();

    protected LabOp(String name, List<int[]> testSizes, int[] timingSize, double atol, double rtol) {
        this.name = name;
        this.testSizes = List.copyOf(testSizes);
        this.timingSize = timingSize.clone();
        this.atol = atol;
        this.rtol = rtol;
    }

    public String name() { return name; }
    public List<int[]> testSizes() { return testSizes; }
    public int[] timingSize() { return timingSize.clone(); }
    public double atol() { return atol; }
    public double rtol() { return rtol; }
    public List<Variant> variants() { return List.copyOf(variants); }

    /** Registers a variant (a researcher's new kernel); names must be unique per op. */
    public LabOp register(Variant v) {
        if (variant(v.name()) != null) throw new IllegalArgumentException("lab " + name + ": variant " + v.name() + " already registered");
        variants.add(v);
        return this;
    }

    /** The variant of that name, or null. */
    public Variant variant(String variantName) {
        for (Variant v : variants) if (v.name().equals(variantName)) return v;
        return null;
    }

    /** Seeded F32 CPU inputs for a size, uniform in [-2, 2]. */
    public abstract Tensor[] inputs(int[] size, Generator g);

    /** The float64 reference output (flat, row-major) of the inputs' values. */
    public abstract double[] reference(double[][] inputs, int[] size);

    /** Bytes moved or FLOPs of one call at this size. */
    public abstract double work(int[] size);

    public abstract Unit unit();

    /** Parses a size: "1025", "45x65" or (gemm) "512x512x512". */
    public int[] parseSize(String text) {
        String[] parts = text.trim().split("x");
        int[] s = new int[parts.length];
        try {
            for (int i = 0; i < s.length; i++) s[i] = Integer.parseInt(parts[i].trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("lab " + name + ": bad size '" + text + "' (expected e.g. 1025 or 45x65)");
        }
        for (int d : s) if (d < 1) throw new IllegalArgumentException("lab " + name + ": sizes must be >= 1, got " + text);
        return s;
    }

    public static String sizeText(int[] size) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < size.length; i++) sb.append(i == 0 ? "" : "x").append(size[i]);
        return sb.toString();
    }

    protected static Tensor uniform(Generator g, int... shape) {
        return Tensor.uniform(g, -2, 2, DType.F32, shape);
    }

    protected static long numel(int[] shape) { return Shape.numel(shape); }
}
