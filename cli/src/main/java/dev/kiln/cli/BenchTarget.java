package dev.kiln.cli;

import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.OnnxExecutor;
import dev.kiln.onnx.OnnxGraph;
import dev.kiln.onnx.OnnxModel;
import dev.kiln.onnx.OnnxNode;
import dev.kiln.onnx.OnnxProfile;
import dev.kiln.onnx.OnnxReader;
import dev.kiln.onnx.Value;
import dev.kiln.onnx.ValueInfo;
import dev.kiln.pickle.PyTuple;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Tensor;
import dev.kiln.torchscript.TorchScriptModel;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * The Kiln side of {@code kiln bench MODEL}: an ONNX or TorchScript file with its inputs as
 * declared, run again and again on inputs prepared once (as ONNX Runtime's perf test does).
 */
abstract sealed class BenchTarget implements AutoCloseable {
    /**
     * A model input. dtype null: not declared (TorchScript); dims null: rank unknown, an entry -1:
     * symbolic (its label in dimNames). idBound &gt; 0: the rows of the table the input indexes
     * (token ids must be in [0, idBound)), with idSource naming that table.
     */
    record Input(String name, DType dtype, int[] dims, String[] dimNames, long idBound, String idSource) {
        /** "[batch, sequence, 768]", or "[?]" for an unknown rank. */
        String dimsText() {
            if (dims == null) return "[?]";
            StringBuilder sb = new StringBuilder("[");
            for (int i = 0; i < dims.length; i++) sb.append(i == 0 ? "" : ", ").append(dims[i] >= 0 ? String.valueOf(dims[i]) : dimNames[i]);
            return sb.append(']').toString();
        }
    }

    final Path file;

    BenchTarget(Path file) { this.file = file; }

    abstract String format();

    abstract List<Input> inputs();

    /** Binds the inputs (in {@link #inputs()} order); the caller keeps ownership. */
    abstract void prepare(List<Tensor> values);

    /** Runs once on the prepared inputs; the caller owns (and closes) the outputs. */
    abstract LinkedHashMap<String, Tensor> run();

    /** Turns per-op timing on (a new table) or off. */
    abstract void profile(boolean on, boolean byShape);

    /** The per-op table of the profiled runs. */
    abstract String profileTable();

    @Override public abstract void close();

    static BenchTarget open(Path file) throws IOException { return open(file, OnnxExecutor.Precision.F32); }

    /** The same with the precision of an ONNX model's constant-weight matrix products. */
    static BenchTarget open(Path file, OnnxExecutor.Precision precision) throws IOException { return open(file, precision, null); }

    /** The same, and a TensorFlow SavedModel directory: its signature (null: the default one) lowered to ONNX ops. */
    static BenchTarget open(Path file, OnnxExecutor.Precision precision, String signature) throws IOException {
        if (java.nio.file.Files.isDirectory(file)) {
            if (!dev.kiln.savedmodel.SavedModel.isSavedModel(file))
                throw new IllegalArgumentException(file + " is a directory without saved_model.pb (not a TensorFlow SavedModel)");
            var sm = dev.kiln.savedmodel.SavedModel.load(file);
            return new Onnx(file, sm.toOnnx(signature != null ? signature : sm.defaultSignature()), precision);
        }
        if (signature != null) throw new IllegalArgumentException(file + ": --signature applies to TensorFlow SavedModel directories only");
        String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
        if (name.endsWith(".onnx")) return new Onnx(file, precision);
        if (name.endsWith(".pt") || name.endsWith(".pth") || name.endsWith(".zip")) return new Script(file);
        throw new IllegalArgumentException(file + ": unknown model format (expected .onnx, or .pt/.pth for TorchScript)");
    }

    static final class Onnx extends BenchTarget {
        private final OnnxExecutor ex;
        private final List<Input> inputs = new ArrayList<>();
        private final Map<String, Value> bound = new LinkedHashMap<>();
        private final int opset;
        private OnnxProfile profile;

        Onnx(Path file, OnnxExecutor.Precision precision) throws IOException {
            this(file, OnnxReader.read(file), precision);
        }

        Onnx(Path file, OnnxModel model, OnnxExecutor.Precision precision) {
            super(file);
            opset = model.opset();
            Map<String, long[]> tables = gatherTables(model.graph());
            try {
                ex = new OnnxExecutor(model, precision);
            } catch (RuntimeException e) {
                OnnxExecutor.release(model);
                throw e;
            }
            for (ValueInfo vi : ex.feedInputs()) {
                int[] dims = null;
                String[] names = null;
                if (vi.dims() != null) {
                    dims = new int[vi.dims().size()];
                    names = new String[dims.length];
                    for (int i = 0; i < dims.length; i++) {
                        Object d = vi.dims().get(i);
                        dims[i] = d instanceof Long l ? Math.toIntExact(l) : -1;
                        names[i] = d instanceof String s ? s : d == null ? "?" : String.valueOf(d);
                    }
                }
                long[] t = tables.get(vi.name());
                ElemType et = vi.elemType();
                DType dt = et == null || et == ElemType.UNDEFINED ? null : et.storage();
                inputs.add(new Input(vi.name(), dt, dims, names, t == null ? -1 : t[0],
                        t == null ? null : "Gather on an initializer of " + t[0] + " rows"));
            }
        }

        /**
         * For each graph input that reaches the indices of a Gather on an initializer (directly or
         * through Cast/Reshape/Unsqueeze/Squeeze/Flatten/Identity), the smallest such table's rows.
         */
        private static Map<String, long[]> gatherTables(OnnxGraph g) {
            Set<String> pass = Set.of("Cast", "Reshape", "Unsqueeze", "Squeeze", "Flatten", "Identity");
            Map<String, String> origin = new HashMap<>(); // value -> graph input it is a view of
            for (ValueInfo in : g.inputs()) origin.put(in.name(), in.name());
            Map<String, long[]> out = new HashMap<>();
            for (OnnxNode n : g.nodes()) {
                if (!n.domain().isEmpty() && !n.domain().equals("ai.onnx")) continue;
                if (pass.contains(n.opType()) && !n.inputs().isEmpty() && origin.containsKey(n.inputs().get(0)))
                    for (String o : n.outputs()) origin.put(o, origin.get(n.inputs().get(0)));
                if (n.opType().equals("Gather") && n.inputs().size() == 2 && origin.containsKey(n.inputs().get(1))
                        && g.initializers().get(n.inputs().get(0)) instanceof Value.TensorValue tv) {
                    int[] s = tv.tensor().shape();
                    var ax = n.attributes().get("axis");
                    int a = ax == null ? 0 : (int) ax.i();
                    if (a < 0) a += s.length;
                    if (a < 0 || a >= s.length) continue;
                    long rows = s[a];
                    out.merge(origin.get(n.inputs().get(1)), new long[]{rows}, (x, y) -> x[0] <= y[0] ? x : y);
                }
            }
            return out;
        }

        @Override String format() { return "ONNX opset " + opset; }

        @Override List<Input> inputs() { return inputs; }

        @Override
        void prepare(List<Tensor> values) {
            bound.clear();
            for (int i = 0; i < inputs.size(); i++) {
                Input in = inputs.get(i);
                Tensor t = values.get(i);
                bound.put(in.name(), in.dtype() == null ? Value.of(t) : Value.of(t, ElemType.of(in.dtype())));
            }
        }

        @Override
        LinkedHashMap<String, Tensor> run() {
            LinkedHashMap<String, Tensor> out = new LinkedHashMap<>();
            for (var e : ex.run(bound).entrySet()) out.put(e.getKey(), e.getValue().tensor());
            return out;
        }

        @Override void profile(boolean on, boolean byShape) { profile = ex.profile(on, byShape); }

        @Override String profileTable() { return profile == null ? "" : profile.table(); }

        @Override public void close() { ex.close(); }
    }

    static final class Script extends BenchTarget {
        private final TorchScriptModel model;
        private final List<Input> inputs = new ArrayList<>();
        private Object[] bound = new Object[0];

        Script(Path file) throws IOException {
            super(file);
            model = TorchScriptModel.load(file);
            long rows = model.largestEmbeddingRows();
            for (String n : model.forwardArgumentNames())
                inputs.add(new Input(n, null, null, null, rows, rows > 0 ? "the largest nn.Embedding (" + rows + " rows)" : null));
        }

        @Override String format() { return "TorchScript"; }

        @Override List<Input> inputs() { return inputs; }

        @Override void prepare(List<Tensor> values) { bound = values.toArray(); }

        @Override
        LinkedHashMap<String, Tensor> run() {
            LinkedHashMap<String, Tensor> out = new LinkedHashMap<>();
            for (Object o : model.forward(bound)) flatten(o, out);
            return out;
        }

        private static void flatten(Object o, LinkedHashMap<String, Tensor> into) {
            switch (o) {
                case Tensor t -> into.put("output_" + into.size(), t);
                case PyTuple t -> t.items().forEach(x -> flatten(x, into));
                case Collection<?> c -> c.forEach(x -> flatten(x, into));
                case null, default -> { } // numbers and None: nothing to time or compare
            }
        }

        private OnnxProfile profile;

        @Override void profile(boolean on, boolean byShape) { profile = model.profile(on); } // TorchScript: by op only

        @Override String profileTable() { return profile == null ? "" : profile.table(); }

        @Override public void close() { model.close(); }
    }
}
