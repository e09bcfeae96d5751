package dev.kiln.bench;

import org.openjdk.jmh.runner.NoBenchmarksException;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.CommandLineOptionException;
import org.openjdk.jmh.runner.options.CommandLineOptions;

import java.util.ArrayList;
import java.util.List;

/**
 * Runs JMH inside the calling JVM for {@code kiln bench jmh} (which finds this class by name, since
 * the engine does not depend on JMH). Like {@code org.openjdk.jmh.Main}, but it returns an exit
 * code instead of calling System.exit, turns bad JMH options and unmatched regexes into
 * IllegalArgumentException (the CLI's exit 2), and fails on benchmark errors unless {@code -foe}
 * is given. Forked benchmark JVMs inherit this JVM's classpath and flags.
 */
public final class JmhRunner {
    private JmhRunner() {}

    public static int run(String[] args) throws Exception {
        List<String> a = new ArrayList<>(List.of(args));
        if (!a.contains("-foe")) a.addAll(List.of("-foe", "true"));
        CommandLineOptions opts;
        try {
            opts = new CommandLineOptions(a.toArray(String[]::new));
        } catch (CommandLineOptionException e) {
            throw new IllegalArgumentException("bench jmh: " + e.getMessage(), e);
        }
        Runner runner = new Runner(opts);
        if (opts.shouldHelp()) opts.showHelp();
        else if (opts.shouldList()) runner.list();
        else if (opts.shouldListWithParams()) runner.listWithParams(opts);
        else if (opts.shouldListProfilers()) opts.listProfilers();
        else if (opts.shouldListResultFormats()) opts.listResultFormats();
        else runBenchmarks(runner, opts);
        return 0;
    }

    private static void runBenchmarks(Runner runner, CommandLineOptions opts) throws Exception {
        try {
            runner.run();
        } catch (NoBenchmarksException e) {
            throw new IllegalArgumentException("bench jmh: no benchmark matches " + opts.getIncludes()
                    + " (list them with: kiln bench jmh -- -l)", e);
        }
    }
}
