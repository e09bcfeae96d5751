package dev.kiln.train;

import dev.kiln.autograd.GradMode;
import dev.kiln.dist.DistributedDataParallel;
import dev.kiln.dist.ProcessGroup;
import dev.kiln.dist.ZeroOptimizer;
import dev.kiln.generate.BpeTokenizer;
import dev.kiln.io.AtomicWrite;
import dev.kiln.io.Safetensors;
import dev.kiln.nn.GptLm;
import dev.kiln.nn.Loss;
import dev.kiln.ops.Autocast;
import dev.kiln.optim.Adam;
import dev.kiln.optim.LrSchedule;
import dev.kiln.optim.Optimizer;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Trains a {@link GptLm} on the bytes of a {@link TextCorpus} (token = byte): each step takes
 * {@code batch} windows of {@code context + 1} bytes at seeded random offsets of the training part,
 * predicts every next byte (cross-entropy over [batch, time, vocab]), clips the gradients' global
 * norm and takes an AdamW step under a warm-up + cosine learning rate. {@link #evalLoss} is the
 * mean next-byte loss over fixed windows spread over the held-out part (perplexity = e^loss).
 * Data parallel over a process group: with ZeRO stage 0, {@link DistributedDataParallel} (gradients
 * all-reduced, then clipped and stepped on every rank); with stage 1 or 2, a {@link ZeroOptimizer}
 * (optimizer state sharded, clipping by the global norm across shards). Each rank draws its own
 * windows (its seed offset by its rank), so the global batch is batch x ranks.
 * {@link #saveHuggingFace} writes a Hugging Face GPT-2 directory ({@code config.json},
 * {@code model.safetensors}, a byte-level {@code vocab.json} + {@code merges.txt}) that
 * {@code kiln generate} and transformers load.
 */
public final class GptTrainer implements AutoCloseable {
    public record Options(int steps, int batch, double lr, double weightDecay, int warmup, double clip, int evalWindows, long seed) {
        public Options {
            if (steps < 1 || batch < 1 || evalWindows < 1) throw new IllegalArgumentException("GptTrainer: steps, batch and evalWindows must be >= 1");
            if (!(lr > 0) || weightDecay < 0 || clip <= 0) throw new IllegalArgumentException("GptTrainer: need lr > 0, weightDecay >= 0, clip > 0");
            if (warmup < 0 || warmup >= steps) throw new IllegalArgumentException("GptTrainer: warmup " + warmup + " must be in [0, steps " + steps + ")");
        }
    }

    private final GptLm model;
    private final ProcessGroup pg;
    private final DistributedDataParallel ddp;
    private final TextCorpus data;
    private final Options o;
    private final Optimizer opt;
    private final LrSchedule schedule;
    private final dev.kiln.tensor.Generator rnd;
    private final int context;
    private long step;

    public GptTrainer(GptLm model, TextCorpus data, Options o) { this(model, data, o, null, 0); }

    private boolean bf16;

    /**
     * With on, each training step's forward and backward run under {@link Autocast#bf16()}: the
     * Linear layers' products in bf16 with f32 sums, parameters, gradients and optimizer state in
     * f32. Evaluation stays f32.
     */
    public GptTrainer bf16(boolean on) {
        bf16 = on;
        return this;
    }

    /** Data parallel over pg (null: one process) with ZeRO stage 0 (DDP), 1 or 2. */
    public GptTrainer(GptLm model, TextCorpus data, Options o, ProcessGroup pg, int zeroStage) {
        this.model = model;
        this.data = data;
        this.o = o;
        this.context = model.config().context();
        if (data.train().length < context + 1 || data.heldOut().length < context + 1)
            throw new IllegalArgumentException(data.source() + ": the training part (" + data.train().length + " bytes) and the held-out part ("
                    + data.heldOut().length + ") must each hold a window of context + 1 = " + (context + 1) + " bytes");
        if (zeroStage < 0 || zeroStage > 2) throw new IllegalArgumentException("GptTrainer: ZeRO stage must be 0, 1 or 2, got " + zeroStage);
        java.util.function.Function<java.util.List<Tensor>, Optimizer> adamW = ps -> Adam.adamW(ps, o.lr(), 0.9, 0.95, 1e-8, o.weightDecay());
        if (pg == null || pg.size() == 1 && zeroStage == 0) {
            this.ddp = null;
            this.opt = adamW.apply(model.parameters());
        } else if (zeroStage == 0) {
            this.ddp = new DistributedDataParallel(model, pg);
            this.opt = adamW.apply(model.parameters());
        } else {
            this.ddp = null;
            this.opt = ZeroOptimizer.of(model.parameters(), pg, zeroStage, adamW).clipGradNorm(o.clip());
        }
        this.schedule = LrSchedule.warmupCosine(opt, o.warmup(), o.steps(), o.lr() * 0.1);
        this.rnd = new dev.kiln.tensor.Generator(o.seed() + (pg == null ? 0 : 1_000_003L * pg.rank()));
        this.pg = pg;
    }

    public Optimizer optimizer() { return opt; }

    public long stepCount() { return step; }

    /** One optimizer step on a fresh random batch; returns its training loss (mean next-byte cross-entropy). */
    public double trainStep() {
        model.train();
        long[] x = new long[o.batch() * context], y = new long[x.length];
        byte[] b = data.train();
        for (int i = 0; i < o.batch(); i++) {
            int at = rnd.nextInt(b.length - context);
            for (int t = 0; t < context; t++) {
                x[i * context + t] = b[at + t] & 0xff;
                y[i * context + t] = b[at + t + 1] & 0xff;
            }
        }
        double loss;
        try (Scope s = Scope.open(); Autocast.Guard ac = bf16 ? Autocast.bf16() : Autocast.f32()) {
            opt.zeroGrad();
            Tensor ids = Tensor.fromArray(x, o.batch(), context);
            Tensor l = Loss.crossEntropy(ddp != null ? ddp.forward(ids) : model.forward(ids), Tensor.fromArray(y, o.batch(), context),
                    -100, 0, Loss.Reduction.MEAN);
            loss = l.item();
            l.backward();
            if (ddp != null) ddp.finishGradients();                       // averaged over the ranks before clipping
            if (!(opt instanceof ZeroOptimizer)) Optimizer.clipGradNorm(model.parameters(), o.clip());   // ZeRO clips across its shards
            opt.step();
        }
        schedule.step();
        step++;
        return loss;
    }

    /** Mean next-byte loss over evalWindows windows evenly spread over the held-out part (eval mode, no gradients). */
    public double evalLoss() {
        model.eval();
        byte[] b = data.heldOut();
        int windows = o.evalWindows(), span = b.length - context - 1;
        double total = 0;
        try (GradMode.Guard g = GradMode.noGrad()) {
            for (int w0 = 0; w0 < windows; w0 += o.batch()) {
                int n = Math.min(o.batch(), windows - w0);
                long[] x = new long[n * context], y = new long[x.length];
                for (int i = 0; i < n; i++) {
                    int at = windows == 1 ? 0 : (int) ((long) span * (w0 + i) / (windows - 1));
                    for (int t = 0; t < context; t++) {
                        x[i * context + t] = b[at + t] & 0xff;
                        y[i * context + t] = b[at + t + 1] & 0xff;
                    }
                }
                try (Scope s = Scope.open()) {
                    total += n * Loss.crossEntropy(model.forward(Tensor.fromArray(x, n, context)), Tensor.fromArray(y, n, context),
                            -100, 0, Loss.Reduction.MEAN).item();
                }
            }
        }
        model.train();
        return total / windows;
    }

    /**
     * A training checkpoint (Kiln's checkpoint format: the model, this rank's optimizer state, and
     * in its metadata the step, the model's random state and meta; the data sampler's state follows
     * from the seed, the rank and the step): training
     * resumed from it ({@link #resume}) continues exactly as if it had not stopped. With ZeRO each
     * rank writes its own file (its shard of the optimizer state): {@link #checkpointFile}.
     */
    public void saveCheckpoint(Path file, Map<String, String> meta) {
        LinkedHashMap<String, String> m = new LinkedHashMap<>(meta);
        m.put("step", Long.toString(step));
        m.put("model_rng", model.generator().state());
        Checkpoint.save(file, model, opt, m);
    }

    /** Where rank r of W writes a checkpoint named file: file itself, or with ZeRO "file.rank-R-of-W". */
    public static Path checkpointFile(Path file, int rank, int world, boolean sharded) {
        return sharded && world > 1 ? file.resolveSibling(file.getFileName() + ".rank-" + rank + "-of-" + world) : file;
    }

    /**
     * Continues from a checkpoint of {@link #saveCheckpoint}: parameters, optimizer state, step,
     * learning-rate schedule and both random states. With ZeRO, every shard file of the run that
     * wrote it is read (file.rank-R-of-W, any W): the state is re-cut for this world size. Returns
     * the checkpoint's metadata.
     */
    public Map<String, String> resume(Path file) throws java.io.IOException {
        Map<String, String> meta;
        if (opt instanceof ZeroOptimizer z) {
            List<Path> shards = shardFiles(file);
            List<Map<String, Tensor>> states = new ArrayList<>();
            List<dev.kiln.io.Safetensors.Contents> open = new ArrayList<>();
            meta = null;
            try {
                for (Path f : shards) {
                    dev.kiln.io.Safetensors.Contents c = dev.kiln.io.Safetensors.read(f);
                    open.add(c);
                    Checkpoint.Parts parts = Checkpoint.parts(f, c);
                    if (meta == null) meta = parts.into(model, null);               // the model from the first shard file
                    states.add(parts.optim());
                }
                z.loadShards(states);
            } finally {
                for (var c : open) c.close();
            }
        } else {
            meta = Checkpoint.load(file, model, opt);
        }
        step = Long.parseLong(meta.getOrDefault("step", "0"));
        // the data sampler makes batch draws per step from a seed that depends on the rank only: replay them
        for (long s = 0; s < step; s++) for (int i = 0; i < o.batch(); i++) rnd.nextInt(data.train().length - context);
        if (meta.containsKey("model_rng")) model.generator().setState(meta.get("model_rng"));
        for (long s = 0; s < step; s++) schedule.step();
        return meta;
    }

    /** The shard files of a ZeRO checkpoint named file (file.rank-R-of-W), all W of them; a one-line error when some are missing. */
    public static List<Path> shardFiles(Path file) throws java.io.IOException {
        String prefix = file.getFileName() + ".rank-";
        Path dir = file.toAbsolutePath().getParent();
        int world = -1;
        try (var s = java.nio.file.Files.list(dir)) {
            for (Path p : (Iterable<Path>) s::iterator) {
                String n = p.getFileName().toString();
                if (n.startsWith(prefix) && n.contains("-of-")) world = Integer.parseInt(n.substring(n.lastIndexOf("-of-") + 4));
            }
        }
        if (world < 1) throw new IllegalArgumentException(file + ": no ZeRO shard files (" + prefix + "R-of-W) next to it");
        List<Path> out = new ArrayList<>();
        for (int r = 0; r < world; r++) {
            Path p = dir.resolve(prefix + r + "-of-" + world);
            if (!java.nio.file.Files.isRegularFile(p)) throw new IllegalArgumentException(file + ": shard " + p.getFileName() + " is missing");
            out.add(p);
        }
        return out;
    }

    /** Writes dir/config.json, dir/model.safetensors (GPT-2 names and layout), dir/vocab.json and dir/merges.txt. */
    public void saveHuggingFace(Path dir) throws IOException {
        Files.createDirectories(dir);
        LinkedHashMap<String, Tensor> state = model.huggingFaceState();
        try {
            Safetensors.write(dir.resolve("model.safetensors"), state, Map.of("format", "pt"));
        } finally {
            for (Tensor t : state.values()) t.close();
        }
        AtomicWrite.writeString(dir.resolve("config.json"), model.huggingFaceConfig(BpeTokenizer.BYTE_LEVEL_EOS));
        BpeTokenizer.writeByteLevel(dir);
    }

    @Override
    public void close() {
        opt.close();
        if (ddp != null) ddp.close();
    }
}
