package dev.kiln.bench;

import dev.kiln.backend.Backend;
import dev.kiln.ops.BinaryOp;
import dev.kiln.ops.UnaryOp;
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
 * JMH: elementwise F32 kernels on contiguous tensors. {@code kernel} calls the backend with a
 * preallocated output (the kernel alone); {@code api} calls {@code a.add(b)} etc. as users do
 * (output allocation, zero fill and free included). Bytes moved per op: add/mul 12 per element,
 * exp/relu 8. Kernel threads: {@code -jvmArgsAppend -Dkiln.cpu.threads=1} (default: all cores).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow"})
public class ElementwiseBenchmark {
    @Param({"1024", "65536", "16777216"})
    public int size;

    @Param({"add", "mul", "exp", "relu"})
    public String op;

    private Tensor a, b, out;
    private Backend backend;

    @Setup(Level.Trial)
    public void setup() {
        Generator g = new Generator(1);
        a = Tensor.uniform(g, -2, 2, DType.F32, size);
        b = Tensor.uniform(g, -2, 2, DType.F32, size);
        out = Tensor.zeros(DType.F32, size);
        backend = a.backend();
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        a.close();
        b.close();
        out.close();
    }

    /** The kernel into a preallocated output. */
    @Benchmark
    public Tensor kernel() {
        switch (op) {
            case "add" -> backend.binary(BinaryOp.ADD, a, b, out);
            case "mul" -> backend.binary(BinaryOp.MUL, a, b, out);
            case "exp" -> backend.unary(UnaryOp.EXP, a, out, 0, 0);
            case "relu" -> backend.unary(UnaryOp.RELU, a, out, 0, 0);
            default -> throw new IllegalArgumentException("unknown op " + op);
        }
        return out;
    }

    /** The op as users call it: allocates (and here frees) its output. */
    @Benchmark
    public double api() {
        try (Tensor r = switch (op) {
            case "add" -> a.add(b);
            case "mul" -> a.mul(b);
            case "exp" -> a.exp();
            case "relu" -> a.relu();
            default -> throw new IllegalArgumentException("unknown op " + op);
        }) {
            return r.getFlat(0);
        }
    }
}
