package dev.kiln.tffixtures;

import java.nio.file.Paths;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import org.tensorflow.Result;
import org.tensorflow.SavedModelBundle;
import org.tensorflow.SessionFunction;
import org.tensorflow.Tensor;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.proto.ConfigProto;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;

/**
 * TensorFlow timing peer: loads a SavedModel with TF Java (intra-op threads T, inter-op 1), runs
 * one signature W+N times on inputs read from .npy files and prints
 * {@code tf median_ms=... p10_ms=... p90_ms=...} over the N timed runs.
 *
 * <pre>
 *   TfBench DIR SIGNATURE --input KEY=FILE.npy [--input ...] [--iters N] [--warmup W] [--threads T]
 * </pre>
 */
public final class TfBench {
  public static void main(String[] args) throws Exception {
    if (args.length < 2) usage();
    String dir = args[0];
    String sig = args[1];
    Map<String, String> inputs = new LinkedHashMap<>();
    int iters = 20;
    int warmup = 5;
    int threads = 1;
    for (int i = 2; i < args.length; i++) {
      switch (args[i]) {
        case "--input" -> {
          String kv = args[++i];
          int eq = kv.indexOf('=');
          if (eq <= 0) usage();
          inputs.put(kv.substring(0, eq), kv.substring(eq + 1));
        }
        case "--iters" -> iters = Integer.parseInt(args[++i]);
        case "--warmup" -> warmup = Integer.parseInt(args[++i]);
        case "--threads" -> threads = Integer.parseInt(args[++i]);
        default -> usage();
      }
    }
    if (iters < 1) usage();
    ConfigProto config =
        ConfigProto.newBuilder().setIntraOpParallelismThreads(threads).setInterOpParallelismThreads(1).build();
    Map<String, Tensor> feeds = new LinkedHashMap<>();
    try (SavedModelBundle b =
        SavedModelBundle.loader(dir).withTags(SavedModelBundle.DEFAULT_TAG).withConfigProto(config).load()) {
      for (Map.Entry<String, String> e : inputs.entrySet()) feeds.put(e.getKey(), toTensor(Npy.read(Paths.get(e.getValue()))));
      SessionFunction f = b.function(sig);
      double[] ms = new double[iters];
      for (int i = 0; i < warmup + iters; i++) {
        long t0 = System.nanoTime();
        try (Result r = f.call(feeds)) {
          long t1 = System.nanoTime();
          if (i >= warmup) ms[i - warmup] = (t1 - t0) / 1e6;
        }
      }
      Arrays.sort(ms);
      System.out.printf("tf median_ms=%.4f p10_ms=%.4f p90_ms=%.4f%n", pct(ms, 50), pct(ms, 10), pct(ms, 90));
    } finally {
      feeds.values().forEach(Tensor::close);
    }
  }

  /** Nearest-rank percentile over sorted values. */
  static double pct(double[] sorted, double p) {
    int idx = (int) Math.ceil(p / 100.0 * sorted.length) - 1;
    return sorted[Math.max(0, Math.min(sorted.length - 1, idx))];
  }

  static Tensor toTensor(Npy.Array a) {
    Shape s = Shape.of(a.shape());
    return switch (a.descr()) {
      case "<f4" -> TFloat32.tensorOf(s, DataBuffers.of(a.floats()));
      case "<i4" -> TInt32.tensorOf(s, DataBuffers.of(a.ints()));
      case "<i8" -> TInt64.tensorOf(s, DataBuffers.of(a.longs()));
      default -> throw new IllegalArgumentException("unsupported npy dtype " + a.descr());
    };
  }

  private static void usage() {
    System.err.println(
        "usage: TfBench DIR SIGNATURE --input KEY=FILE.npy [--input ...] [--iters N] [--warmup W] [--threads T]");
    System.exit(2);
  }
}
