package dev.kiln.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** `kiln bench <suite>`: benchmarks reported as ratios to a peer measured in the same run. */
@Command(name = "bench", description = "Benchmarks against peers measured in the same run.",
        subcommands = {BenchGemm.class, BenchElementwise.class})
public final class BenchCommand implements Runnable {
    @Override public void run() { new CommandLine(this).usage(System.out); }
}
