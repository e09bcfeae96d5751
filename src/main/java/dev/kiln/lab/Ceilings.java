package dev.kiln.lab;

import dev.kiln.backend.cpu.CpuConfig;
import dev.kiln.backend.cpu.Parallel;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Tensor;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * A device's ceilings for the lab's "% of ceiling": memory bandwidth (GB/s) and fp32 peak (GFLOP/s).
 * CPU: bandwidth is measured in the run (MemorySegment.copy of 64 MiB split over the CPU threads,
 * bytes read + written, median of runs, like {@code kiln bench elementwise}); the peak is declared
 * as threads x 32 FLOP/cycle (two 8-wide FMA units) x the clock from /proc/cpuinfo, or 100 GFLOP/s
 * per core when the clock is unknown. CUDA: the H200's datasheet values (4.8 TB/s HBM3e, 67 TFLOP/s
 * fp32 without tensor cores).
 *
 * @param memoryGBs  bandwidth ceiling
 * @param flopsG     fp32 peak in GFLOP/s
 * @param note       one line saying where the numbers come from
 */
public record Ceilings(double memoryGBs, double flopsG, String note) {
    static final long COPY_BYTES = 64L << 20;

    /**
     * The ceiling for a unit. int8: 4x the fp32 peak, the rate of {@code vpdpbusd} (64 int8
     * multiply-adds per 512-bit instruction where an fp32 FMA does 16) on the same ports.
     */
    public double of(LabOp.Unit unit) {
        return switch (unit) {
            case BYTES -> memoryGBs;
            case FLOPS -> flopsG;
            case INT8_OPS -> 4 * flopsG;
        };
    }

    public static Ceilings cuda() {
        return new Ceilings(4800, 67_000, "cuda ceilings (H200 datasheet): memory 4800 GB/s, fp32 67000 GFLOP/s");
    }

    /** Measures the CPU's copy bandwidth now (about 0.5 s) and reads its clock. */
    public static Ceilings cpu() {
        int threads = CpuConfig.threads();
        double gbs = copyGBs(threads, 7);
        double mhz = cpuMhz();
        double peak = mhz > 0 ? threads * 32 * mhz * 1e-3 : threads * 100.0;
        String clock = mhz > 0 ? String.format("%d x 32 FLOP/cycle x %.2f GHz", threads, mhz * 1e-3)
                : threads + " x 100 GFLOP/s (clock unknown)";
        return new Ceilings(gbs, peak, String.format(
                "cpu ceilings: memory %.1f GB/s (MemorySegment.copy 64 MiB, %d threads, measured), fp32 %.0f GFLOP/s (%s)",
                gbs, threads, peak, clock));
    }

    /** GB/s (read + written) of copying 64 MiB in `threads` pieces, median of `runs`. */
    static double copyGBs(int threads, int runs) {
        try (Tensor src = Tensor.zeros(DType.F32, (int) (COPY_BYTES / 4));
             Tensor dst = Tensor.zeros(DType.F32, (int) (COPY_BYTES / 4))) {
            MemorySegment from = src.segment(), to = dst.segment();
            from.fill((byte) 1);
            to.fill((byte) 2);
            copy(from, to, threads); // warm-up
            double[] t = new double[runs];
            for (int r = 0; r < runs; r++) {
                long t0 = System.nanoTime();
                copy(from, to, threads);
                t[r] = (System.nanoTime() - t0) * 1e-9;
            }
            return 2.0 * COPY_BYTES / LabRunner.median(t) * 1e-9;
        }
    }

    private static void copy(MemorySegment from, MemorySegment to, int threads) {
        long bytes = from.byteSize(), piece = ((bytes + threads - 1) / threads + 63) & ~63L;
        Parallel.forChunks(threads, threads, (start, end) -> {
            for (int i = start; i < end; i++) {
                long off = i * piece, len = Math.min(piece, bytes - off);
                if (len > 0) MemorySegment.copy(from, off, to, off, len);
            }
        });
    }

    /** The first "cpu MHz" of /proc/cpuinfo, or 0 when unreadable. */
    static double cpuMhz() {
        try {
            List<String> lines = Files.readAllLines(Path.of("/proc/cpuinfo"));
            for (String l : lines)
                if (l.startsWith("cpu MHz")) return Double.parseDouble(l.substring(l.indexOf(':') + 1).trim());
        } catch (IOException | RuntimeException e) {
            return 0;
        }
        return 0;
    }
}
