package dev.kiln.tffixtures;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.function.Function;
import java.util.stream.Stream;
import org.tensorflow.Graph;
import org.tensorflow.Result;
import org.tensorflow.SavedModelBundle;
import org.tensorflow.Session;
import org.tensorflow.SessionFunction;
import org.tensorflow.Signature;
import org.tensorflow.Tensor;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.proto.SignatureDef;
import org.tensorflow.proto.TensorInfo;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;

/**
 * Writes TensorFlow SavedModel fixtures with TensorFlow Java, plus TF's own outputs on seeded
 * inputs as .npy files.
 *
 * <pre>
 *   GenerateFixtures OUT_DIR [--large] [--only name,name]
 * </pre>
 *
 * Without --large: mlp, mlp_refvar, cnn, transformer, multi_signature, funclib, keras_style (batch 1
 * and 3).
 * With --large: cnn_large, transformer_large (batch 1 only). Each model goes to OUT_DIR/NAME/
 * (saved_model.pb, variables/, io/, summary.txt).
 */
public final class GenerateFixtures {

  record Fixture(
      String name, long seed, boolean resourceVars, Function<Net, List<Signature>> build, int[] batches, Custom custom) {
    Fixture(String name, long seed, boolean resourceVars, Function<Net, List<Signature>> build, int[] batches) {
      this(name, seed, resourceVars, build, batches, null);
    }
  }

  /**
   * A fixture that writes its SavedModel itself instead of through {@link #export(Fixture, Path)}
   * (TF Java's session exporter), and checks the written files afterwards.
   */
  interface Custom {
    void export(Fixture f, Path dir) throws IOException;

    /** Runs after writeIo and summary.txt; throws if the fixture is wrong. */
    void verify(Fixture f, Path dir) throws IOException;
  }

  static final int[] SMALL_BATCHES = {1, 3};

  static List<Fixture> small() {
    return List.of(
        new Fixture("mlp", 101, true, Models::mlp, SMALL_BATCHES),
        new Fixture("mlp_refvar", 102, false, Models::mlpRefVar, SMALL_BATCHES),
        new Fixture("cnn", 103, true, Models::cnn, SMALL_BATCHES),
        new Fixture("transformer", 104, true, Models::transformer, SMALL_BATCHES),
        new Fixture("multi_signature", 105, true, Models::multiSignature, SMALL_BATCHES),
        new Fixture("funclib", 106, true, Models::funclib, SMALL_BATCHES),
        new Fixture("keras_style", 107, true, null, SMALL_BATCHES, new KerasStyle()));
  }

  static List<Fixture> large() {
    return List.of(
        new Fixture("cnn_large", 201, true, Models::cnnLarge, new int[] {1}),
        new Fixture("transformer_large", 202, true, Models::transformerLarge, new int[] {1}));
  }

  public static void main(String[] args) throws Exception {
    Path out = null;
    boolean large = false;
    List<String> only = null;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--large" -> large = true;
        case "--only" -> only = Arrays.asList(args[++i].split(","));
        default -> {
          if (args[i].startsWith("--") || out != null) usage();
          out = Paths.get(args[i]);
        }
      }
    }
    if (out == null) usage();
    Files.createDirectories(out);
    for (Fixture f : large ? large() : small()) {
      if (only != null && !only.contains(f.name())) continue;
      long t0 = System.nanoTime();
      Path dir = out.resolve(f.name());
      if (f.custom() != null) {
        f.custom().export(f, dir);
      } else {
        export(f, dir);
      }
      writeIo(f, dir);
      String summary = SavedModelSummary.summarize(dir);
      Files.writeString(dir.resolve("summary.txt"), summary, StandardCharsets.UTF_8);
      if (f.custom() != null) f.custom().verify(f, dir);
      System.out.printf("%s: wrote %s (%d bytes) in %.1f s%n", f.name(), dir, dirSize(dir), (System.nanoTime() - t0) / 1e9);
    }
  }

  private static void usage() {
    System.err.println("usage: GenerateFixtures OUT_DIR [--large] [--only name,name]");
    System.exit(2);
  }

  // ------------------------------------------------------------------------------ export

  static void export(Fixture f, Path dir) throws IOException {
    deleteTree(dir);
    Path tmp = Files.createTempDirectory("kiln-tf-init");
    try (Graph g = new Graph()) {
      Net n = new Net(g, f.seed());
      List<Signature> sigs = f.build().apply(n);
      if (f.resourceVars()) n.addResourceSaver();
      try (Session s = new Session(g)) {
        if (f.resourceVars()) {
          n.loadInitialValues(s, tmp);
        } else {
          s.initialize(); // runs the VariableV2 Assign initializers
        }
        SavedModelBundle.Exporter ex = SavedModelBundle.exporter(dir.toString()).withSession(s);
        for (Signature sig : sigs) ex.withFunction(SessionFunction.create(sig, s));
        ex.export();
      }
    } finally {
      deleteTree(tmp);
    }
    canonicalize(dir.resolve("saved_model.pb"));
  }

  /**
   * Rewrites saved_model.pb with deterministic protobuf serialization (map entries such as NodeDef
   * attrs sorted by key). The GraphDef comes from the TF C API, whose map order varies from run to
   * run; without this, regenerating would change the committed bytes though not the content.
   */
  static void canonicalize(Path pb) throws IOException {
    org.tensorflow.proto.SavedModel sm = org.tensorflow.proto.SavedModel.parseFrom(Files.readAllBytes(pb));
    byte[] out = new byte[sm.getSerializedSize()];
    com.google.protobuf.CodedOutputStream cos = com.google.protobuf.CodedOutputStream.newInstance(out);
    cos.useDeterministicSerialization();
    sm.writeTo(cos);
    cos.checkNoSpaceLeft();
    Files.write(pb, out);
  }

  // ---------------------------------------------------------------------------------- io

  static void writeIo(Fixture f, Path dir) throws IOException {
    Path io = dir.resolve("io");
    Files.createDirectories(io);
    List<String> manifest = new ArrayList<>();
    try (SavedModelBundle b = SavedModelBundle.load(dir.toString(), SavedModelBundle.DEFAULT_TAG)) {
      Map<String, SignatureDef> defs = new TreeMap<>(b.metaGraphDef().getSignatureDefMap());
      for (Map.Entry<String, SignatureDef> e : defs.entrySet()) {
        String sig = e.getKey();
        if (sig.startsWith("__")) continue;
        for (int batch : f.batches()) {
          Random rng = new Random(f.seed() * 1_000_003L + sig.hashCode() * 31L + batch);
          Map<String, Tensor> inputs = new LinkedHashMap<>();
          try {
            for (Map.Entry<String, TensorInfo> in : new TreeMap<>(e.getValue().getInputsMap()).entrySet()) {
              String key = in.getKey();
              long[] shape = concreteShape(in.getValue(), batch);
              String file = sig + "__b" + batch + "__in__" + key + ".npy";
              Tensor t = randomInput(in.getValue(), shape, rng, io.resolve(file));
              inputs.put(key, t);
              manifest.add(line(sig, batch, "in", key, file, t));
            }
            try (Result r = b.function(sig).call(inputs)) {
              for (String key : new TreeMap<>(e.getValue().getOutputsMap()).keySet()) {
                Tensor t = r.get(key).orElseThrow(() -> new IllegalStateException("no output " + key));
                String file = sig + "__b" + batch + "__out__" + key + ".npy";
                writeTensor(io.resolve(file), t);
                manifest.add(line(sig, batch, "out", key, file, t));
              }
            }
          } finally {
            inputs.values().forEach(Tensor::close);
          }
        }
      }
    }
    Files.write(io.resolve("manifest.txt"), manifest, StandardCharsets.UTF_8);
  }

  static long[] concreteShape(TensorInfo info, int batch) {
    long[] s = info.getTensorShape().getDimList().stream().mapToLong(d -> d.getSize()).toArray();
    for (int i = 0; i < s.length; i++) {
      if (s[i] < 0) {
        if (i != 0) throw new IllegalStateException("dynamic non-batch dim in " + info);
        s[i] = batch;
      }
    }
    return s;
  }

  /** Seeded random input: N(0,1) floats, or integer ids in [0, 10). Also writes it as .npy. */
  static Tensor randomInput(TensorInfo info, long[] shape, Random rng, Path file) throws IOException {
    int n = (int) Net.numel(shape);
    switch (info.getDtype()) {
      case DT_FLOAT -> {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) rng.nextGaussian();
        Npy.writeF32(file, shape, v);
        return TFloat32.tensorOf(Shape.of(shape), DataBuffers.of(v));
      }
      case DT_INT32 -> {
        int[] v = new int[n];
        for (int i = 0; i < n; i++) v[i] = rng.nextInt(10);
        Npy.writeI32(file, shape, v);
        return TInt32.tensorOf(Shape.of(shape), DataBuffers.of(v));
      }
      case DT_INT64 -> {
        long[] v = new long[n];
        for (int i = 0; i < n; i++) v[i] = rng.nextInt(10);
        Npy.writeI64(file, shape, v);
        return TInt64.tensorOf(Shape.of(shape), DataBuffers.of(v));
      }
      default -> throw new IllegalArgumentException("unsupported input dtype " + info.getDtype());
    }
  }

  static void writeTensor(Path file, Tensor t) throws IOException {
    long[] shape = t.shape().asArray();
    int n = (int) Net.numel(shape);
    if (t instanceof TFloat32 f) {
      float[] v = new float[n];
      f.copyTo(DataBuffers.of(v, false, false));
      Npy.writeF32(file, shape, v);
    } else if (t instanceof TInt32 f) {
      int[] v = new int[n];
      f.copyTo(DataBuffers.of(v, false, false));
      Npy.writeI32(file, shape, v);
    } else if (t instanceof TInt64 f) {
      long[] v = new long[n];
      f.copyTo(DataBuffers.of(v, false, false));
      Npy.writeI64(file, shape, v);
    } else {
      throw new IllegalArgumentException("unsupported output dtype " + t.dataType());
    }
  }

  static String dtypeName(Tensor t) {
    return switch (t.dataType()) {
      case DT_FLOAT -> "float32";
      case DT_INT32 -> "int32";
      case DT_INT64 -> "int64";
      default -> t.dataType().toString();
    };
  }

  static String line(String sig, int batch, String dir, String key, String file, Tensor t) {
    StringBuilder shape = new StringBuilder();
    for (long d : t.shape().asArray()) shape.append(shape.isEmpty() ? "" : ",").append(d);
    return String.join(" ", sig, Integer.toString(batch), dir, key, file, dtypeName(t), shape.toString());
  }

  // ------------------------------------------------------------------------------- files

  static void deleteTree(Path p) throws IOException {
    if (!Files.exists(p)) return;
    try (Stream<Path> s = Files.walk(p)) {
      s.sorted(Comparator.reverseOrder()).forEach(q -> {
        try {
          Files.delete(q);
        } catch (IOException e) {
          throw new UncheckedIOException(e);
        }
      });
    }
  }

  static long dirSize(Path p) throws IOException {
    try (Stream<Path> s = Files.walk(p)) {
      return s.filter(Files::isRegularFile).mapToLong(q -> q.toFile().length()).sum();
    }
  }
}
