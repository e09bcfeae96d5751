package dev.kiln.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

import java.lang.reflect.InvocationTargetException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code kiln bench jmh [REGEX] [JMH options]}: runs the JMH microbenchmarks of the bench module
 * ({@code dev.kiln.bench.*Benchmark}) in this JVM's JMH runner, which forks benchmark JVMs with
 * this JVM's classpath and flags. The bench module is on the classpath when started by
 * {@code ./kiln}; the engine itself does not depend on JMH, so the runner is found by name.
 */
@Command(name = "jmh", mixinStandardHelpOptions = true,
        description = {"JMH microbenchmarks (bench/): elementwise and reduction kernels at 1K, 64K, 16M floats.",
                "Arguments go to JMH: a benchmark regex and JMH options, e.g.",
                "  kiln bench jmh ElementwiseBenchmark -p op=add -p size=1024 -f 1 -wi 1 -i 1",
                "Use '-- -h' for JMH's own help and '-- -l' to list benchmarks."})
public final class BenchJmh implements Callable<Integer> {
    static final String RUNNER = "dev.kiln.bench.JmhRunner";

    @Parameters(paramLabel = "JMH_ARG", arity = "0..*", description = "Benchmark regex and JMH options (default: all Kiln benchmarks).")
    List<String> args = new ArrayList<>();

    @Override
    public Integer call() throws Exception {
        Class<?> runner;
        try {
            runner = Class.forName(RUNNER);
        } catch (ClassNotFoundException e) {
            throw new IllegalStateException("JMH benchmarks are not on the classpath: build bench/ "
                    + "(mvn -o install -DskipTests && mvn -o -f bench/pom.xml package) or run through ./kiln");
        }
        try {
            return (Integer) runner.getMethod("run", String[].class).invoke(null, (Object) args.toArray(String[]::new));
        } catch (InvocationTargetException e) {
            if (e.getCause() instanceof Exception ex) throw ex;
            if (e.getCause() instanceof Error err) throw err;
            throw e;
        }
    }
}
