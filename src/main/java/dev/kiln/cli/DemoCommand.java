package dev.kiln.cli;

import picocli.CommandLine.Command;

/** STUB (helper E): `kiln demo`. */
@Command(name = "demo", description = "Run Kiln's main job on embedded default data and print a results table.")
public final class DemoCommand implements Runnable {
    @Override public void run() { throw new UnsupportedOperationException("demo: not implemented yet"); }
}
