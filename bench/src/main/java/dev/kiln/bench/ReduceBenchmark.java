package dev.kiln.bench;

import dev.kiln.backend.Backend;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.util.concurrent.TimeUnit;

/**
 * JMH: reductions on an F32 tensor of {@code size} elements viewed as rows of 1024
 * ([size/1024, 1024]): {@code sum} of all elements (reads 4 bytes per element) and {@code softmax}
 * along the rows (reads and writes: 8 bytes per element). {@code kernel} writes into a
 * preallocated output through the backend; {@code api} calls {@code x.sum()} / {@code x.softmax(1)}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow"})
public class ReduceBenchmark {
    static final int ROW = 1024;

    @Param({"1024", "65536", "16777216"})
    public int size;

    @Param({"sum", "softmax"})
    public String op;

    private Tensor x, out;
    private Backend backend;
    private final int[] allAxes = {0, 1};

    @Setup(Level.Trial)
    public void setup() {
        if (size % ROW != 0) throw new IllegalArgumentException("ReduceBenchmark: size must be a multiple of " + ROW + ", got " + size);
        x = Tensor.uniform(new Generator(1), -2, 2, DType.F32, size / ROW, ROW);
        out = op.equals("sum") ? Tensor.zeros(DType.F32, 1, 1) : Tensor.zeros(DType.F32, size / ROW, ROW);
        backend = x.backend();
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        x.close();
        out.close();
    }

    /** The kernel into a preallocated output. */
    @Benchmark
    public Tensor kernel() {
        switch (op) {
            case "sum" -> backend.reduce(dev.kiln.ops.ReduceOp.SUM, x, allAxes, out, 0);
            case "softmax" -> backend.softmax(x, 1, false, out);
            default -> throw new IllegalArgumentException("unknown op " + op);
        }
        return out;
    }

    /** The op as users call it (allocates its output). */
    @Benchmark
    public double api() {
        try (Tensor r = op.equals("sum") ? x.sum() : x.softmax(1)) {
            return r.getFlat(0);
        }
    }
}
