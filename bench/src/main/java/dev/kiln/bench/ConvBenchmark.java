package dev.kiln.bench;

import dev.kiln.backend.cpu.CpuConfig;
import dev.kiln.ops.Conv;
import dev.kiln.ops.Conv2dParams;
import dev.kiln.ops.Pool2dParams;
import dev.kiln.ops.PoolOp;
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
 * conv2d (3x3, stride 1, padding 1, with bias) and 2x2 pooling on CNN shapes, F32:
 * <ul>
 *   <li>{@code 64x1x28x28:16}: Fashion-MNIST CNN layer 1 (direct kernel: 9 taps)</li>
 *   <li>{@code 64x16x14x14:32}: layer 2 (direct kernel: 144 taps)</li>
 *   <li>{@code 8x64x56x56:64}: a ResNet stage-1 conv (im2col + GEMM: 576 taps)</li>
 * </ul>
 * {@code conv2dIm2col} forces im2col + GEMM for every shape (to re-tune
 * {@code kiln.conv.directMaxTaps} against the GEMM). Pools take the conv output shape
 * [N,O,H,W]. GFLOP/s = 2*N*O*C*9*H*W / time.
 * <pre>
 * ./kiln test -DskipTests   # builds target/ and bench/target/
 * java --add-modules jdk.incubator.vector -cp "target/kiln-0.1.0-SNAPSHOT.jar:bench/target/kiln-bench-0.1.0-SNAPSHOT.jar:$(cat bench/target/classpath.txt)" \
 *     org.openjdk.jmh.Main ConvBenchmark -p threads=1,2
 * </pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class ConvBenchmark {

    /** NxCxHxW:O */
    @Param({"64x1x28x28:16", "64x16x14x14:32", "8x64x56x56:64"})
    public String shape;

    @Param({"2"})
    public int threads;

    private Tensor x, w, b, y;
    private final Conv2dParams p = Conv2dParams.of(1, 1);
    private final Pool2dParams pool = Pool2dParams.of(2, 2, 0);

    @Setup(Level.Trial)
    public void setup() {
        CpuConfig.setThreads(threads);
        String[] nc = shape.split(":");
        String[] d = nc[0].split("x");
        int n = Integer.parseInt(d[0]), c = Integer.parseInt(d[1]), h = Integer.parseInt(d[2]), wd = Integer.parseInt(d[3]);
        int o = Integer.parseInt(nc[1]);
        Generator g = new Generator(42);
        x = Tensor.uniform(g, -1, 1, DType.F32, n, c, h, wd);
        w = Tensor.uniform(g, -0.3, 0.3, DType.F32, o, c, 3, 3);
        b = Tensor.uniform(g, -0.1, 0.1, DType.F32, o);
        y = Conv.conv2d(x, w, b, p);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        for (Tensor t : new Tensor[]{x, w, b, y}) t.close();
    }

    @Benchmark
    public Tensor conv2d() {
        Tensor out = Conv.conv2d(x, w, b, p);
        out.close();
        return out;
    }

    @Benchmark
    @Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
            "-Dkiln.conv.directMaxTaps=0"})
    public Tensor conv2dIm2col() {
        Tensor out = Conv.conv2d(x, w, b, p);
        out.close();
        return out;
    }

    @Benchmark
    public Tensor maxPool() {
        Tensor out = Conv.pool2d(PoolOp.MAX, y, pool);
        out.close();
        return out;
    }

    @Benchmark
    public Tensor maxPoolWithIndices() {
        Tensor[] r = Conv.maxPool2dWithIndices(y, pool);
        r[0].close();
        r[1].close();
        return r[0];
    }

    @Benchmark
    public Tensor avgPool() {
        Tensor out = Conv.pool2d(PoolOp.AVG, y, pool);
        out.close();
        return out;
    }
}
