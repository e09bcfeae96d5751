package dev.kiln.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** {@code kiln bench <suite>}: benchmarks reported as ratios to a peer measured in the same run. */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Benchmarks against peers measured in the same run (and JMH microbenchmarks).",
        subcommands = {BenchGemm.class, BenchElementwise.class, BenchSparse.class, BenchInt8.class, BenchBf16.class, BenchAllreduce.class, BenchDdp.class, BenchJmh.class})
public final class BenchCommand implements Runnable {
    @Spec private CommandSpec spec;

    /** {@code kiln bench} alone lists the suites. */
    @Override public void run() { spec.commandLine().usage(spec.commandLine().getOut()); }
}
