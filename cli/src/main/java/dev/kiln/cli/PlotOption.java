package dev.kiln.cli;

import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;

/**
 * {@code --plot FILE.png}, shared by the bench commands and {@code kiln train} (a picocli mixin, as
 * {@link ModelInputOptions} is for --input/--shape). The path is checked with the other output
 * options before any work starts ({@link CliChecks}: a .png name, an existing writable folder);
 * the chart is drawn by {@link BenchPlot} after the measurements.
 */
final class PlotOption {
    @Option(names = "--plot", paramLabel = "FILE.png",
            description = "Also draw what was measured as a PNG chart (the CPU and the date in its title).")
    Path file;

    boolean wanted() { return file != null; }

    /** Writes the chart when --plot was given and says so on out. */
    void write(PrintWriter out, String title, List<BenchPlot.Panel> panels) throws IOException {
        if (file == null) return;
        BenchPlot.write(file, title, panels);
        out.println("wrote chart " + file);
        out.flush();
    }
}
