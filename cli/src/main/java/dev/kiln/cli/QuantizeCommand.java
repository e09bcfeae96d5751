package dev.kiln.cli;

import dev.kiln.compress.quant.OnnxDynamicQuantizer;
import java.util.Set;

import dev.kiln.autograd.GradMode;
import dev.kiln.backend.cpu.CpuConfig;
import dev.kiln.compress.ModelCheckpoint;
import dev.kiln.compress.quant.Observer;
import dev.kiln.compress.quant.Quantize;
import dev.kiln.compress.quant.QuantizedConv2d;
import dev.kiln.compress.quant.QuantizedLinear;
import dev.kiln.data.DataLoader;
import dev.kiln.nn.Module;
import dev.kiln.nn.Sequential;
import dev.kiln.optim.SGD;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;
import dev.kiln.train.Trainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code kiln quantize CKPT --mode static|dynamic|qat}: int8 quantization of a trained model
 * (BatchNorm folded first), with a table of test accuracy, weight bytes and batch-64 latency of
 * the fp32 and int8 models. With {@code --out FILE} the int8 model is saved in Kiln's checkpoint
 * format ({@link ModelCheckpoint}: int8 weights as I8 tensors, scales and biases as F32, the
 * activation parameters in the architecture line), reloaded, and checked to give the same outputs.
 */
@Command(name = "quantize", mixinStandardHelpOptions = true,
        description = "Quantize a trained model to int8 (static PTQ, dynamic, or QAT) and compare it with fp32.")
final class QuantizeCommand implements Callable<Integer> {
    @Spec private CommandSpec spec;

    @Parameters(index = "0", paramLabel = "CKPT|MODEL.onnx", description = "A Kiln checkpoint (from kiln train --save, prune or fuse), or an ONNX model (dynamic int8, written as ONNX Runtime's quantize_dynamic does).")
    Path checkpoint;

    @Option(names = "--model", description = "Architecture (mlp, cnn, mlp-small, cnn-bn) of a checkpoint that does not record it (default: the one recorded in the checkpoint).")
    String model;

    @Option(names = "--mode", description = "static, dynamic or qat (default: static for a checkpoint, dynamic for an .onnx file, the only mode ONNX files have).")
    String mode;

    @Option(names = "--per-channel", description = "ONNX: one weight scale per output column instead of one per tensor.")
    boolean perChannel;

    @Option(names = "--weight-only", paramLabel = "BITS", description = "ONNX: weight-only 4- or 8-bit blocks (com.microsoft MatMulNBits; see --accuracy-level) instead of dynamic int8.")
    Integer weightOnly;

    @Option(names = "--block-size", defaultValue = "32", description = "ONNX, with --weight-only: weights per scale along K, a power of two >= 16 (default: ${DEFAULT-VALUE}).")
    int blockSize;

    @Option(names = "--accuracy-level", defaultValue = "4", description = "ONNX, with --weight-only: MatMulNBits' accuracy_level: 4 lets Kiln and ONNX Runtime quantize activations to int8 per block of 32 for their integer kernels (faster); 0 keeps float activations (default: ${DEFAULT-VALUE}).")
    int accuracyLevel;

    @Option(names = "--op-types", split = ",", defaultValue = "MatMul,Gemm", description = "ONNX: op types to quantize (default: ${DEFAULT-VALUE}).")
    List<String> opTypes;

    @Option(names = "--exclude-nodes", split = ",", description = "ONNX: node names to leave in float.")
    List<String> excludeNodes = new ArrayList<>();

    /** ONNX: inputs for the float / quantized comparison. */
    @Mixin ModelInputOptions feed;

    @Option(names = "--observer", defaultValue = "minmax", description = "Static calibration: minmax, moving, percentile or mse (default: ${DEFAULT-VALUE}).")
    String observer;

    @Option(names = "--calib-batches", defaultValue = "8", description = "Training batches of 128 images for static calibration (default: ${DEFAULT-VALUE}).")
    int calibBatches;

    @Option(names = "--qat-epochs", defaultValue = "1", description = "Fine-tuning epochs with fake quantization (default: ${DEFAULT-VALUE}).")
    int qatEpochs;

    @Option(names = "--data", defaultValue = "fashion-mnist", description = "Fashion-MNIST, or a directory of IDX files.")
    String data;

    @Option(names = "--threads", description = "CPU threads (default: all cores).")
    Integer threads;

    @Option(names = "--out", paramLabel = "FILE", description = "Save the int8 model here (a Kiln checkpoint; load it with ModelCheckpoint.load).")
    Path outFile;

    @Option(names = "--latency-seconds", defaultValue = "1.0", description = "Time budget of each latency measurement (default: ${DEFAULT-VALUE}).")
    double latencySeconds;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        if (CliChecks.inputKind(checkpoint).isOnnx()) return quantizeOnnx(out);
        if (mode == null) mode = "static";
        kindOf(); // validates --observer
        if (!List.of("static", "dynamic", "qat").contains(mode))
            throw new IllegalArgumentException("quantize: unknown mode '" + mode + "' (static, dynamic, qat)");
        CliChecks.atLeast("quantize", "--calib-batches", calibBatches, 1);
        CliChecks.atLeast("quantize", "--qat-epochs", qatEpochs, 0);
        CliChecks.positive("quantize", "--latency-seconds", latencySeconds);
        if (threads != null) CliChecks.atLeast("quantize", "--threads", threads, 1);
        if (threads != null) CpuConfig.setThreads(threads);
        try (Module fp32 = CompressSupport.loadModel("quantize", "--model", model, checkpoint);
             FashionData.Sets d = FashionData.load(data, null, "quantize");
             DataLoader test = DataLoader.builder(d.test()).batchSize(1000).prefetch(false).build();
             Tensor sample = d.test().features().narrow(0, 0, Math.min(64, d.test().size())).contiguous()) {
            out.println(d.note());
            try (Sequential int8 = quantize(fp32, d, out)) {
                int8.eval();
                out.printf("%-8s %12s %14s %16s%n", "model", "test acc", "weight bytes", "b64 latency ms");
                row(out, "fp32", fp32, test, sample, latencySeconds);
                row(out, "int8", int8, test, sample, latencySeconds);
                // the two models timed in turn on the same batch (the rows above run one after the other,
                // and this VM's speed moves between them): the speed-up to quote
                double[] pair = CompressSupport.latencyPair(fp32, int8, sample, latencySeconds);
                out.printf(Locale.ROOT, "int8 vs fp32 at batch %d, timed alternately: %.3f vs %.3f ms, %.2fx faster%n",
                        sample.shape()[0], 1000 * pair[1], 1000 * pair[0], pair[0] / pair[1]);
                if (outFile != null) save(out, fp32, int8, sample);
            }
        }
        out.flush();
        return Main.OK;
    }

    /**
     * {@code kiln quantize MODEL.onnx --out OUT.onnx}: dynamic int8 as ONNX Runtime's quantize_dynamic
     * writes it ({@link OnnxDynamicQuantizer}), then sizes, and with inputs (--input/--shape) the
     * int8 outputs against the float model's, both run by Kiln.
     */
    private Integer quantizeOnnx(PrintWriter out) throws Exception {
        if (mode != null && !mode.equals("dynamic"))
            throw new IllegalArgumentException("quantize: " + checkpoint + ": ONNX files take --mode dynamic only (static ONNX quantization with calibration is not implemented)");
        if (outFile == null) throw new IllegalArgumentException("quantize: " + checkpoint + ": give --out OUT.onnx for the quantized model");
        if (threads != null) CliChecks.atLeast("quantize", "--threads", threads, 1);
        if (threads != null) CpuConfig.setThreads(threads);
        if (weightOnly != null && perChannel)
            throw new IllegalArgumentException("quantize: --per-channel is for dynamic int8; --weight-only has one scale per block (--block-size)");
        var opts = new OnnxDynamicQuantizer.Options(Set.copyOf(opTypes), Set.copyOf(excludeNodes), perChannel,
                weightOnly == null ? 0 : weightOnly, blockSize, accuracyLevel);
        var result = OnnxDynamicQuantizer.quantize(checkpoint, outFile, opts);
        if (weightOnly == null)
            out.printf(Locale.ROOT, "%s: %d nodes quantized to int8 (dynamic, %s weight scales), %d float weights replaced%n",
                    outFile, result.nodes().size(), perChannel ? "per-column" : "per-tensor", result.weightsDropped());
        else
            out.printf(Locale.ROOT, "%s: %d nodes with %d-bit weights (MatMulNBits, blocks of %d along K, %s), %d float weights replaced%n",
                    outFile, result.nodes().size(), weightOnly, blockSize,
                    accuracyLevel == 4 ? "accuracy_level 4: int8 activations allowed" : "accuracy_level " + accuracyLevel + ": float activations",
                    result.weightsDropped());
        double ratio = (double) result.bytesIn() / Math.max(1, result.bytesOut());
        out.printf(Locale.ROOT, "size: %.1f MB -> %.1f MB (%s)%n", result.bytesIn() / 1e6, result.bytesOut() / 1e6,
                ratio >= 1 ? String.format(Locale.ROOT, "%.2fx smaller", ratio) : "larger: the added nodes outweigh the weights saved");
        if (feed.given()) CompressSupport.compareOnnx(out, checkpoint, outFile, feed, "output (kiln f32 vs quantized)");
        out.flush();
        return Main.OK;
    }

    private Sequential quantize(Module fp32, FashionData.Sets d, PrintWriter out) {
        switch (mode) {
            case "dynamic" -> {
                out.println("dynamic int8: per-channel int8 weights, activation ranges from each batch");
                return Quantize.dynamic(fp32);
            }
            case "static" -> {
                List<Tensor> calib = new ArrayList<>();
                int n = Math.min(calibBatches, d.train().size() / 128);
                for (int i = 0; i < n; i++) calib.add(d.train().features().narrow(0, i * 128, 128));
                out.printf(Locale.ROOT, "static int8: activations calibrated on %d batches of 128 (%s observer)%n", n, observer);
                try {
                    return Quantize.staticPtq(fp32, calib, kindOf());
                } finally {
                    calib.forEach(Tensor::close);
                }
            }
            default -> {
                Sequential qat = Quantize.prepareQat(fp32);
                try (SGD sgd = new SGD(qat.parameters(), 0.01, 0.9, 0, 0, false);
                     DataLoader train = DataLoader.builder(d.train()).batchSize(64).shuffle(0).build()) {
                    Trainer trainer = new Trainer(qat, sgd, 1);
                    for (int e = 0; e < qatEpochs; e++) {
                        Trainer.EpochStats st = trainer.trainEpoch(train, null);
                        out.printf(Locale.ROOT, "QAT epoch %d: loss %.4f, %.1f s%n", e + 1, st.meanLoss(), st.seconds());
                    }
                    qat.eval();
                    return Quantize.convertQat(qat);
                } finally {
                    qat.close();
                }
            }
        }
    }

    /**
     * Saves the int8 model, reloads it and prints the file size against the fp32 model saved the
     * same way (model only) and the largest output difference of the reloaded model (0 expected).
     */
    private void save(PrintWriter out, Module fp32, Sequential int8, Tensor sample) throws Exception {
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("quantization", mode + (mode.equals("static") ? " " + observer : ""));
        meta.put("source", checkpoint.getFileName().toString());
        ModelCheckpoint.save(outFile, int8, meta);
        long fp32Bytes = fp32FileBytes(fp32);
        long int8Bytes = Files.size(outFile);
        double diff;
        try (ModelCheckpoint.Loaded l = ModelCheckpoint.load(outFile)) {
            l.model().eval();
            diff = maxAbsDiff(int8, l.model(), sample);
        }
        out.printf(Locale.ROOT, "saved %s: %,d bytes (fp32 model checkpoint: %,d bytes, %.2fx smaller)%n", outFile, int8Bytes, fp32Bytes,
                fp32Bytes / (double) int8Bytes);
        out.printf(Locale.ROOT, "reloaded int8 model: max |output difference| = %s%n", diff);
        if (diff != 0) throw new IllegalStateException("quantize: the reloaded model differs from the saved one (max diff " + diff + ")");
    }

    /** Size of the fp32 model saved model-only in the same format (a temporary file next to --out). */
    private long fp32FileBytes(Module fp32) throws Exception {
        if (!(fp32 instanceof Sequential s)) throw new IllegalArgumentException("quantize: --out needs a Sequential model");
        Path dir = outFile.toAbsolutePath().getParent();
        Path tmp = Files.createTempFile(dir, "fp32-", ".safetensors");
        try {
            ModelCheckpoint.save(tmp, s, Map.of());
            return Files.size(tmp);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    private static double maxAbsDiff(Module a, Module b, Tensor x) {
        try (Scope s = Scope.open(); GradMode.Guard g = GradMode.noGrad()) {
            float[] ya = a.forward(x).toFloatArray(), yb = b.forward(x).toFloatArray();
            double d = 0;
            for (int i = 0; i < ya.length; i++) d = Math.max(d, Math.abs((double) ya[i] - yb[i]));
            return d;
        }
    }

    private Observer.Kind kindOf() {
        return switch (observer) {
            case "moving" -> Observer.Kind.MOVING_AVERAGE;
            case "percentile" -> Observer.Kind.PERCENTILE;
            case "mse" -> Observer.Kind.MSE;
            case "minmax" -> Observer.Kind.MINMAX;
            default -> throw new IllegalArgumentException("quantize: unknown observer '" + observer + "' (minmax, moving, percentile, mse)");
        };
    }

    private static void row(PrintWriter out, String name, Module m, DataLoader test, Tensor sample, double budgetS) throws Exception {
        out.printf(Locale.ROOT, "%-8s %12.4f %,14d %16.3f%n", name, Trainer.accuracy(m, test), weightBytes(m),
                1000 * CompressSupport.latency(m, sample, budgetS));
    }

    /** Bytes of the weights as deployed: int8 values plus a float scale and bias per output channel; other parameters as float32. */
    static long weightBytes(Module m) {
        if (m instanceof Sequential s) {
            long b = 0;
            for (Module c : s.layers()) b += weightBytes(c);
            return b;
        }
        Tensor q = m instanceof QuantizedLinear l ? l.weightInt8() : m instanceof QuantizedConv2d c ? c.weightInt8() : null;
        if (q != null) return q.numel() + 8L * q.size(0);
        return 4 * m.parameterCount();
    }
}
