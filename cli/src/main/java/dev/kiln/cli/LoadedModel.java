package dev.kiln.cli;

import dev.kiln.io.FileKind;
import dev.kiln.io.KilnFormatException;
import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.OnnxExecutor;
import dev.kiln.onnx.OnnxInfo;
import dev.kiln.onnx.OnnxModel;
import dev.kiln.onnx.OnnxReader;
import dev.kiln.onnx.Value;
import dev.kiln.onnx.ValueInfo;
import dev.kiln.savedmodel.SavedModel;
import dev.kiln.savedmodel.SavedModelInfo;
import dev.kiln.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A model opened by {@code kiln run} / {@code kiln info}: ONNX or TorchScript (a zip), known by
 * content, not by name, or a TensorFlow SavedModel directory (one signature, lowered to ONNX ops). Inputs are given by name or by position; outputs come back by name (ONNX: the
 * graph's output names; TorchScript: output_0, output_1, ... over the flattened result).
 */
interface LoadedModel extends AutoCloseable {
    /** Text for {@code kiln info MODEL}. */
    String describe();

    /** Runs the model; the caller keeps ownership of the inputs and owns the outputs. */
    LinkedHashMap<String, Tensor> run(Map<String, Tensor> named, List<Tensor> positional);

    @Override void close();

    /** Opens an ONNX or TorchScript model, told apart by content ({@link FileKind}), whatever the file is named. */
    static LoadedModel open(Path file) throws IOException { return open(file, OnnxExecutor.Precision.F32); }

    /** The same; an ONNX model's constant-weight matrix products run in the given precision (TorchScript: f32 only). */
    static LoadedModel open(Path file, OnnxExecutor.Precision precision) throws IOException { return open(file, precision, null); }

    /**
     * The same, and a SavedModel directory too: its signature {@code signature} (null: serving_default,
     * or the only one), lowered to Kiln's ONNX ops; {@code signature} is refused for files.
     */
    static LoadedModel open(Path file, OnnxExecutor.Precision precision, String signature) throws IOException {
        if (java.nio.file.Files.isDirectory(file)) {
            if (!SavedModel.isSavedModel(file))
                throw new IllegalArgumentException(file + " is a directory without saved_model.pb (not a TensorFlow SavedModel)");
            SavedModel sm = SavedModel.load(file);
            String sig = signature != null ? signature : sm.defaultSignature();
            return new Onnx(file, sm.toOnnx(sig), SavedModelInfo.describe(sm), precision);
        }
        if (signature != null) throw new IllegalArgumentException(file + ": --signature applies to TensorFlow SavedModel directories only");
        FileKind kind = CliChecks.inputKind(file);
        if (precision != OnnxExecutor.Precision.F32 && kind != FileKind.ONNX)
            throw new IllegalArgumentException(file + ": --precision " + precision.name().toLowerCase(java.util.Locale.ROOT) + " needs an ONNX model");
        return switch (kind) {
            case ONNX -> new Onnx(file, precision);
            case ZIP -> TorchScriptRunner.open(file);
            case ONNX_TRUNCATED -> throw new KilnFormatException("truncated or not an ONNX file (" + file + ")");
            case SAFETENSORS -> throw new IllegalArgumentException(file + " is a Kiln checkpoint (safetensors), not an ONNX or TorchScript model"
                    + " (kiln info describes it; kiln export turns it into ONNX)");
            default -> {
                String name = file.getFileName().toString().toLowerCase(java.util.Locale.ROOT);
                if (name.endsWith(".onnx")) throw new KilnFormatException("truncated or not an ONNX file (" + file + ")");
                throw new IllegalArgumentException(file + " is " + kind.description() + ", not a model (expected an ONNX model, or TorchScript saved by torch.jit.save)");
            }
        };
    }

    /** An ONNX model through {@link OnnxExecutor}. */
    final class Onnx implements LoadedModel {
        private final OnnxModel model;
        private final Path file;
        private final OnnxExecutor.Precision precision;
        private OnnxExecutor executor; // created on first run: describing needs no op support

        private final String description;

        Onnx(Path file, OnnxExecutor.Precision precision) throws IOException {
            this(file, OnnxReader.read(file), null, precision);
        }

        /** An ONNX model already in memory (a lowered SavedModel signature); description null: describe the ONNX graph. */
        Onnx(Path file, OnnxModel model, String description, OnnxExecutor.Precision precision) {
            this.file = file;
            this.precision = precision;
            this.model = model;
            this.description = description;
        }

        @Override public String describe() { return description != null ? description : OnnxInfo.describe(model); }

        @Override
        public LinkedHashMap<String, Tensor> run(Map<String, Tensor> named, List<Tensor> positional) {
            if (executor == null) executor = new OnnxExecutor(model, precision);
            List<ValueInfo> feeds = executor.feedInputs();
            if (positional.size() > feeds.size())
                throw new IllegalArgumentException(file + ": " + positional.size() + " positional inputs given, the model has "
                        + feeds.size() + " inputs " + names(feeds));
            Map<String, Value> in = new LinkedHashMap<>();
            for (int i = 0; i < positional.size(); i++) in.put(feeds.get(i).name(), value(feeds.get(i), positional.get(i)));
            for (var e : named.entrySet()) {
                ValueInfo vi = feeds.stream().filter(f -> f.name().equals(e.getKey())).findFirst().orElseThrow(() ->
                        new IllegalArgumentException(file + ": no input named '" + e.getKey() + "'; inputs are " + names(feeds)));
                if (in.put(vi.name(), value(vi, e.getValue())) != null)
                    throw new IllegalArgumentException(file + ": input '" + vi.name() + "' given twice");
            }
            LinkedHashMap<String, Tensor> out = new LinkedHashMap<>();
            for (var e : executor.run(in).entrySet()) out.put(e.getKey(), e.getValue().tensor());
            return out;
        }

        /** The tensor as the declared ONNX type (exact dtype match; no silent conversion). */
        private Value value(ValueInfo vi, Tensor t) {
            ElemType want = vi.elemType();
            if (want == null || want == ElemType.UNDEFINED) return Value.of(t);
            if (want.storage() == t.dtype()) return Value.of(t, want);
            throw new IllegalArgumentException(file + ": input '" + vi.name() + "' must be " + want + ", got a "
                    + t.dtype() + " array");
        }

        private static List<String> names(List<ValueInfo> feeds) {
            List<String> n = new ArrayList<>();
            for (ValueInfo v : feeds) n.add(v.name());
            return n;
        }

        @Override
        public void close() {
            if (executor != null) executor.close();
            else OnnxExecutor.release(model);
        }
    }
}
