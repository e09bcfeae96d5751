package dev.kiln.bench;

import dev.kiln.backend.Backend;
import dev.kiln.backend.Backends;
import dev.kiln.backend.cpu.CpuConfig;
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
 * JMH: square F32 GEMM, Kiln's CPU backend vs OpenBLAS on the same off-heap matrices.
 * GFLOP/s = 2 n^3 / (time per op). Run (after `./kiln test` or the bench package):
 * <pre>java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
 *   -cp target/kiln-0.1.0-SNAPSHOT.jar:bench/target/kiln-bench-0.1.0-SNAPSHOT.jar:$(cat target/classpath.txt):$(cat bench/target/classpath.txt) \
 *   org.openjdk.jmh.Main GemmBenchmark -p n=1024 -p threads=1</pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 5, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class GemmBenchmark {
    @Param({"256", "1024"})
    public int n;

    @Param({"1", "2"})
    public int threads;

    private Tensor a, b, c;
    private Backend cpu;
    private OpenBlasPeer openblas;

    @Setup(Level.Trial)
    public void setup() {
        Generator g = new Generator(1);
        a = Tensor.uniform(g, -1, 1, DType.F32, n, n);
        b = Tensor.uniform(g, -1, 1, DType.F32, n, n);
        c = Tensor.zeros(n, n);
        cpu = Backends.cpu();
        CpuConfig.setThreads(threads);
        openblas = new OpenBlasPeer();
        openblas.setThreads(threads);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        a.close();
        b.close();
        c.close();
    }

    @Benchmark
    public Tensor kiln() {
        cpu.gemm(false, false, 1.0, a, b, 0.0, c);
        return c;
    }

    @Benchmark
    public Tensor openblas() {
        openblas.sgemm(n, n, n, a.segment(), b.segment(), c.segment());
        return c;
    }
}
