package dev.kiln.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** STUB (helper E): the `kiln` command line. */
@Command(name = "kiln", mixinStandardHelpOptions = true, version = "kiln 0.1.0",
        description = "Kiln tensor engine.")
public final class Main implements Runnable {
    public static void main(String[] args) {
        System.exit(new CommandLine(new Main()).execute(args));
    }

    @Override public void run() { new CommandLine(this).usage(System.out); }
}
