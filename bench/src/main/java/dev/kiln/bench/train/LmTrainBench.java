package dev.kiln.bench.train;

import dev.kiln.nn.Embedding;
import dev.kiln.nn.LayerNorm;
import dev.kiln.nn.Linear;
import dev.kiln.nn.Loss;
import dev.kiln.nn.TransformerEncoderLayer;
import dev.kiln.optim.Adam;
import dev.kiln.tensor.*;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The GPT-style language model of issue #21 trained for a few steps on random tokens: vocab 8192,
 * d_model 512, 8 heads, 6 pre-norm GELU TransformerEncoderLayers (FFN 2048, dropout 0.1), learned
 * positions, a causal mask, final LayerNorm and Linear head (27.4M parameters); batch 8 x 128,
 * AdamW lr 1e-4. Prints per step the time (forward / backward / optimizer), the storage high-water
 * mark ({@link Storage#peakBytes}) and the process's peak RSS (VmHWM).
 * <p>usage: {@code java ... dev.kiln.bench.train.LmTrainBench [STEPS]} (default 5)
 */
public final class LmTrainBench {
  private LmTrainBench() {}

  static long hwmKb() throws Exception { for (String l : Files.readAllLines(Path.of("/proc/self/status"))) if (l.startsWith("VmHWM:")) return Long.parseLong(l.replaceAll("[^0-9]", "")); return -1; }
  public static void main(String[] a) throws Exception {
    int vocab = 8192, d = 512, heads = 8, layers = 6, ffn = 2048, B = 8, T = 128, steps = a.length > 0 ? Integer.parseInt(a[0]) : 5;
    Generator g = new Generator(1);
    Embedding tok = new Embedding(vocab, d, g), pos = new Embedding(T, d, g);
    List<TransformerEncoderLayer> blocks = new ArrayList<>();
    for (int i = 0; i < layers; i++) blocks.add(new TransformerEncoderLayer(d, heads, ffn, 0.1, "gelu", 1e-5, true, true, g));
    LayerNorm lnf = new LayerNorm(new int[]{d}, 1e-5, true);
    Linear head = new Linear(d, vocab, true, g);
    List<Tensor> params = new ArrayList<>(tok.parameters()); params.addAll(pos.parameters());
    for (var b : blocks) params.addAll(b.parameters());
    params.addAll(lnf.parameters()); params.addAll(head.parameters());
    long n = params.stream().mapToLong(Tensor::numel).sum();
    Adam opt = Adam.adamW(params, 1e-4);
    float[] m = new float[T * T];
    for (int i = 0; i < T; i++) for (int j = i + 1; j < T; j++) m[i * T + j] = Float.NEGATIVE_INFINITY;
    Tensor mask = Tensor.fromArray(m, T, T);
    long[] ids = new long[B * T], tgt = new long[B * T], posIds = new long[B * T];
    SplittableRandom r = new SplittableRandom(7);
    for (int i = 0; i < B * T; i++) { ids[i] = r.nextInt(vocab); tgt[i] = r.nextInt(vocab); posIds[i] = i % T; }
    Tensor x = Tensor.fromArray(ids, B, T), y = Tensor.fromArray(tgt, B * T), p = Tensor.fromArray(posIds, B, T);
    System.out.printf("params %.1fM%n", n / 1e6);
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
      System.out.printf("step %d loss %.4f  %.0f ms (fwd %.0f bwd %.0f opt %.0f)  storage peak %.2f GB  VmHWM %.2f GB%n", s, lossV,
          (t3 - t0) / 1e6, (t1 - t0) / 1e6, (t2 - t1) / 1e6, (t3 - t2) / 1e6, Storage.peakBytes() / 1e9, hwmKb() / 1e6);
    }
  }
}
