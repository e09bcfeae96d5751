package dev.kiln.spark;

import dev.kiln.nn.Activation;
import dev.kiln.nn.Linear;
import dev.kiln.nn.Sequential;
import dev.kiln.onnx.OnnxExecutor;
import dev.kiln.onnx.OnnxReader;
import dev.kiln.onnx.export.OnnxExport;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Spark in local[2] mode: 100,000 rows scored with an ONNX MLP written by Kiln's exporter give what
 * Kiln itself computes for the same batches, whatever the partitioning; bad input is one line
 * before any work.
 */
class KilnScorerTest {
    private static SparkSession spark;
    @TempDir static Path dir;
    private static Path model;

    @BeforeAll
    static void start() throws Exception {
        spark = SparkSession.builder().master("local[2]").appName("kiln-spark-test").config("spark.ui.enabled", "false")
                .config("spark.sql.shuffle.partitions", "2").getOrCreate();
        Generator g = new Generator(7);
        Sequential mlp = new Sequential(new Linear(16, 32, true, g), Activation.relu(), new Linear(32, 4, true, g));
        mlp.eval();
        model = dir.resolve("mlp.onnx");
        OnnxExport.export(mlp, new int[] {1, 16}, model);
    }

    @AfterAll
    static void stop() {
        if (spark != null) spark.stop();
        KilnScorer.Runner.closeAll();
    }

    private static Dataset<Row> rows(int n, int partitions, long seed) {
        Random r = new Random(seed);
        List<Row> rows = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            List<Float> x = new ArrayList<>(16);
            for (int j = 0; j < 16; j++) x.add((float) r.nextGaussian());
            rows.add(RowFactory.create((long) i, x));
        }
        StructType schema = new StructType().add("id", DataTypes.LongType, false)
                .add("features", DataTypes.createArrayType(DataTypes.FloatType, false), false);
        return spark.createDataFrame(rows, schema).repartition(partitions);
    }

    @Test
    void scoresAHundredThousandRowsAsKilnDoes() throws Exception {
        int n = 100_000;
        Dataset<Row> df = rows(n, 4, 1).cache();
        df.count();
        long t0 = System.nanoTime();
        List<Row> scored = KilnScorer.of(model.toString(), "features", "scores", 16).batchSize(512).transform(df).collectAsList();
        double secs = (System.nanoTime() - t0) / 1e9;
        System.out.printf("kiln-spark: %d rows in %.2f s, %.0f rows/s (local[2], 4 partitions, batches of 512)%n", n, secs, n / secs);
        assertEquals(n, scored.size());
        // Kiln on its own, the same rows in one batch: the MLP's products sum each output in the same
        // order whatever the batch size, so the values must agree closely
        float[] x = new float[n * 16];
        long[] ids = new long[n];
        for (int i = 0; i < n; i++) {
            Row r = scored.get(i);
            ids[i] = r.getLong(0);
            List<Object> f = r.getList(1);
            for (int j = 0; j < 16; j++) x[i * 16 + j] = ((Number) f.get(j)).floatValue();
        }
        float[] ref;
        try (OnnxExecutor ex = new OnnxExecutor(OnnxReader.read(model)); Tensor in = Tensor.fromArray(x, n, 16)) {
            List<Tensor> out = ex.run(List.of(in));
            ref = out.get(0).toFloatArray();
            out.forEach(Tensor::close);
        }
        double worst = 0;
        for (int i = 0; i < n; i++) {
            List<Object> y = scored.get(i).getList(2);
            assertEquals(4, y.size());
            for (int j = 0; j < 4; j++) worst = Math.max(worst, Math.abs(((Number) y.get(j)).floatValue() - ref[i * 4 + j]));
        }
        assertTrue(worst < 1e-5, "largest difference to Kiln's own run: " + worst);
        assertEquals(n, java.util.Arrays.stream(ids).distinct().count(), "every row once");
    }

    @Test
    void badInputIsOneLine() {
        Dataset<Row> df = rows(10, 1, 2);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> KilnScorer.of(model.toString(), "nope", "scores", 16).transform(df));
        assertTrue(e.getMessage().contains("no column nope"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> KilnScorer.of(model.toString(), "id", "scores", 16).transform(df));
        assertTrue(e.getMessage().contains("must be an array of numbers"), e.getMessage());
        Exception wrongWidth = assertThrows(Exception.class,
                () -> KilnScorer.of(model.toString(), "features", "scores", 8).transform(df).collectAsList());
        assertTrue(rootMessage(wrongWidth).contains("has 16 values, the model takes 8"), rootMessage(wrongWidth));
        Exception notAModel = assertThrows(Exception.class,
                () -> KilnScorer.of(dir.resolve("missing.onnx").toString(), "features", "scores", 16).transform(df).collectAsList());
        assertTrue(rootMessage(notAModel).contains("cannot load"), rootMessage(notAModel));
    }

    private static String rootMessage(Throwable t) {
        StringBuilder sb = new StringBuilder();
        for (Throwable c = t; c != null; c = c.getCause()) sb.append(c.getMessage()).append(" | ");
        return sb.toString();
    }
}
