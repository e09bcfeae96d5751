package dev.kiln.backend.cpu;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;

/**
 * Fixed-order cross-lane sums and products, the engine's one replacement for
 * {@code reduceLanes(ADD)} / {@code reduceLanes(MUL)} on float and double vectors.
 * <p>
 * {@code reduceLanes} leaves the order of the float additions unspecified, and HotSpot uses that
 * freedom: the interpreter and C1 (the Java fallback) add the lanes left to right, the C2
 * intrinsic as a tree. A kernel using it therefore changes its rounding at the moment C2 finishes
 * compiling it, which is wall-clock dependent, so seeded training stopped being reproducible run to
 * run. These helpers add the lanes in lane order, always, in double (exact for the float
 * products of a dot, and at least as accurate as a float tree).
 */
public final class Lanes {
    private Lanes() {}

    private static final int LF = CpuConfig.F32.length();
    private static final int LD = CpuConfig.F64.length();

    /** Sum of the lanes of v (species {@link CpuConfig#F32}) in lane order, in double. */
    public static double sum(FloatVector v) {
        double s = 0;
        for (int i = 0; i < LF; i++) s += v.lane(i);
        return s;
    }

    /** Sum of the lanes of v (species {@link CpuConfig#F64}) in lane order. */
    public static double sum(DoubleVector v) {
        double s = 0;
        for (int i = 0; i < LD; i++) s += v.lane(i);
        return s;
    }

    /** Product of the lanes in lane order, in float (deterministic, see {@link #sum(FloatVector)}). */
    public static float prod(FloatVector v) {
        float p = 1;
        for (int i = 0; i < LF; i++) p *= v.lane(i);
        return p;
    }

    /** Product of the lanes in lane order. */
    public static double prod(DoubleVector v) {
        double p = 1;
        for (int i = 0; i < LD; i++) p *= v.lane(i);
        return p;
    }
}
