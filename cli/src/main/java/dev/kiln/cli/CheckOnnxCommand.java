package dev.kiln.cli;

import dev.kiln.io.AtomicWrite;
import dev.kiln.onnx.conformance.ConformanceReport;
import dev.kiln.onnx.conformance.NodeTestRunner;
import dev.kiln.onnx.ops.OpRegistry;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * {@code kiln check-onnx DIR}: runs the ONNX backend node tests under DIR (one folder per test with
 * model.onnx and test_data_set_*) and prints "N passed, M failed", a per-op table and the failing
 * ops. Exit 0 when every test passed, 1 when some failed, 2 for a missing directory or bad regex.
 */
@Command(name = "check-onnx", description = {"Run ONNX backend node tests (model.onnx + test_data_set_*/input_i.pb, output_i.pb) and report per-op results."})
final class CheckOnnxCommand implements Callable<Integer> {
    @Spec private CommandSpec spec;

    @Parameters(paramLabel = "DIR", description = "Directory of test folders (e.g. onnx-node-tests/node).")
    Path dir;

    @Option(names = "--json", paramLabel = "FILE", description = "Also write per-test and per-op results as JSON to FILE.")
    Path json;

    @Option(names = "--filter", paramLabel = "REGEX", description = "Only test folders whose name matches REGEX (find).")
    String filter;

    @Option(names = "--failures", description = "Print every failing test with its reason.")
    boolean failures;

    @Option(names = "--timeout", paramLabel = "SECONDS", description = "Per-test time limit (default ${DEFAULT-VALUE}).")
    int timeout = 20;

    @Override
    public Integer call() throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        Pattern p;
        try {
            p = filter == null ? null : Pattern.compile(filter);
        } catch (PatternSyntaxException e) {
            throw new IllegalArgumentException("check-onnx: bad --filter regex: " + e.getDescription());
        }
        ConformanceReport report = new NodeTestRunner(OpRegistry.standard(), timeout * 1000L).run(dir, p);
        out.print(report.table());
        if (failures)
            for (ConformanceReport.Case c : report.cases())
                if (!c.passed()) out.println("FAIL " + c.test() + ": " + c.reason());
        List<String> failing = report.failingOps();
        if (!failing.isEmpty()) out.println("failing ops (" + failing.size() + "): " + String.join(", ", failing));
        out.println(report.summary());
        if (json != null) AtomicWrite.writeString(json, report.toJson());
        return report.failed() == 0 ? Main.OK : Main.FAILURE;
    }
}
