package dev.kiln.spark;

import dev.kiln.io.FileKind;
import dev.kiln.onnx.OnnxExecutor;
import dev.kiln.onnx.OnnxReader;
import dev.kiln.savedmodel.SavedModel;
import dev.kiln.tensor.Tensor;
import dev.kiln.torchscript.TorchScriptModel;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.types.ArrayType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

import java.io.IOException;
import java.io.Serializable;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Scores a column of a Spark DataFrame with a Kiln model: every row's array of numbers (one
 * sample, shaped {@code rowShape}) goes through the model's first input, and the model's first
 * output for that sample comes back as a new array&lt;float&gt; column. The model (an ONNX file, a
 * TorchScript file, or a TensorFlow SavedModel directory, told apart by content) is loaded once
 * per executor JVM, on first use, from the same path on every executor, and shared by the tasks
 * of that JVM; a task sends its partition's rows through it in batches of {@link #batchSize}
 * rows, one batch at a time per JVM (each batch runs on all of Kiln's threads in that JVM).
 *
 * <pre>
 * Dataset&lt;Row&gt; scored = KilnScorer.of("/models/mlp.onnx", "features", "scores", 784).batchSize(256).transform(df);
 * </pre>
 *
 * Bad input is one line before any work: a missing input column, a column that is not an array
 * of numbers, a row whose length is not the product of {@code rowShape}.
 */
public final class KilnScorer implements Serializable {
    private static final long serialVersionUID = 1L;

    private final String model, inputCol, outputCol;
    private final int[] rowShape;
    private final int batch;

    private KilnScorer(String model, String inputCol, String outputCol, int[] rowShape, int batch) {
        if (rowShape.length == 0 || Arrays.stream(rowShape).anyMatch(d -> d <= 0))
            throw new IllegalArgumentException("kiln-spark: row shape must be positive dims, got " + Arrays.toString(rowShape));
        if (batch < 1) throw new IllegalArgumentException("kiln-spark: batch size must be at least 1, got " + batch);
        this.model = model;
        this.inputCol = inputCol;
        this.outputCol = outputCol;
        this.rowShape = rowShape.clone();
        this.batch = batch;
    }

    /** A scorer of column inputCol into outputCol with the model at modelPath; rowShape: one sample's input shape. */
    public static KilnScorer of(String modelPath, String inputCol, String outputCol, int... rowShape) {
        return new KilnScorer(modelPath, inputCol, outputCol, rowShape, 256);
    }

    /** Rows per model call (default 256). */
    public KilnScorer batchSize(int rows) { return new KilnScorer(model, inputCol, outputCol, rowShape, rows); }

    /** df with outputCol added (array&lt;float&gt;); lazy, as Spark transformations are. */
    public Dataset<Row> transform(Dataset<Row> df) {
        StructType in = df.schema();
        int col = fieldIndex(in, inputCol);
        if (!(in.fields()[col].dataType() instanceof ArrayType at) || !numeric(at))
            throw new IllegalArgumentException("kiln-spark: column " + inputCol + " must be an array of numbers, got " + in.fields()[col].dataType().simpleString());
        if (Arrays.asList(in.fieldNames()).contains(outputCol))
            throw new IllegalArgumentException("kiln-spark: the DataFrame already has a column " + outputCol);
        StructType out = in.add(new StructField(outputCol, DataTypes.createArrayType(DataTypes.FloatType, false), false,
                org.apache.spark.sql.types.Metadata.empty()));
        KilnScorer self = this;
        return df.mapPartitions((MapPartitionsFunction<Row, Row>) rows -> new Batches(self, col, rows), Encoders.row(out));
    }

    private static int fieldIndex(StructType t, String name) {
        for (int i = 0; i < t.fields().length; i++) if (t.fields()[i].name().equals(name)) return i;
        throw new IllegalArgumentException("kiln-spark: no column " + name + " (columns: " + String.join(", ", t.fieldNames()) + ")");
    }

    private static boolean numeric(ArrayType t) {
        var e = t.elementType();
        return e == DataTypes.FloatType || e == DataTypes.DoubleType || e == DataTypes.IntegerType || e == DataTypes.LongType;
    }

    /** A partition's rows, scored batch by batch as the consumer pulls them. */
    private static final class Batches implements Iterator<Row> {
        private final KilnScorer s;
        private final int col, width;
        private final Iterator<Row> rows;
        private final List<Row> pending = new ArrayList<>();
        private float[][] scores;
        private int next;

        Batches(KilnScorer s, int col, Iterator<Row> rows) {
            this.s = s;
            this.col = col;
            this.rows = rows;
            this.width = Arrays.stream(s.rowShape).reduce(1, (a, b) -> a * b);
        }

        @Override public boolean hasNext() {
            if (next < pending.size()) return true;
            if (!rows.hasNext()) return false;
            pending.clear();
            next = 0;
            while (pending.size() < s.batch && rows.hasNext()) pending.add(rows.next());
            float[] x = new float[pending.size() * width];
            for (int r = 0; r < pending.size(); r++) fill(pending.get(r), x, r * width);
            scores = Runner.of(s.model).run(x, pending.size(), s.rowShape);
            return true;
        }

        private void fill(Row row, float[] x, int at) {
            List<Object> v = row.getList(col);
            if (v == null) throw new IllegalArgumentException("kiln-spark: null in column " + s.inputCol);
            if (v.size() != width)
                throw new IllegalArgumentException("kiln-spark: a row of " + s.inputCol + " has " + v.size() + " values, the model takes "
                        + width + " (row shape " + Arrays.toString(s.rowShape) + ")");
            for (int i = 0; i < width; i++) x[at + i] = ((Number) v.get(i)).floatValue();
        }

        @Override public Row next() {
            if (!hasNext()) throw new NoSuchElementException();
            Row r = pending.get(next);
            float[] y = scores[next++];
            Object[] cells = new Object[r.length() + 1];
            for (int i = 0; i < r.length(); i++) cells[i] = r.get(i);
            cells[r.length()] = y;   // the row encoder takes a Java array for array<float>
            return RowFactory.create(cells);
        }
    }

    /** One loaded model per path and JVM; calls are serialized (each uses all of Kiln's threads). */
    static final class Runner {
        private static final ConcurrentHashMap<String, Runner> LOADED = new ConcurrentHashMap<>();

        private final OnnxExecutor onnx;
        private final TorchScriptModel script;

        private Runner(OnnxExecutor onnx, TorchScriptModel script) {
            this.onnx = onnx;
            this.script = script;
        }

        static Runner of(String path) { return LOADED.computeIfAbsent(path, Runner::load); }

        /** Closes every model loaded in this JVM (for tests; executors keep theirs for their lifetime). */
        static void closeAll() {
            for (Runner r : LOADED.values()) {
                if (r.onnx != null) r.onnx.close();
                if (r.script != null) r.script.close();
            }
            LOADED.clear();
        }

        private static Runner load(String path) {
            Path p = Path.of(path);
            try {
                FileKind kind = FileKind.of(p);
                return switch (kind) {
                    case ONNX -> new Runner(new OnnxExecutor(OnnxReader.read(p)), null);
                    case ZIP -> new Runner(null, TorchScriptModel.load(p));
                    case DIRECTORY -> {
                        SavedModel sm = SavedModel.load(p);
                        String sig = sm.signatures().containsKey("serving_default") ? "serving_default" : sm.signatures().keySet().iterator().next();
                        yield new Runner(sm.executor(sig), null);
                    }
                    default -> throw new IllegalArgumentException("kiln-spark: " + path + " is " + kind.description()
                            + ", not an ONNX model, a TorchScript file or a SavedModel directory");
                };
            } catch (IOException e) {
                String why = e instanceof java.nio.file.NoSuchFileException ? "no such file" : e.getMessage();
                throw new IllegalArgumentException("kiln-spark: cannot load " + path + ": " + why, e);
            }
        }

        /** The first output's values per sample for n samples of rowShape in x. */
        synchronized float[][] run(float[] x, int n, int[] rowShape) {
            int[] shape = new int[rowShape.length + 1];
            shape[0] = n;
            System.arraycopy(rowShape, 0, shape, 1, rowShape.length);
            try (Tensor in = Tensor.fromArray(x, shape)) {
                Tensor y;
                List<Tensor> all = new ArrayList<>();
                if (onnx != null) {
                    all.addAll(onnx.run(List.of(in)));
                    y = all.get(0);
                } else {
                    for (Object o : script.forward(in)) if (o instanceof Tensor t) all.add(t);
                    if (all.isEmpty()) throw new IllegalStateException("kiln-spark: the TorchScript model returned no tensor");
                    y = all.get(0);
                }
                try {
                    if (y.dim() == 0 || y.size(0) != n)
                        throw new IllegalStateException("kiln-spark: the model's first output has shape " + Arrays.toString(y.shape())
                                + ", not " + n + " samples first");
                    float[] flat = y.toFloatArray();
                    int per = flat.length / n;
                    float[][] out = new float[n][];
                    for (int r = 0; r < n; r++) out[r] = Arrays.copyOfRange(flat, r * per, (r + 1) * per);
                    return out;
                } finally {
                    all.forEach(Tensor::close);
                }
            }
        }
    }
}
