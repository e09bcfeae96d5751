package dev.kiln.cli;

import picocli.CommandLine.Command;

/** STUB (helper E): `kiln bench elementwise`. */
@Command(name = "elementwise", description = "Elementwise add/mul/exp on 16M floats: GB/s vs a memory copy.")
public final class BenchElementwise implements Runnable {
    @Override public void run() { throw new UnsupportedOperationException("bench elementwise: not implemented yet"); }
}
