package dev.kiln.cli;

import dev.kiln.backend.cpu.CpuConfig;
import jdk.incubator.vector.FloatVector;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.nio.file.Path;

import java.io.PrintWriter;
import java.lang.reflect.InvocationTargetException;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code kiln info}: the JDK, the CPU, the Vector API species, the CPU backend switches and whether
 * CUDA could be used. Each probe catches everything (missing module, missing native library) and
 * reports it as text; without MODEL this command never fails.
 */
@Command(name = "info", mixinStandardHelpOptions = true,
        description = {"Show the JDK, CPU, Vector API width, CPU backend settings and CUDA availability.",
                "With MODEL (an ONNX or TorchScript model, a TensorFlow SavedModel directory, or a Kiln checkpoint, known by content): its inputs, outputs, ops/modules, parameter count and size."})
public final class InfoCommand implements Callable<Integer> {
    @Spec private CommandSpec spec;

    @Parameters(index = "0", arity = "0..1", paramLabel = "MODEL", description = "A model file to describe instead.")
    Path model;

    @Override
    public Integer call() throws java.io.IOException {
        PrintWriter out = spec.commandLine().getOut();
        if (model != null) {
            if (java.nio.file.Files.isDirectory(model)) {
                if (!dev.kiln.savedmodel.SavedModel.isSavedModel(model))
                    throw new IllegalArgumentException(model + " is a directory without saved_model.pb (not a TensorFlow SavedModel)");
                out.print(dev.kiln.savedmodel.SavedModelInfo.describe(dev.kiln.savedmodel.SavedModel.load(model)));
            } else if (CliChecks.inputKind(model) == dev.kiln.io.FileKind.SAFETENSORS) {
                out.print(describeCheckpoint(model));
            } else {
                try (LoadedModel m = LoadedModel.open(model)) {
                    out.print(m.describe());
                }
            }
            out.flush();
            return Main.OK;
        }
        line(out, "kiln", "0.1.0");
        line(out, "java", Runtime.version() + " (" + System.getProperty("java.vendor") + ") at " + System.getProperty("java.home"));
        line(out, "os", System.getProperty("os.name") + " " + System.getProperty("os.version") + " " + System.getProperty("os.arch"));
        line(out, "cpu cores", Integer.toString(Runtime.getRuntime().availableProcessors()));
        line(out, "max heap", (Runtime.getRuntime().maxMemory() >> 20) + " MiB (tensors live off-heap)");
        line(out, "cpu", probe(() -> dev.kiln.backend.cpu.CpuProfile.get().describe()));
        line(out, "vector api", probe(InfoCommand::vectorInfo));
        line(out, "cpu backend", probe(InfoCommand::cpuBackendInfo));
        line(out, "int8 gemm", probe(dev.kiln.compress.quant.Int8Gemm::kernelDescription));
        line(out, "bf16 gemm", probe(dev.kiln.backend.cpu.Bf16Gemm::describe));
        line(out, "cuda", "ops run on the CPU only (the CUDA backend's memory and kernel loading exist; its ops do not yet)");
        line(out, "cuda runtime", probe(InfoCommand::cudaProbe));
        out.flush();
        return Main.OK;
    }

    /**
     * A Kiln checkpoint (or any safetensors file), from its header: format, model name and
     * architecture when recorded, the other metadata, then the tensors (model and optimizer state
     * counted apart) with their dtypes and shapes.
     */
    static String describeCheckpoint(Path file) {
        StringBuilder sb = new StringBuilder();
        try (dev.kiln.io.SafetensorsFile f = dev.kiln.io.Safetensors.map(file)) {
            var meta = f.metadata();
            boolean kiln = dev.kiln.train.Checkpoint.FORMAT.equals(meta.get("format"));
            sb.append(file).append(": ").append(kiln ? "Kiln checkpoint (" + meta.get("format") + ")" : "safetensors file (not written by Kiln)").append('\n');
            for (var e : meta.entrySet())
                if (!e.getKey().equals("format")) sb.append(String.format(Locale.ROOT, "  %-16s %s%n", e.getKey() + ":", e.getValue()));
            long modelParams = 0, optimState = 0, bytes = 0;
            StringBuilder rows = new StringBuilder();
            for (var e : f.tensors().entrySet()) {
                var t = e.getValue();
                if (e.getKey().startsWith("optim.")) optimState += t.numel();
                else modelParams += t.numel();
                bytes += t.numel() * t.dtype().byteSize();
                rows.append(String.format(Locale.ROOT, "  %-32s %-5s %s%n", e.getKey(), t.dtype(), java.util.Arrays.toString(t.shape())));
            }
            sb.append(String.format(Locale.ROOT, "tensors: %d (%,d model values, %,d optimizer-state values, %,d bytes)%n",
                    f.tensors().size(), modelParams, optimState, bytes));
            sb.append(rows);
        }
        return sb.toString();
    }

    private static void line(PrintWriter out, String key, String value) {
        out.printf(Locale.ROOT, "%-13s %s%n", key + ":", value);
    }

    /** Runs a probe, turning any Throwable (NoClassDefFoundError, UnsatisfiedLinkError...) into text. */
    static String probe(Callable<String> p) {
        try {
            return p.call();
        } catch (Throwable t) {
            return "unavailable (" + describe(t) + ")";
        }
    }

    static String vectorInfo() {
        try {
            var pref = FloatVector.SPECIES_PREFERRED;
            return String.format(Locale.ROOT, "preferred species %d-bit (%d floats); kiln uses %d-bit (%d floats)",
                    pref.vectorBitSize(), pref.length(), CpuConfig.F32.vectorBitSize(), CpuConfig.F32.length());
        } catch (NoClassDefFoundError e) {
            return "unavailable: jdk.incubator.vector is not loaded (run with --add-modules jdk.incubator.vector)";
        }
    }

    static String cpuBackendInfo() {
        return "scalar=" + CpuConfig.scalar() + " (kiln.cpu.scalar), threads=" + CpuConfig.threads()
                + " (kiln.cpu.threads), vectorBits=" + System.getProperty("kiln.cpu.vectorBits", "preferred") + " (kiln.cpu.vectorBits)";
    }

    /** CUDA runtime availability, from the backend's own probe (never throws). */
    static String cudaProbe() {
        var p = dev.kiln.backend.cuda.CudaAvailability.probe();
        return p.available() ? "available, " + p.deviceCount() + " device(s)"
                : p.reason().replaceFirst("^cuda: ", "") + (p.detail() == null || p.detail().isEmpty() ? "" : " (" + describe(new RuntimeException(p.detail())).replaceFirst("^RuntimeException: ", "") + ")");
    }

    private static Throwable unwrap(Throwable t) {
        return t instanceof InvocationTargetException ite && ite.getCause() != null ? ite.getCause() : t;
    }

    private static String describe(Throwable t) {
        String m = Main.oneLine(t.getMessage());
        if (m.length() > 160) m = m.substring(0, 157) + "...";
        return m.isEmpty() ? t.getClass().getSimpleName() : t.getClass().getSimpleName() + ": " + m;
    }
}
