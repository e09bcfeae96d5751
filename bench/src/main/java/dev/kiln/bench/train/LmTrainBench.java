package dev.kiln.bench.train;

import dev.kiln.io.Npy;
import dev.kiln.autograd.Engine;
import dev.kiln.nn.Embedding;
import dev.kiln.nn.LayerNorm;
import dev.kiln.nn.Linear;
import dev.kiln.nn.Loss;
import dev.kiln.nn.MultiheadAttention;
import dev.kiln.nn.TransformerEncoderLayer;
import dev.kiln.optim.Adam;
import dev.kiln.tensor.*;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The GPT-style language model of issue #21 trained for a few steps on random tokens: vocab 8192,
 * d_model 512, 8 heads, 6 pre-norm GELU TransformerEncoderLayers (FFN 2048, dropout 0.1), learned
 * positions, a causal mask, final LayerNorm and Linear head (27.4M parameters); batch 8 x 128,
 * AdamW lr 1e-4 (PyTorch's defaults otherwise), the same batch every step. Prints per step the loss,
 * the time (forward / backward / optimizer), the storage high-water mark ({@link Storage#peakBytes})
 * and the process's peak RSS (VmHWM), then the median step after the first three.
 * <p>usage: {@code java ... dev.kiln.bench.train.LmTrainBench [STEPS] [--dropout P] [--export DIR]}
 * (default 5 steps, dropout 0.1). {@code --export DIR} writes the initial weights under PyTorch's
 * names and the token ids as .npy files, which {@code bench/peers/torch_lm_train.py --weights DIR}
 * loads, so both engines train from the same weights on the same batch (with {@code --dropout 0}
 * their losses can be compared step for step).
 */
public final class LmTrainBench {
  private LmTrainBench() {}

  static long hwmKb() throws Exception { for (String l : Files.readAllLines(Path.of("/proc/self/status"))) if (l.startsWith("VmHWM:")) return Long.parseLong(l.replaceAll("[^0-9]", "")); return -1; }

  public static void main(String[] a) throws Exception {
    int steps = 5;
    double dropout = 0.1;
    Path export = null;
    for (int i = 0; i < a.length; i++) {
      switch (a[i]) {
        case "--dropout" -> dropout = Double.parseDouble(a[++i]);
        case "--export" -> export = Path.of(a[++i]);
        default -> steps = Integer.parseInt(a[i]);
      }
    }
    int vocab = 8192, d = 512, heads = 8, layers = 6, ffn = 2048, B = 8, T = 128;
    Generator g = new Generator(1);
    Embedding tok = new Embedding(vocab, d, g), pos = new Embedding(T, d, g);
    List<TransformerEncoderLayer> blocks = new ArrayList<>();
    for (int i = 0; i < layers; i++) blocks.add(new TransformerEncoderLayer(d, heads, ffn, dropout, "gelu", 1e-5, true, true, g));
    LayerNorm lnf = new LayerNorm(new int[]{d}, 1e-5, true);
    Linear head = new Linear(d, vocab, true, g);
    Map<String, Tensor> named = new LinkedHashMap<>();
    named.put("tok.weight", tok.weight());
    named.put("pos.weight", pos.weight());
    for (int i = 0; i < layers; i++)
      for (var e : blocks.get(i).namedParameters().entrySet()) named.put("blocks." + i + "." + e.getKey(), e.getValue());
    for (var e : lnf.namedParameters().entrySet()) named.put("lnf." + e.getKey(), e.getValue());
    for (var e : head.namedParameters().entrySet()) named.put("head." + e.getKey(), e.getValue());
    List<Tensor> params = new ArrayList<>(named.values());
    long n = params.stream().mapToLong(Tensor::numel).sum();
    Adam opt = Adam.adamW(params, 1e-4);
    Tensor mask = MultiheadAttention.causalMask(T);
    long[] ids = new long[B * T], tgt = new long[B * T], posIds = new long[B * T];
    SplittableRandom r = new SplittableRandom(7);
    for (int i = 0; i < B * T; i++) { ids[i] = r.nextInt(vocab); tgt[i] = r.nextInt(vocab); posIds[i] = i % T; }
    Tensor x = Tensor.fromArray(ids, B, T), y = Tensor.fromArray(tgt, B * T), p = Tensor.fromArray(posIds, B, T);
    if (export != null) {
      Files.createDirectories(export);
      for (var e : named.entrySet()) Npy.write(export.resolve(e.getKey() + ".npy"), e.getValue());
      Npy.write(export.resolve("ids.npy"), x);
      Npy.write(export.resolve("targets.npy"), y);
    }
    System.out.printf("params %.1fM, dropout %s%n", n / 1e6, dropout);
    double[] times = new double[steps];
    for (int s = 0; s < steps; s++) {
      Storage.resetPeakBytes();
      long t0 = System.nanoTime(), t1, t2;
      double lossV;
      try (Scope sc = Scope.open()) {
        Tensor h = tok.forward(x).add(pos.forward(p));
        for (var blk : blocks) h = blk.forward(h, mask);
        Tensor logits = head.forward(lnf.forward(h)).reshape(B * T, vocab);
        Tensor loss = Loss.crossEntropy(logits, y);
        lossV = loss.item();
        t1 = System.nanoTime();
        opt.zeroGrad();
        loss.backward();
        t2 = System.nanoTime();
      }
      opt.step();
      long t3 = System.nanoTime();
      times[s] = (t3 - t0) / 1e9;
      System.out.printf("step %d loss %.6f  %.0f ms (fwd %.0f bwd %.0f opt %.0f)  storage peak %.2f GB  VmHWM %.2f GB%n", s, lossV,
          (t3 - t0) / 1e6, (t1 - t0) / 1e6, (t2 - t1) / 1e6, (t3 - t2) / 1e6, Storage.peakBytes() / 1e9, hwmKb() / 1e6);
      if (s == Math.min(2, steps - 1)) Engine.takeProfile();                 // the warm steps' rules only
    }
    printBackwardProfile(steps);
    System.out.printf("median step %.3f s, peak RSS %.1f MiB%n", warmMedian(times), hwmKb() / 1024.0);
  }

  /** The backward time per gradient rule of the steps after the third (nothing without -Dkiln.autograd.profile=true). */
  static void printBackwardProfile(int steps) {
    var rules = Engine.takeProfile();
    if (!rules.isEmpty()) System.out.println("backward by rule, per step after the third:");
    for (var e : rules)
      if (e.getValue() > 1e6 * (steps - 3)) System.out.printf("  %-20s %9.1f ms%n", e.getKey(), e.getValue() / 1e6 / Math.max(1, steps - 3));
  }

  /** The median of the step times after the first three (JIT warm-up). */
  static double warmMedian(double[] times) {
    double[] warm = Arrays.copyOfRange(times, Math.min(3, times.length - 1), times.length);
    Arrays.sort(warm);
    return warm[warm.length / 2];
  }
}
