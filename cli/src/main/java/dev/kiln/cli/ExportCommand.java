package dev.kiln.cli;

import dev.kiln.compress.ModelCheckpoint;
import dev.kiln.onnx.export.OnnxExport;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code kiln export CKPT --out model.onnx}: a Kiln checkpoint (from {@code kiln train --save},
 * {@code prune}, {@code fuse} or {@code distill}) as an ONNX model with a dynamic batch axis, which
 * {@code kiln run}, ONNX Runtime and PyTorch's onnx checker accept.
 */
@Command(name = "export", mixinStandardHelpOptions = true,
        description = {"Export a Kiln checkpoint as ONNX (input 'input' with a dynamic batch axis, output 'output').",
                "Or a TensorFlow SavedModel directory: one signature, inputs and outputs named by its keys."})
final class ExportCommand implements Callable<Integer> {
    @Spec private CommandSpec spec;

    @Parameters(index = "0", paramLabel = "CKPT|DIR", description = "A Kiln checkpoint (its architecture, or its model name: mlp, cnn, ...), or a SavedModel directory.")
    Path checkpoint;

    @Option(names = "--out", required = true, paramLabel = "FILE.onnx", description = "Where to write the ONNX model.")
    Path out;

    @Option(names = "--opset", defaultValue = "17", description = "ONNX opset, 13 to 17 (default: ${DEFAULT-VALUE}).")
    int opset;

    @Option(names = "--input-shape", defaultValue = "1,28,28", split = ",", paramLabel = "D,...",
            description = "Input shape without the batch axis (default: ${DEFAULT-VALUE}, a Fashion-MNIST image).")
    int[] inputShape;

    @Option(names = "--signature", paramLabel = "KEY", description = "SavedModel directories: the signature to export (default: serving_default, or the only one).")
    String signature;

    @Override
    public Integer call() throws IOException {
        PrintWriter pw = spec.commandLine().getOut();
        if (Files.isDirectory(checkpoint)) return exportSavedModel(pw);
        if (signature != null) throw new IllegalArgumentException("export: --signature applies to TensorFlow SavedModel directories only");
        CliChecks.requireCheckpoint("export", checkpoint);
        if (opset < OnnxExport.MIN_OPSET || opset > OnnxExport.MAX_OPSET)
            throw new IllegalArgumentException("export: --opset " + opset + " is not supported (" + OnnxExport.MIN_OPSET + " to " + OnnxExport.MAX_OPSET + ")");
        for (int d : inputShape) CliChecks.atLeast("export", "--input-shape", d, 1);
        int[] shape = new int[inputShape.length + 1];
        shape[0] = 1;
        System.arraycopy(inputShape, 0, shape, 1, inputShape.length);
        try (ModelCheckpoint.Loaded loaded = ModelCheckpoint.load(checkpoint)) {
            loaded.model().eval();
            OnnxExport.export(loaded.model(), shape, out, opset);
            pw.printf(Locale.ROOT, "wrote %s: opset %d, input [batch, %s], %,d parameters, %,d bytes%n", out, opset,
                    Arrays.toString(inputShape).replaceAll("[\\[\\]]", ""), loaded.model().parameterCount(), Files.size(out));
        }
        return Main.OK;
    }

    /** A SavedModel signature, lowered to ONNX ops (opset 17; inputs and outputs named by the signature's keys). */
    private int exportSavedModel(PrintWriter pw) throws IOException {
        if (!dev.kiln.savedmodel.SavedModel.isSavedModel(checkpoint))
            throw new IllegalArgumentException(checkpoint + " is a directory without saved_model.pb (not a TensorFlow SavedModel)");
        var sm = dev.kiln.savedmodel.SavedModel.load(checkpoint);
        String sig = signature != null ? signature : sm.defaultSignature();
        dev.kiln.onnx.OnnxModel m = sm.toOnnx(sig);
        try {
            dev.kiln.onnx.export.OnnxModelWriter.write(m, out);
            pw.printf(Locale.ROOT, "wrote %s: signature '%s', opset 17, %d nodes, %d initializers, %,d bytes%n", out, sig,
                    m.graph().nodes().size(), m.graph().initializers().size(), Files.size(out));
        } finally {
            dev.kiln.onnx.OnnxExecutor.release(m);
        }
        return Main.OK;
    }
}
