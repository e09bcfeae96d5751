package dev.kiln.cli;

import picocli.CommandLine.Command;

/** STUB (helper A): `kiln bench gemm`. */
@Command(name = "gemm", description = "Kiln sgemm vs OpenBLAS, square n, 1 thread and all threads.")
public final class BenchGemm implements Runnable {
    @Override public void run() { throw new UnsupportedOperationException("bench gemm: not implemented yet"); }
}
