package dev.kiln.cli;

import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;

/** Test helper: runs the CLI in this JVM and captures its exit code, stdout and stderr. */
public record CliRun(int code, String out, String err) {
    public static CliRun of(String... args) {
        CommandLine cl = new Main().commandLine();
        StringWriter out = new StringWriter(), err = new StringWriter();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int code = cl.execute(Main.modelBench(args));   // as Main.run does
        return new CliRun(code, out.toString(), err.toString());
    }

    public List<String> errLines() { return err.lines().toList(); }
}
