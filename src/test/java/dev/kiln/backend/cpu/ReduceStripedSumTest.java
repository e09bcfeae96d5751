package dev.kiln.backend.cpu;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Long rows are summed as four stripes read side by side (ReduceRowF32.sum): against the float64
 * sum, at lengths just below, at and past the striped threshold with a remainder, on 1 and 2
 * threads (the same bits), for sum and mean.
 */
class ReduceStripedSumTest {
    @AfterEach
    void restore() { CpuConfig.setThreads(Runtime.getRuntime().availableProcessors()); }

    @Test
    void stripedSumMatchesReferenceAndThreadCount() {
        Generator g = new Generator(3);
        for (int n : new int[]{ReduceRowF32.STRIPED_MIN - 1, ReduceRowF32.STRIPED_MIN, 4 * ReduceRowF32.STRIPED_MIN + 37, 3_000_017}) {
            Tensor x = Tensor.uniform(g, -1, 3, DType.F32, n);
            double ref = 0, mag = 0;
            for (float v : x.toFloatArray()) { ref += v; mag += Math.abs(v); }
            CpuConfig.setThreads(1);
            double one = x.sum().item();
            CpuConfig.setThreads(2);
            double two = x.sum().item();
            assertEquals(ref, one, 1e-6 * mag, "sum n=" + n);
            assertEquals(one, two, 0.0, "2 threads, n=" + n);
            assertEquals(ref / n, x.mean().item(), 1e-6 * mag / n, "mean n=" + n);
        }
    }
}
