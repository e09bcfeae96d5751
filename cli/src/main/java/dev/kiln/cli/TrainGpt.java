package dev.kiln.cli;

import dev.kiln.backend.cpu.CpuConfig;
import dev.kiln.generate.BpeTokenizer;
import dev.kiln.generate.Decoder;
import dev.kiln.generate.Sampler;
import dev.kiln.generate.TextGenerator;
import dev.kiln.generate.WeightFormat;
import dev.kiln.nn.GptLm;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Storage;
import dev.kiln.train.GptTrainer;
import dev.kiln.train.TextCorpus;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Locale;
import java.util.Set;

/**
 * {@code kiln train --model gpt --data FILE|DIR}: a GPT-2-architecture language model on the bytes
 * of a text file or directory ({@link GptLm}, {@link GptTrainer}), the last 10% held out. Prints
 * the training loss and the held-out loss, perplexity and bits per byte every --eval-every steps
 * (tokens/s counts the tokens of all ranks),
 * writes a Hugging Face GPT-2 directory (--out) at each evaluation and at the end, and samples a
 * line from it through {@code kiln generate}'s decoder.
 */
final class TrainGpt {
    /** The options of kiln train that the GPT model reads. */
    record Settings(Path data, int steps, int batch, double lr, double weightDecay, int context, int width, int layers, int heads,
                    double dropout, int evalEvery, Path out, int sample, long seed, Path json, boolean checkpointActivations, int zero,
                    Path save, Path resume, boolean bf16) {
        /** With --resume, the model's shape and seed recorded in the checkpoint replace the options'. */
        Settings resumed() throws java.io.IOException {
            if (resume == null) return this;
            Path first = zero > 0 ? GptTrainer.shardFiles(resume).get(0) : resume;
            CliChecks.requireCheckpoint("train --resume", first);
            Map<String, String> m = dev.kiln.compress.ModelCheckpoint.metadata(first);
            if (!"gpt".equals(m.get("model")))
                throw new IllegalArgumentException("train --resume: " + first + " is not a checkpoint of kiln train --model gpt (model=" + m.get("model") + ")");
            try {
                return new Settings(data, steps, batch, lr, weightDecay, Integer.parseInt(m.get("gpt.context")), Integer.parseInt(m.get("gpt.width")),
                        Integer.parseInt(m.get("gpt.layers")), Integer.parseInt(m.get("gpt.heads")), Double.parseDouble(m.get("gpt.dropout")), evalEvery,
                        out, sample, Long.parseLong(m.get("gpt.seed")), json, checkpointActivations, zero, save, resume, bf16);
            } catch (RuntimeException e) {
                throw new IllegalArgumentException("train --resume: " + first + " lacks the gpt.* metadata of kiln train --model gpt");
            }
        }

        /** What a checkpoint records besides the tensors. */
        Map<String, String> meta() {
            Map<String, String> m = new java.util.LinkedHashMap<>();
            m.put("model", "gpt");
            m.put("gpt.layers", Integer.toString(layers));
            m.put("gpt.width", Integer.toString(width));
            m.put("gpt.heads", Integer.toString(heads));
            m.put("gpt.context", Integer.toString(context));
            m.put("gpt.dropout", Double.toString(dropout));
            m.put("gpt.seed", Long.toString(seed));
            return m;
        }
    }

    private TrainGpt() {}

    /** Trains; dist (from kiln train's environment) makes it data parallel: DDP, or ZeRO with --zero 1|2. Rank 0 logs and writes. */
    static int run(Settings settings, PrintWriter out, dev.kiln.dist.DistributedTraining dist) throws Exception {
        Settings s = settings.resumed();
        if (s.data() == null || s.data().toString().equals("fashion-mnist"))
            throw new IllegalArgumentException("train --model gpt: give --data FILE or DIR of text (e.g. /usr/share/games/fortunes)");
        CliChecks.atLeast("train", "--steps", s.steps(), 1);
        CliChecks.atLeast("train", "--context", s.context(), 2);
        CliChecks.atLeast("train", "--width", s.width(), 1);
        CliChecks.atLeast("train", "--layers", s.layers(), 1);
        CliChecks.atLeast("train", "--heads", s.heads(), 1);
        CliChecks.atLeast("train", "--eval-every", s.evalEvery(), 1);
        CliChecks.inRange("train", "--dropout", s.dropout(), 0, 0.99);
        if (s.zero() < 0 || s.zero() > 2) throw new IllegalArgumentException("train: --zero must be 0, 1 or 2, got " + s.zero());
        if (s.zero() > 0 && !dist.isDistributed()) throw new IllegalArgumentException("train: --zero " + s.zero() + " needs several ranks (mpirun -np N or kiln launch)");
        out = dist.log(out);
        if (s.width() % s.heads() != 0) throw new IllegalArgumentException("train: --width " + s.width() + " must be a multiple of --heads " + s.heads());
        TextCorpus corpus = TextCorpus.load(s.data(), 0.1, s.context() + 1);
        GptLm.Config cfg = new GptLm.Config(BpeTokenizer.BYTE_LEVEL_EOS + 1, s.context(), s.width(), s.layers(), s.heads(), s.dropout());
        int warmup = Math.min(s.steps() - 1, Math.max(0, s.steps() / 20));
        GptTrainer.Options o = new GptTrainer.Options(s.steps(), s.batch(), s.lr(), s.weightDecay(), warmup, 1.0, 64, s.seed());
        try (GptLm model = new GptLm(cfg, new Generator(s.seed())).checkpointActivations(s.checkpointActivations());
             GptTrainer tr = new GptTrainer(model, corpus, o, dist.group(), s.zero()).bf16(s.bf16())) {
            out.printf(Locale.ROOT, "text: %s, %d file(s) (%d binary skipped), %,d training bytes, %,d held out%n",
                    corpus.source(), corpus.files(), corpus.skipped(), corpus.train().length, corpus.heldOut().length);
            out.printf(Locale.ROOT, "model gpt (GPT-2 architecture, byte tokens): %d layers, width %d, %d heads, context %d, %,d parameters; "
                            + "AdamW lr %.3g (warm-up %d, cosine), batch %d x %d, %d threads%s%n",
                    s.layers(), s.width(), s.heads(), s.context(), model.parameterCount(), s.lr(), warmup, s.batch(), s.context(), CpuConfig.threads(),
                    (s.checkpointActivations() ? ", activation checkpointing" : "")
                            + (s.bf16() ? ", bf16 Linear products (" + dev.kiln.backend.cpu.Bf16Gemm.describe() + ")" : ""));
            if (dist.isDistributed())
                out.printf(Locale.ROOT, "data parallel: %d ranks (%s backend), %s, batch %d per rank%n", dist.size(), dist.group().backend(),
                        s.zero() == 0 ? "DDP (optimizer state on every rank)" : "ZeRO-" + s.zero() + " (optimizer state sharded" + (s.zero() == 2 ? ", gradients freed once reduced)" : ")"), s.batch());
            long start = 0;
            if (s.resume() != null) {
                tr.resume(s.resume());
                start = tr.stepCount();
                if (start >= s.steps()) throw new IllegalArgumentException("train --resume: " + s.resume() + " is at step " + start + ", not before --steps " + s.steps());
                out.printf(Locale.ROOT, "resumed from %s at step %d%n", s.resume(), start);
            }
            double first = tr.evalLoss();
            out.printf(Locale.ROOT, "%-7s %10s %10s %11s %9s %10s %9s %10s%n", "step", "train", "held-out", "perplexity", "bits/B", "tokens/s", "RSS MiB", "peak MiB");
            row(out, (int) start, Double.NaN, first, Double.NaN, Double.NaN);
            Storage.resetPeakBytes();
            double sum = 0, last = first;
            int n = 0;
            long t0 = System.nanoTime(), tokens = 0;
            for (int step = (int) start + 1; step <= s.steps(); step++) {
                sum += tr.trainStep();
                n++;
                tokens += (long) s.batch() * s.context() * dist.size();          // all ranks' tokens: the job's throughput
                if (step % s.evalEvery() == 0 || step == s.steps()) {
                    double sec = (System.nanoTime() - t0) / 1e9, peak = Storage.peakBytes() / 1048576.0;
                    last = tr.evalLoss();
                    row(out, step, sum / n, last, tokens / sec, peak);
                    Storage.resetPeakBytes();
                    sum = 0;
                    n = 0;
                    tokens = 0;
                    if (s.out() != null && dist.isMain()) tr.saveHuggingFace(s.out());
                    if (s.save() != null && (dist.isMain() || s.zero() > 0))
                        tr.saveCheckpoint(GptTrainer.checkpointFile(s.save(), dist.rank(), dist.size(), s.zero() > 0), s.meta());
                    t0 = System.nanoTime();
                }
            }
            out.printf(Locale.ROOT, "held-out perplexity %.3f -> %.3f (bytes; %.3f -> %.3f bits per byte); peak RSS %.1f MiB%s%n",
                    Math.exp(first), Math.exp(last), first / Math.log(2), last / Math.log(2), TrainCommand.peakRssBytes() / 1048576.0,
                    dist.isDistributed() ? " (rank 0)" : "");
            if (s.out() != null && dist.isMain()) {
                out.println("wrote " + s.out() + " (Hugging Face GPT-2: config.json, model.safetensors, vocab.json, merges.txt); sample it with: kiln generate " + s.out() + " --prompt TEXT");
                if (s.sample() > 0) sample(s.out(), s.sample(), s.seed(), out);
            }
            if (s.json() != null && dist.isMain())
                dev.kiln.io.AtomicWrite.writeString(s.json(), String.format(Locale.ROOT,
                        "{\"model\": \"gpt\", \"steps\": %d, \"parameters\": %d, \"held_out_loss_start\": %.6f, \"held_out_loss\": %.6f, \"perplexity\": %.6f}%n",
                        s.steps(), model.parameterCount(), first, last, Math.exp(last)));
        }
        return Main.OK;
    }

    /** One progress line; peak: the tensor storage high-water mark of the training steps since the last line (Storage.peakBytes). */
    private static void row(PrintWriter out, int step, double train, double heldOut, double tps, double peakMiB) {
        out.printf(Locale.ROOT, "%-7d %10s %10.4f %11.3f %9.3f %10s %9.1f %10s%n", step, Double.isNaN(train) ? "-" : String.format(Locale.ROOT, "%.4f", train),
                heldOut, Math.exp(heldOut), heldOut / Math.log(2), Double.isNaN(tps) ? "-" : String.format(Locale.ROOT, "%.0f", tps),
                TrainCommand.rssBytes() / 1048576.0, Double.isNaN(peakMiB) ? "-" : String.format(Locale.ROOT, "%.1f", peakMiB));
        out.flush();
    }

    /** A sampled continuation of a newline from the written directory, through the generator kiln generate uses. */
    private static void sample(Path dir, int tokens, long seed, PrintWriter out) throws Exception {
        BpeTokenizer tok = BpeTokenizer.fromPath(dir);
        try (Decoder d = Decoder.huggingFace(dir, WeightFormat.F32)) {
            int max = Math.min(tokens, d.contextLength() - 1);
            TextGenerator.Result r = new TextGenerator(d, tok).generate("\n",
                    new TextGenerator.Options(max, Set.of(BpeTokenizer.BYTE_LEVEL_EOS), List.of()), Sampler.sampling(0.8f, 0, 1f, 1f, seed), null, null);
            out.println("sample (temperature 0.8): " + r.text().replace("\n", "\\n"));
        }
    }
}
