package dev.kiln.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The `kiln` command line. (helper E owns this file) */
@Command(name = "kiln", mixinStandardHelpOptions = true, version = "kiln 0.1.0",
        description = "Kiln tensor engine.",
        subcommands = {DemoCommand.class, BenchCommand.class})
public final class Main implements Runnable {
    public static void main(String[] args) {
        System.exit(new CommandLine(new Main()).execute(args));
    }

    @Override public void run() { new CommandLine(this).usage(System.out); }
}
