package dev.kiln.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * CPU backend switches, read from system properties at start and changeable at run time (tests):
 * <ul>
 *   <li>{@code kiln.cpu.scalar=true}: every kernel takes its scalar path (the vector path's twin).</li>
 *   <li>{@code kiln.cpu.threads=N}: worker threads for parallel kernels (default: available cores).</li>
 *   <li>{@code kiln.cpu.vectorBits=256|512}: Vector API species width (default: the preferred one).</li>
 *   <li>{@code kiln.cpu.cacheBytes=N}: most bytes of freed host blocks kept for reuse (default 1 GiB).</li>
 *   <li>{@code kiln.conv.implicit=auto|always|never}: F32 convs on the implicit GEMM
 *       ({@code ConvImplicit}; auto: groups 1, kernels larger than 1x1) or on im2col + GEMM;
 *       {@code kiln.conv.kc=N}: its taps per K block (default 128);
 *       {@code kiln.conv.directMaxTaps=N}: stride-1 convs with up to N taps per output (C*kh*kw,
 *       default 288) take the pixel-vector kernel {@code ConvDirect} instead (0: never).</li>
 * </ul>
 */
public final class CpuConfig {
    private CpuConfig() {}

    private static volatile boolean scalar = Boolean.getBoolean("kiln.cpu.scalar");
    private static volatile int threads = Integer.getInteger("kiln.cpu.threads", Runtime.getRuntime().availableProcessors());

    public static final VectorSpecies<Float> F32 = pickF32();
    public static final VectorSpecies<Double> F64 = pickF64();

    private static VectorSpecies<Float> pickF32() {
        String bits = System.getProperty("kiln.cpu.vectorBits", "");
        return switch (bits) {
            case "256" -> FloatVector.SPECIES_256;
            case "512" -> FloatVector.SPECIES_512;
            case "128" -> FloatVector.SPECIES_128;
            default -> FloatVector.SPECIES_PREFERRED;
        };
    }

    private static VectorSpecies<Double> pickF64() {
        String bits = System.getProperty("kiln.cpu.vectorBits", "");
        return switch (bits) {
            case "256" -> DoubleVector.SPECIES_256;
            case "512" -> DoubleVector.SPECIES_512;
            case "128" -> DoubleVector.SPECIES_128;
            default -> DoubleVector.SPECIES_PREFERRED;
        };
    }

    /** True when kernels must use their scalar path. */
    public static boolean scalar() { return scalar; }
    public static void setScalar(boolean s) { scalar = s; }

    public static int threads() { return threads; }
    public static void setThreads(int n) {
        if (n < 1) throw new IllegalArgumentException("threads must be >= 1, got " + n);
        threads = n;
    }
}
