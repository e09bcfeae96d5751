package dev.kiln.savedmodel;

import dev.kiln.io.KilnFormatException;
import dev.kiln.onnx.OnnxExecutor;
import dev.kiln.onnx.OnnxModel;
import dev.kiln.onnx.ValueInfo;
import dev.kiln.onnx.proto.ProtoReader;
import dev.kiln.savedmodel.TfGraph.MetaGraph;
import dev.kiln.savedmodel.TfGraph.Signature;
import dev.kiln.tensor.Tensor;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * A TensorFlow SavedModel directory ({@code saved_model.pb} + {@code variables/variables.index} +
 * {@code variables/variables.data-*}), read in pure Java: one MetaGraphDef (the one tagged
 * {@code serve} by default), its signatures, and its variables checkpoint.
 * <p>
 * A signature runs by lowering its part of the graph to Kiln's ONNX op set ({@link #toOnnx}) and
 * handing that to an {@link OnnxExecutor} ({@link #executor}): the same graph fusions and kernels
 * as an ONNX file, inputs and outputs named by the signature's keys. Nothing in the directory is
 * executed as code, and only the three files above are opened.
 */
public final class SavedModel {
    private final Path dir;
    private final String file;
    private final MetaGraph meta;
    private final TensorBundle variables;

    private SavedModel(Path dir, String file, MetaGraph meta, TensorBundle variables) {
        this.dir = dir;
        this.file = file;
        this.meta = meta;
        this.variables = variables;
    }

    /** True when dir looks like a SavedModel (holds {@code saved_model.pb} or {@code saved_model.pbtxt}). */
    public static boolean isSavedModel(Path dir) {
        return Files.isDirectory(dir) && (Files.isRegularFile(dir.resolve("saved_model.pb")) || Files.isRegularFile(dir.resolve("saved_model.pbtxt")));
    }

    /** Loads the MetaGraphDef tagged {@code serve}, or the only one when the file holds one. */
    public static SavedModel load(Path dir) throws IOException { return load(dir, null); }

    /** Loads the MetaGraphDef whose tags are exactly {@code tags} (null: as {@link #load(Path)}). */
    public static SavedModel load(Path dir, Set<String> tags) throws IOException {
        boolean lenient = tags == null;
        if (lenient) tags = Set.of("serve");
        if (!Files.isDirectory(dir)) throw new NoSuchFileException(dir.toString(), null, "not a SavedModel directory");
        Path pb = dir.resolve("saved_model.pb");
        if (!Files.isRegularFile(pb)) {
            if (Files.isRegularFile(dir.resolve("saved_model.pbtxt")))
                throw new KilnFormatException(dir.resolve("saved_model.pbtxt") + ": text-format SavedModels are not supported (save it in binary form)");
            throw new NoSuchFileException(pb.toString(), null, "not a SavedModel directory (no saved_model.pb)");
        }
        String file = pb.toString();
        List<MetaGraph> metas;
        try (FileChannel ch = FileChannel.open(pb, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size == 0) throw new KilnFormatException(file + ": empty file");
            MemorySegment seg = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, Arena.ofAuto());
            metas = TfProtoReader.savedModel(ProtoReader.of(seg, file));
        }
        if (metas.isEmpty()) throw new KilnFormatException(file + ": no MetaGraphDef (not a SavedModel?)");
        MetaGraph chosen = null;
        for (MetaGraph m : metas) if (new TreeSet<>(m.tags()).equals(new TreeSet<>(tags))) chosen = m;
        if (chosen == null && lenient && metas.size() == 1) chosen = metas.get(0);
        if (chosen == null) {
            List<String> have = new ArrayList<>();
            for (MetaGraph m : metas) have.add(ProtoReader.printable(String.join(",", m.tags()), 80));
            throw new KilnFormatException(file + ": no MetaGraphDef tagged " + String.join(",", tags) + " (have: " + String.join("; ", have) + ")");
        }
        Path prefix = dir.resolve("variables").resolve("variables");
        TensorBundle vars = Files.isRegularFile(prefix.resolveSibling("variables.index")) ? TensorBundle.open(prefix) : null;
        return new SavedModel(dir, file, chosen, vars);
    }

    public Path directory() { return dir; }

    public List<String> tags() { return meta.tags(); }

    /** Signatures by key (sorted). */
    public Map<String, Signature> signatures() { return meta.signatures(); }

    /** The variables checkpoint, or null when the model has none. */
    public TensorBundle variables() { return variables; }

    /** The parsed MetaGraphDef (nodes and function library), for tools. */
    public MetaGraph metaGraph() { return meta; }

    /** {@code serving_default} when present, else the only signature; an error otherwise. */
    public String defaultSignature() throws KilnFormatException {
        if (meta.signatures().containsKey("serving_default")) return "serving_default";
        if (meta.signatures().size() == 1) return meta.signatures().keySet().iterator().next();
        throw new KilnFormatException(file + ": " + (meta.signatures().isEmpty() ? "no signatures"
                : "no serving_default signature; pick one of " + ProtoReader.printable(String.join(", ", meta.signatures().keySet()), 300)));
    }

    private Signature signature(String key) throws KilnFormatException {
        Signature s = meta.signatures().get(key);
        if (s == null) throw new KilnFormatException(file + ": no signature '" + ProtoReader.printable(key, 80) + "' (have: "
                + ProtoReader.printable(String.join(", ", meta.signatures().keySet()), 300) + ")");
        return s;
    }

    /**
     * The signature as an ONNX model of Kiln's ops (opset 17), graph inputs and outputs named by the
     * signature's keys; the caller owns its tensors (an {@link OnnxExecutor} built on it takes them over).
     * Every TF op the signature needs that Kiln cannot lower is named in one error.
     */
    public OnnxModel toOnnx(String signature) throws IOException {
        return TfImporter.lower(file, meta, signature(signature), variables);
    }

    /** An executor for one signature (it owns the lowered model; close it when done). */
    public OnnxExecutor executor(String signature) throws IOException { return executor(signature, OnnxExecutor.Precision.F32); }

    public OnnxExecutor executor(String signature, OnnxExecutor.Precision precision) throws IOException {
        OnnxModel m = toOnnx(signature);
        try {
            return new OnnxExecutor(m, precision);
        } catch (RuntimeException e) {
            OnnxExecutor.release(m);
            throw e;
        }
    }

    /** Runs one signature once: inputs and outputs by signature key (the caller keeps the inputs and owns the outputs). */
    public Map<String, Tensor> run(String signature, Map<String, Tensor> inputs) throws IOException {
        try (OnnxExecutor ex = executor(signature)) {
            List<Tensor> feed = new ArrayList<>();
            for (ValueInfo in : ex.feedInputs()) {
                Tensor t = inputs.get(in.name());
                if (t == null) throw new IllegalArgumentException(file + ": signature '" + signature + "' needs input '" + in.name() + "'");
                feed.add(t);
            }
            List<Tensor> outs = ex.run(feed);
            Map<String, Tensor> result = new LinkedHashMap<>();
            List<String> keys = new ArrayList<>(signature(signature).outputs().keySet());
            for (int i = 0; i < outs.size(); i++) result.put(keys.get(i), outs.get(i));
            return result;
        }
    }
}
