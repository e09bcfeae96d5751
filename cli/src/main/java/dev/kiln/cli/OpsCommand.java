package dev.kiln.cli;

import dev.kiln.optable.OpTable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code kiln ops}: the op table ({@link OpTable}): per engine op the kernel each backend runs per
 * dtype, its gradient and the importer names that map onto it; then per importer how many of its
 * ops run as engine ops of the table. {@code --json FILE} writes all of it, every importer op included.
 */
@Command(name = "ops", mixinStandardHelpOptions = true,
        description = {"List Kiln's ops: per op the CPU and CUDA kernel per dtype, the gradient, and its ONNX, TorchScript and SavedModel names.",
                "Read from the code (the op definitions, the backends, kernels/elementwise.cu and the importers' registries)."})
public final class OpsCommand implements Callable<Integer> {
    @Spec private CommandSpec spec;

    @Option(names = "--json", paramLabel = "FILE", description = "Also write the whole table (every importer op included) as JSON to FILE.")
    Path json;

    @Override
    public Integer call() throws java.io.IOException {
        PrintWriter out = spec.commandLine().getOut();
        ResultTable t = new ResultTable("op", "family", "cpu f32", "cpu f64", "cpu int", "cuda f32", "cuda f64", "grad", "onnx", "torchscript", "savedmodel");
        List<OpTable.Row> rows = OpTable.rows();
        for (OpTable.Row r : rows)
            t.add(r.op(), r.family(), r.cpuF32(), r.cpuF64(), r.cpuInt(), r.cudaF32(), r.cudaF64(), r.gradient(), r.onnx() == null ? "-" : r.onnx(),
                    r.torchscript().isEmpty() ? "-" : String.join(" ", r.torchscript()), r.tensorflow().isEmpty() ? "-" : String.join(" ", r.tensorflow()));
        out.println(rows.size() + " engine ops: unary, binary, comparisons and reductions (each defined in one place), then the backend's"
                + " other kernels by Backend method (\"default\": the caller composes it from other ops):");
        t.print(out);
        Map<String, int[]> counts = new LinkedHashMap<>();
        for (OpTable.ImporterOp o : OpTable.importerOps()) {
            int[] c = counts.computeIfAbsent(o.importer(), k -> new int[2]);
            c[0]++;
            if (o.engineOp() != null) c[1]++;
        }
        for (Map.Entry<String, int[]> e : counts.entrySet())
            out.println(e.getKey() + ": " + e.getValue()[0] + " op names, " + e.getValue()[1] + " of them run as engine ops of this table");
        if (json != null) {
            Files.writeString(json, OpTable.json(), StandardCharsets.UTF_8);
            out.println("wrote " + json);
        }
        out.flush();
        return Main.OK;
    }
}
