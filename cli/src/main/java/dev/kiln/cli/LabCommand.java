package dev.kiln.cli;

import dev.kiln.backend.cuda.CudaAvailability;
import dev.kiln.lab.Ceilings;
import dev.kiln.lab.LabOp;
import dev.kiln.lab.LabOps;
import dev.kiln.lab.LabResult;
import dev.kiln.lab.LabRunner;
import dev.kiln.lab.Validation;
import dev.kiln.lab.Variant;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code kiln lab OP}: the kernel lab (see docs/KERNEL_LAB.md). Validates every registered variant
 * of an op against its float64 reference on odd shapes, then times the ones that pass on the
 * timing sizes and prints a table: GB/s or GFLOP/s and % of the device's ceiling. Exit 0 when every
 * variant validated, 1 when one failed (or --device cuda without CUDA), 2 for an unknown op.
 */
@Command(name = "lab", description = {"Kernel lab: validate every variant of an op against a float64 reference, then time them side by side.",
        "Ops: add, exp, softmax, sum, gemm (see --list). Sizes: 8388608, 2048x4096; gemm MxKxN or N."})
final class LabCommand implements Callable<Integer> {
    @Spec private CommandSpec spec;

    @Parameters(arity = "0..1", paramLabel = "OP", description = "The op to run (see --list).")
    String op;

    @Option(names = "--list", description = "List the ops and their variants.")
    boolean list;

    @Option(names = "--device", description = "Only variants on this device: cpu or cuda (default: all).")
    String device;

    @Option(names = "--sizes", split = ",", description = "Timing sizes, comma separated (default: the op's large size).")
    List<String> sizes;

    @Option(names = "--json", paramLabel = "FILE", description = "Also write the rows as JSON to FILE.")
    Path json;

    @Option(names = "--runs", description = "Timed runs per variant (median reported; default ${DEFAULT-VALUE}).")
    int runs = 10;

    @Option(names = "--warmup", description = "Untimed runs first (default ${DEFAULT-VALUE}).")
    int warmup = 3;

    @Override
    public Integer call() throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        Map<String, LabOp> ops = LabOps.builtIn();
        String cuda = CudaAvailability.isAvailable() ? null : "cuda: unavailable (" + CudaAvailability.reason().replaceFirst("^cuda: ", "") + ")";
        if (list) return list(out, ops, cuda);
        if (op == null) throw new IllegalArgumentException("lab: name an op (" + String.join(", ", ops.keySet()) + ") or use --list");
        LabOp labOp = ops.get(op);
        if (labOp == null) throw new IllegalArgumentException("lab: unknown op '" + op + "' (ops: " + String.join(", ", ops.keySet()) + ")");
        if (device != null && !device.equals("cpu") && !device.equals("cuda"))
            throw new IllegalArgumentException("lab: --device must be cpu or cuda, got " + device);
        if (cuda != null && !"cpu".equals(device)) out.println(cuda);
        if ("cuda".equals(device) && cuda != null) return Main.FAILURE;
        List<int[]> timing = timingSizes(labOp);
        List<LabResult> rows = run(out, labOp, timing);
        table(rows).print(out);
        if (json != null) writeJson(rows);
        boolean allPassed = rows.stream().allMatch(r -> r.validation().passed());
        return allPassed ? Main.OK : Main.FAILURE;
    }

    private int list(PrintWriter out, Map<String, LabOp> ops, String cuda) {
        for (LabOp o : ops.values()) {
            List<String> vs = new ArrayList<>();
            for (Variant v : o.variants()) vs.add(v.name() + " (" + v.device() + ")");
            out.println(o.name() + ": " + String.join(", ", vs));
        }
        if (cuda != null) out.println(cuda);
        return Main.OK;
    }

    private List<int[]> timingSizes(LabOp labOp) {
        if (sizes == null || sizes.isEmpty()) return List.of(labOp.timingSize());
        List<int[]> s = new ArrayList<>();
        for (String text : sizes) s.add(labOp.parseSize(text));
        return s;
    }

    private List<LabResult> run(PrintWriter out, LabOp labOp, List<int[]> timing) {
        LabRunner runner = new LabRunner(42, warmup, runs, 3.0);
        Ceilings cpu = null, gpu = null;
        List<LabResult> rows = new ArrayList<>();
        for (Variant v : labOp.variants()) {
            if (device != null && !device.equals(v.device())) continue;
            Ceilings c;
            if (v.device().equals("cuda")) c = gpu != null ? gpu : (gpu = Ceilings.cuda());
            else c = cpu != null ? cpu : (cpu = Ceilings.cpu());
            Validation val = runner.validate(labOp, v);
            if (!val.passed()) out.println("FAIL " + v.name() + ": " + val.failure());
            for (int[] size : timing) rows.add(row(runner, labOp, v, val, size, c));
        }
        if (cpu != null) out.println(cpu.note());
        if (gpu != null) out.println(gpu.note());
        return rows;
    }

    private static LabResult row(LabRunner runner, LabOp labOp, Variant v, Validation val, int[] size, Ceilings c) {
        double sec = val.passed() ? runner.time(labOp, v, size) : Double.NaN;
        double rate = labOp.work(size) / sec * 1e-9;
        String unit = switch (labOp.unit()) {
            case BYTES -> "GB/s";
            case FLOPS -> "GFLOP/s";
            case INT8_OPS -> "GOP/s";
        };
        return new LabResult(labOp.name(), v.name(), v.device(), val, LabOp.sizeText(size), sec, rate, unit, c.of(labOp.unit()));
    }

    private static ResultTable table(List<LabResult> rows) {
        ResultTable t = new ResultTable("variant", "device", "valid", "max err", "size", "time", "rate", "% ceiling")
                .alignRight(3, 5, 6, 7);
        for (LabResult r : rows) {
            boolean timed = !Double.isNaN(r.seconds());
            t.add(r.variant(), r.device(), r.validation().passed() ? "pass" : "FAIL",
                    fmt("%.2e", r.validation().maxError()), r.size(),
                    timed ? time(r.seconds()) : "-",
                    timed ? fmt(r.rate() < 10 ? "%.3f " : "%.1f ", r.rate()) + r.unit() : "-",
                    timed ? fmt("%.0f%%", r.percentOfCeiling()) : "-");
        }
        return t;
    }

    private static String time(double s) {
        return s >= 1 ? fmt("%.2f s", s) : s >= 1e-3 ? fmt("%.2f ms", s * 1e3) : fmt("%.1f us", s * 1e6);
    }

    private static String fmt(String f, double v) { return String.format(Locale.ROOT, f, v); }

    private void writeJson(List<LabResult> rows) throws IOException {
        StringBuilder sb = new StringBuilder("[\n");
        for (int i = 0; i < rows.size(); i++) {
            LabResult r = rows.get(i);
            sb.append(String.format(Locale.ROOT,
                    "  {\"op\": \"%s\", \"variant\": \"%s\", \"device\": \"%s\", \"valid\": %b, \"max_error\": %s, "
                            + "\"size\": \"%s\", \"seconds\": %s, \"rate\": %s, \"unit\": \"%s\", \"ceiling\": %s, \"percent_of_ceiling\": %s}",
                    r.op(), r.variant(), r.device(), r.validation().passed(), num(r.validation().maxError()),
                    r.size(), num(r.seconds()), num(r.rate()), r.unit(), num(r.ceiling()), num(r.percentOfCeiling())));
            sb.append(i + 1 < rows.size() ? ",\n" : "\n");
        }
        Files.writeString(json, sb.append("]\n").toString());
    }

    private static String num(double v) { return Double.isFinite(v) ? String.format(Locale.ROOT, "%.6g", v) : "null"; }
}
