package dev.kiln.cli;

import dev.kiln.io.Npy;
import dev.kiln.onnx.OnnxExecutor;
import dev.kiln.tensor.Tensor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code kiln run MODEL --input NAME=FILE.npy ... [--input FILE.npy] --output-dir DIR}: runs an ONNX
 * or TorchScript model, or a TensorFlow SavedModel directory ({@code --signature}), on .npy inputs and writes one .npy per output (ONNX: the graph's output
 * names; TorchScript: output_0.npy, ...). Prints one line per output with its shape and dtype.
 */
@Command(name = "run", mixinStandardHelpOptions = true,
        description = "Run an ONNX (.onnx) or TorchScript (.pt) model or a TensorFlow SavedModel directory on .npy inputs; write one .npy per output.")
final class RunCommand implements Callable<Integer> {
    @Spec private CommandSpec spec;

    @Parameters(index = "0", paramLabel = "MODEL", description = "The model: a .onnx file, a .pt/.pth saved by torch.jit.save, or a SavedModel directory.")
    Path model;

    @Option(names = "--input", paramLabel = "[NAME=]FILE.npy",
            description = "An input: NAME=FILE.npy by name, or FILE.npy for the next positional input. Repeatable.")
    List<String> inputs = new ArrayList<>();

    @Option(names = "--output-dir", paramLabel = "DIR", required = true, description = "Where to write the outputs (created if missing).")
    Path outputDir;

    @Option(names = "--precision", paramLabel = "f32|bf16", description = "Matrix products with constant weights in f32 (default) or bf16 "
            + "(opt-in: 8 significant bits per input, f32 sums; ONNX models).")
    String precision = "f32";

    @Option(names = "--signature", paramLabel = "KEY", description = "SavedModel directories: the signature to run (default: serving_default, or the only one).")
    String signature;

    @Option(names = "--device", paramLabel = "cpu|cuda", description = "Device to run on: cpu (default), or cuda (not yet: model execution runs on the CPU backend).")
    String device = "cpu";

    @Override
    public Integer call() throws IOException {
        checkDevice(device);
        OnnxExecutor.Precision prec = CliChecks.precision(precision);
        for (String spec : inputs) {
            Path f = Path.of(spec.indexOf('=') > 0 ? spec.substring(spec.indexOf('=') + 1) : spec);
            dev.kiln.io.FileKind k = CliChecks.inputKind("--input ", f);
            if (k != dev.kiln.io.FileKind.NPY) throw new IllegalArgumentException("--input " + f + " is " + k.description() + ", not a .npy array");
        }
        PrintWriter out = spec.commandLine().getOut();
        Map<String, Tensor> named = new LinkedHashMap<>();
        List<Tensor> positional = new ArrayList<>();
        try (LoadedModel m = LoadedModel.open(model, prec, signature)) {
            try {
                readInputs(named, positional);
                long t0 = System.nanoTime();
                LinkedHashMap<String, Tensor> outputs = m.run(named, positional);
                double ms = (System.nanoTime() - t0) / 1e6;
                Files.createDirectories(outputDir);
                try {
                    for (var e : outputs.entrySet()) {
                        Path f = outputDir.resolve(fileName(e.getKey()) + ".npy");
                        Tensor t = e.getValue();
                        Npy.write(f, t);
                        out.printf(Locale.ROOT, "%s: %s %s -> %s%n", e.getKey(), t.dtype(), Arrays.toString(t.shape()), f);
                    }
                } finally {
                    outputs.values().forEach(Tensor::close);
                }
                out.printf(Locale.ROOT, "ran in %.1f ms%n", ms);
            } finally {
                named.values().forEach(Tensor::close);
                positional.forEach(Tensor::close);
            }
        }
        return Main.OK;
    }

    private void readInputs(Map<String, Tensor> named, List<Tensor> positional) throws IOException {
        for (String spec : inputs) {
            int eq = spec.indexOf('=');
            if (eq > 0) named.put(spec.substring(0, eq), Npy.read(Path.of(spec.substring(eq + 1))));
            else positional.add(Npy.read(Path.of(spec)));
        }
    }

    /** --device: cpu runs; cuda says why it cannot (no CUDA here, or no CUDA model execution yet); anything else is unknown. */
    static void checkDevice(String device) {
        switch (device) {
            case "cpu" -> { }
            case "cuda" -> {
                var probe = dev.kiln.backend.cuda.CudaAvailability.probe();
                throw new IllegalArgumentException("run --device cuda: " + (probe.available()
                        ? "CUDA is present (" + probe.deviceCount() + " device(s)) but Kiln runs ONNX/TorchScript models on the CPU backend only so far; use --device cpu"
                        : "CUDA is not available here (" + probe.reason().replaceFirst("^cuda: ", "") + "); use --device cpu"));
            }
            default -> throw new IllegalArgumentException("run: unknown device '" + device + "' (cpu or cuda)");
        }
    }

    /** An output name as a safe file name (ONNX names may contain '/', ':' and the like). */
    static String fileName(String name) {
        String s = name.replaceAll("[^A-Za-z0-9._-]", "_");
        return s.isEmpty() || s.startsWith(".") ? "_" + s : s;
    }
}
