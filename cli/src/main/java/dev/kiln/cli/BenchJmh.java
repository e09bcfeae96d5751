package dev.kiln.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.lang.reflect.InvocationTargetException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code kiln bench jmh [REGEX] [JMH options]}: runs the JMH microbenchmarks of the bench module
 * ({@code dev.kiln.bench.*Benchmark}) in this JVM's JMH runner, which forks benchmark JVMs with
 * this JVM's classpath and flags. The bench module is on the classpath when started by
 * {@code ./kiln}; the engine itself does not depend on JMH, so the runner is found by name.
 * With {@code --plot FILE.png} JMH also writes its JSON result to a temporary file, and each
 * benchmark's score becomes a bar (one panel per score unit, a series per benchmark class, all of them Kiln's).
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

    @picocli.CommandLine.Mixin PlotOption plot;

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        if (!plot.wanted()) return runJmh(args);
        Path json = Files.createTempFile("kiln-jmh", ".json");
        try {
            List<String> withJson = new ArrayList<>(args);
            withJson.addAll(List.of("-rf", "json", "-rff", json.toString()));
            int rc = runJmh(withJson);
            if (rc == 0) plot.write(spec.commandLine().getOut(), "kiln bench jmh: " + (args.isEmpty() ? "all benchmarks" : String.join(" ", args)),
                    panels(Files.readString(json)));
            return rc;
        } finally {
            Files.deleteIfExists(json);
        }
    }

    /** One JMH result: benchmark (Class.method), its parameters, the primary score and its unit. */
    record Result(String benchmark, Map<String, String> params, double score, String unit) {}

    private static final Pattern BENCHMARK = Pattern.compile("\"benchmark\"\\s*:\\s*\"([^\"]*)\"");
    private static final Pattern PARAMS = Pattern.compile("\"params\"\\s*:\\s*\\{([^}]*)}");
    private static final Pattern PAIR = Pattern.compile("\"([^\"]*)\"\\s*:\\s*\"([^\"]*)\"");
    private static final Pattern SCORE = Pattern.compile("\"primaryMetric\"\\s*:\\s*\\{\\s*\"score\"\\s*:\\s*\"?([-0-9.eE+]+|NaN)\"?");
    private static final Pattern UNIT = Pattern.compile("\"scoreUnit\"\\s*:\\s*\"([^\"]*)\"");

    /** The results of JMH's JSON output (-rf json), in order; an entry lacking a score is left out. */
    static List<Result> parse(String json) {
        List<Result> out = new ArrayList<>();
        String[] parts = json.split("\"jmhVersion\"");
        for (int i = 1; i < parts.length; i++) {
            String part = parts[i];
            Matcher b = BENCHMARK.matcher(part), sc = SCORE.matcher(part);
            if (!b.find() || !sc.find()) continue;
            Matcher u = UNIT.matcher(part);
            Map<String, String> params = new LinkedHashMap<>();
            Matcher pm = PARAMS.matcher(part);
            if (pm.find()) for (Matcher kv = PAIR.matcher(pm.group(1)); kv.find(); ) params.put(kv.group(1), kv.group(2));
            double score = sc.group(1).equals("NaN") ? Double.NaN : Double.parseDouble(sc.group(1));
            out.add(new Result(b.group(1), params, score, u.find(sc.end()) ? u.group(1) : "score"));
        }
        return out;
    }

    /** A bar per result: one panel per unit, a series per benchmark class, method and parameters along x. */
    static List<BenchPlot.Panel> panels(String json) {
        Map<String, BenchPlot.Panel> byUnit = new LinkedHashMap<>();
        for (Result r : parse(json)) {
            String b = r.benchmark();
            int dot = b.lastIndexOf('.');
            String cls = b.substring(b.lastIndexOf('.', dot - 1) + 1, dot), method = b.substring(dot + 1);
            StringBuilder cat = new StringBuilder(method);
            r.params().forEach((k, v) -> cat.append(' ').append(k).append('=').append(v));
            byUnit.computeIfAbsent(r.unit(), u -> new BenchPlot.Panel("JMH primary score", "benchmark and parameters", u, BenchPlot.Style.BARS))
                    .add("Kiln " + cls, cat.toString(), r.score());
        }
        if (byUnit.isEmpty()) throw new IllegalStateException("bench jmh: JMH wrote no results to plot");
        return new ArrayList<>(byUnit.values());
    }

    private Integer runJmh(List<String> args) throws Exception {
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
