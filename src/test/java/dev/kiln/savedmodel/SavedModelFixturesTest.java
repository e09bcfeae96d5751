package dev.kiln.savedmodel;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import dev.kiln.io.Npy;
import dev.kiln.onnx.OnnxExecutor;
import dev.kiln.onnx.OnnxModel;
import dev.kiln.onnx.OnnxReader;
import dev.kiln.onnx.ValueInfo;
import dev.kiln.onnx.export.OnnxModelWriter;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.nio.LongBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every SavedModel in {@code testdata/savedmodel} (written by TensorFlow Java 1.1.0, see
 * tools/tf-fixtures) runs in Kiln with outputs within 1e-5 of TensorFlow's, relative to the
 * largest output, for every signature at batch 1 and 3; and each signature exported to ONNX gives
 * the same outputs in ONNX Runtime and in Kiln's ONNX reader.
 */
class SavedModelFixturesTest {
    static final Path DIR = Path.of("testdata/savedmodel");
    static final double TOL = 1e-5;

    /** One signature at one batch size: input and output files by key. */
    record Case(String model, String signature, int batch, Map<String, Path> in, Map<String, Path> out) {
        String label() { return model + "/" + signature + " batch " + batch; }
    }

    static List<Case> cases() throws Exception {
        Map<String, Case> byKey = new TreeMap<>();
        try (Stream<Path> dirs = Files.list(DIR)) {
            for (Path d : dirs.sorted().toList()) {
                Path manifest = d.resolve("io/manifest.txt");
                if (!Files.isRegularFile(manifest)) continue;
                for (String line : Files.readAllLines(manifest)) {
                    String[] f = line.trim().split("\\s+");
                    if (f.length < 5 || line.startsWith("#")) continue;
                    String sig = f[0];
                    int batch = Integer.parseInt(f[1]);
                    String key = d.getFileName() + "|" + sig + "|" + batch;
                    Case c = byKey.computeIfAbsent(key, k -> new Case(d.getFileName().toString(), sig, batch, new TreeMap<>(), new TreeMap<>()));
                    (f[2].equals("in") ? c.in : c.out).put(f[3], d.resolve("io").resolve(f[4]));
                }
            }
        }
        return new ArrayList<>(byKey.values());
    }

    @TestFactory
    Stream<DynamicTest> everyFixtureMatchesTensorFlow() throws Exception {
        List<Case> cs = cases();
        assertTrue(cs.size() >= 10, "expected the committed SavedModel fixtures under " + DIR + ", found " + cs.size() + " cases");
        return cs.stream().map(c -> DynamicTest.dynamicTest(c.label(), () -> {
            SavedModel sm = SavedModel.load(DIR.resolve(c.model));
            Map<String, Tensor> in = read(c.in);
            try {
                Map<String, Tensor> out = sm.run(c.signature, in);
                try {
                    assertEquals(c.out.keySet(), out.keySet(), c.label() + ": output keys");
                    for (var e : c.out.entrySet()) compare(c.label() + " " + e.getKey(), Npy.read(e.getValue()), out.get(e.getKey()));
                } finally {
                    out.values().forEach(Tensor::close);
                }
            } finally {
                in.values().forEach(Tensor::close);
            }
        }));
    }

    @TestFactory
    Stream<DynamicTest> exportedOnnxMatchesInOrtAndKiln() throws Exception {
        return cases().stream().filter(c -> c.batch == 3).map(c -> DynamicTest.dynamicTest(c.label(), () -> {
            SavedModel sm = SavedModel.load(DIR.resolve(c.model));
            OnnxModel lowered = sm.toOnnx(c.signature);
            byte[] onnx;
            try {
                onnx = OnnxModelWriter.encode(lowered);
            } finally {
                OnnxExecutor.release(lowered);
            }
            Map<String, Tensor> in = read(c.in);
            try {
                // ONNX Runtime on the exported bytes
                OrtEnvironment env = OrtEnvironment.getEnvironment();
                try (OrtSession.SessionOptions opts = new OrtSession.SessionOptions()) {
                    opts.setIntraOpNumThreads(1);
                    try (OrtSession s = env.createSession(onnx, opts)) {
                        Map<String, OnnxTensor> feeds = new HashMap<>();
                        try {
                            for (var e : in.entrySet()) feeds.put(e.getKey(), ortTensor(env, e.getValue()));
                            try (OrtSession.Result r = s.run(feeds)) {
                                for (var e : c.out.entrySet()) {
                                    OnnxTensor y = (OnnxTensor) r.get(e.getKey()).orElseThrow();
                                    float[] data = new float[y.getFloatBuffer().remaining()];
                                    y.getFloatBuffer().get(data);
                                    int[] shape = Arrays.stream(y.getInfo().getShape()).mapToInt(Math::toIntExact).toArray();
                                    try (Tensor got = Tensor.fromArray(data, shape)) {
                                        compare(c.label() + " ORT " + e.getKey(), Npy.read(e.getValue()), got);
                                    }
                                }
                            }
                        } finally {
                            for (OnnxTensor t : feeds.values()) t.close();
                        }
                    }
                }
                // Kiln's own ONNX reader on the same bytes
                try (OnnxExecutor ex = new OnnxExecutor(OnnxReader.read(onnx, c.label(), null))) {
                    List<Tensor> feed = new ArrayList<>();
                    for (ValueInfo vi : ex.feedInputs()) feed.add(in.get(vi.name()));
                    List<Tensor> outs = ex.run(feed);
                    List<String> keys = new ArrayList<>(c.out.keySet());
                    for (int i = 0; i < outs.size(); i++) {
                        try (Tensor got = outs.get(i)) {
                            compare(c.label() + " Kiln/ONNX " + keys.get(i), Npy.read(c.out.get(keys.get(i))), got);
                        }
                    }
                }
            } finally {
                in.values().forEach(Tensor::close);
            }
        }));
    }

    private static Map<String, Tensor> read(Map<String, Path> files) throws Exception {
        Map<String, Tensor> m = new LinkedHashMap<>();
        for (var e : files.entrySet()) m.put(e.getKey(), Npy.read(e.getValue()));
        return m;
    }

    private static OnnxTensor ortTensor(OrtEnvironment env, Tensor t) throws Exception {
        long[] shape = Arrays.stream(t.shape()).asLongStream().toArray();
        return switch (t.dtype()) {
            case F32 -> OnnxTensor.createTensor(env, FloatBuffer.wrap(t.toFloatArray()), shape);
            case I64 -> OnnxTensor.createTensor(env, LongBuffer.wrap(t.toLongArray()), shape);
            case I32 -> OnnxTensor.createTensor(env, IntBuffer.wrap(t.toIntArray()), shape);
            default -> throw new IllegalArgumentException("fixture input of dtype " + t.dtype());
        };
    }

    /** Same shape, and max |got - want| <= TOL * max |want| (closes want). */
    static void compare(String what, Tensor want, Tensor got) {
        try (want) {
            assertArrayEquals(want.shape(), got.shape(), what + ": shape");
            double[] w = want.toDoubleArray(), g = got.toDoubleArray();
            double scale = 0, err = 0;
            for (double v : w) scale = Math.max(scale, Math.abs(v));
            for (int i = 0; i < w.length; i++) err = Math.max(err, Math.abs(w[i] - g[i]));
            assertFalse(Double.isNaN(err), what + ": NaN in the output");
            assertTrue(err <= TOL * Math.max(scale, 1e-30), what + ": max error " + err + " vs largest output " + scale);
        }
    }
}
