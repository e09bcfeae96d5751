package dev.kiln.bench.train;

import dev.kiln.autograd.Engine;
import dev.kiln.nn.GptLm;
import dev.kiln.nn.Loss;
import dev.kiln.optim.Adam;
import dev.kiln.optim.Optimizer;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;

import java.util.SplittableRandom;

/**
 * Training steps of {@code kiln train --model gpt}'s model ({@link GptLm}: GPT-2 blocks, tanh GELU,
 * tied head, dropout 0.1) at any vocabulary, on random token ids: the Kiln side of
 * {@code bench/peers/torch_gpt_train.py --vocab V} (AdamW betas 0.9/0.95, clipping at 1). For speed
 * and memory only. Prints per step its time and the storage high-water mark, then the median step
 * after the first three, tokens/s and the process's peak RSS (VmHWM); with
 * {@code -Dkiln.autograd.profile=true} also the backward time of each kind of gradient rule.
 * <p>usage: {@code java ... dev.kiln.bench.train.GptTrainBench VOCAB LAYERS WIDTH HEADS CONTEXT BATCH STEPS [checkpoint] [bf16]}
 * (GPT-2 small: {@code 50257 12 768 12 512 4 8})
 */
public final class GptTrainBench {
    private GptTrainBench() {}

    public static void main(String[] a) throws Exception {
        if (a.length < 7) {
            System.err.println("usage: GptTrainBench VOCAB LAYERS WIDTH HEADS CONTEXT BATCH STEPS [checkpoint] [bf16]");
            System.exit(2);
        }
        int vocab = Integer.parseInt(a[0]), layers = Integer.parseInt(a[1]), width = Integer.parseInt(a[2]), heads = Integer.parseInt(a[3]),
                context = Integer.parseInt(a[4]), batch = Integer.parseInt(a[5]), steps = Integer.parseInt(a[6]);
        java.util.List<String> flags = java.util.Arrays.asList(a).subList(7, a.length);
        boolean checkpoint = flags.contains("checkpoint"), bf16 = flags.contains("bf16");
        GptLm model = new GptLm(new GptLm.Config(vocab, context, width, layers, heads, 0.1), new Generator(1)).checkpointActivations(checkpoint);
        model.train();
        Adam opt = Adam.adamW(model.parameters(), 1e-3, 0.9, 0.95, 1e-8, 0.0);
        long params = model.parameters().stream().mapToLong(Tensor::numel).sum();
        System.out.printf("GPT: vocab %d, %d layers, width %d, %d heads, context %d, batch %d, %.1fM parameters%s%n",
                vocab, layers, width, heads, context, batch, params / 1e6, (checkpoint ? ", activation checkpointing" : "") + (bf16 ? ", bf16 autocast" : ""));
        SplittableRandom r = new SplittableRandom(7);
        double[] times = new double[steps];
        for (int s = 0; s < steps; s++) {
            long[] x = new long[batch * context], y = new long[x.length];
            for (int i = 0; i < x.length; i++) {
                x[i] = r.nextInt(vocab);
                y[i] = r.nextInt(vocab);
            }
            Storage.resetPeakBytes();
            long t0 = System.nanoTime(), t1, t2;
            double loss;
            try (Scope sc = Scope.open(); var ac = bf16 ? dev.kiln.ops.Autocast.bf16() : dev.kiln.ops.Autocast.f32()) {
                opt.zeroGrad();
                Tensor l = Loss.crossEntropy(model.forward(Tensor.fromArray(x, batch, context)), Tensor.fromArray(y, batch, context),
                        -100, 0, Loss.Reduction.MEAN);
                loss = l.item();
                t1 = System.nanoTime();
                l.backward();
                t2 = System.nanoTime();
                Optimizer.clipGradNorm(model.parameters(), 1.0);
                opt.step();
            }
            times[s] = (System.nanoTime() - t0) / 1e9;
            System.out.printf("step %d loss %.4f %.3f s (forward %.3f, backward %.3f, clip+AdamW %.3f) storage peak %.0f MiB%n", s, loss, times[s],
                    (t1 - t0) / 1e9, (t2 - t1) / 1e9, times[s] - (t2 - t0) / 1e9, Storage.peakBytes() / 1048576.0);
            if (s == Math.min(2, steps - 1)) Engine.takeProfile();                 // the warm steps' rules only
        }
        LmTrainBench.printBackwardProfile(steps);
        double med = LmTrainBench.warmMedian(times);
        System.out.printf("median step %.3f s, %.1f tokens/s, peak RSS %.1f MiB%n", med, batch * context / med, LmTrainBench.hwmKb() / 1024.0);
    }
}
