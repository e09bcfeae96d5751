package dev.kiln.bench.generate;

import com.github.tjake.jlama.model.AbstractModel;
import com.github.tjake.jlama.model.ModelSupport;
import com.github.tjake.jlama.safetensors.Config;
import com.github.tjake.jlama.safetensors.DType;
import com.github.tjake.jlama.tensor.AbstractTensor;
import com.github.tjake.jlama.tensor.KvBufferCache;
import com.github.tjake.jlama.tensor.operations.TensorOperationsProvider;
import com.github.tjake.jlama.util.MachineSpec;
import com.github.tjake.jlama.util.PhysicalCoreExecutor;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.ForkJoinPool;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Greedy decoding speed of Jlama (com.github.tjake:jlama-core, pure Java) on a Hugging Face GPT-2 directory
 * (config.json, model.safetensors, tokenizer.json), driven by the loop of {@code DecodeBench}'s ONNX Runtime
 * peer: prefill of the given prompt ids in one batched call, argmax of the last position's logits, then one
 * token per step, N new tokens in all (N - 1 decode steps). Prefill tokens/s = prompt length / (batched forward
 * + LM head + argmax of the first new token); decode tokens/s = (N - 1) / (time of the N - 1 single-token steps).
 *
 * <p>Jlama's own {@code generate(...)} is not used: it takes a text prompt (tokenizes it and prepends BOS) and
 * reports text, not ids. The loop below calls the same public methods it calls ({@code batchForward}, {@code
 * forward}, {@code sample} with temperature 0, which is an argmax, first index among equal maxima) with a fresh
 * KV buffer per round. Weights and working memory are F32, or with {@code --quantize Q4|I8|BF16} the weights are
 * quantized at load (Jlama's Q4 / I8 blocks; Jlama 0.8.4 quantizes Llama-family weights, not GPT-2's) and
 * {@code --working-quantization} (default F32) sets the activations' type in the products (Jlama's Panama kernels
 * take F32 activations with F32, BF16 or Q4 weights; I8 activations with Q4 weights fail there). Threads: Jlama's matmuls run on
 * {@link PhysicalCoreExecutor}'s ForkJoin pool, sized here with {@code loadModel(..., Optional.of(threads))};
 * its MLP activation loop is a parallel stream on the common pool, whose parallelism is set to threads - 1
 * (plus the calling thread) unless -Djava.util.concurrent.ForkJoinPool.common.parallelism is given.
 *
 * <pre>
 *   mvn -B -q -f bench/jlama-peer/pom.xml package
 *   java --add-modules jdk.incubator.vector -Djlama.force_panama_tensor_operations=true \
 *        -cp bench/jlama-peer/target/kiln-jlama-peer-0.1.0-SNAPSHOT.jar:$(cat bench/jlama-peer/target/classpath.txt) \
 *        dev.kiln.bench.generate.JlamaDecodeBench HF_DIR --prompt-ids 358,220,... [--new-tokens 64] [--rounds 5]
 *        [--warmup-rounds 2] [--threads 2] [--golden greedy_tied.json] [--quantize Q4|I8|BF16] [--working-quantization F32|I8]
 * </pre>
 * --golden: a greedy.json-style file whose first case's new_ids the generated ids are compared with.
 */
public final class JlamaDecodeBench {
    public static void main(String[] args) throws Exception {
        File dir = new File(args[0]);
        int[] prompt = null;
        int newTokens = 64, rounds = 5, warmupRounds = 2, threads = 2;
        Path golden = null;
        DType quant = null, workingQ = DType.F32;
        for (int i = 1; i < args.length; i++) {
            switch (args[i]) {
                case "--prompt-ids" -> prompt = Arrays.stream(args[++i].split(",")).map(String::trim).mapToInt(Integer::parseInt).toArray();
                case "--new-tokens" -> newTokens = Integer.parseInt(args[++i]);
                case "--rounds" -> rounds = Integer.parseInt(args[++i]);
                case "--warmup-rounds" -> warmupRounds = Integer.parseInt(args[++i]);
                case "--threads" -> threads = Integer.parseInt(args[++i]);
                case "--golden" -> golden = Path.of(args[++i]);
                case "--quantize" -> quant = DType.valueOf(args[++i]);   // Q4, I8 or BF16: weights quantized at load
                case "--working-quantization" -> workingQ = DType.valueOf(args[++i]);
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        if (prompt == null) throw new IllegalArgumentException("--prompt-ids is required");
        // before anything touches the common pool or Jlama's operations provider
        if (System.getProperty("java.util.concurrent.ForkJoinPool.common.parallelism") == null)
            System.setProperty("java.util.concurrent.ForkJoinPool.common.parallelism", Integer.toString(Math.max(1, threads - 1)));
        if (System.getProperty("jlama.force_panama_tensor_operations") == null)
            System.setProperty("jlama.force_panama_tensor_operations", "true");

        long t0 = System.nanoTime();
        AbstractModel model = quant == null ? ModelSupport.loadModel(dir, null, DType.F32, DType.F32, Optional.empty(), Optional.of(threads))
                : ModelSupport.loadModel(dir, null, DType.F32, workingQ, Optional.of(quant), Optional.of(threads));
        double loadS = (System.nanoTime() - t0) / 1e9;
        Config c = model.getConfig();
        System.out.printf(Locale.ROOT, "jlama %s: %s, %d layers, embedding %d, %d heads, vocab %d, context %d; loaded in %.1f s%n",
                dir, model.getModelType(), c.numberOfLayers, c.embeddingLength, c.numberOfHeads, c.vocabularySize, c.contextLength, loadS);
        System.out.printf(Locale.ROOT, "kernels %s (vector type %s, force_panama=%s), working dtype %s, pool threads %d, common pool parallelism %d%n",
                TensorOperationsProvider.get().name(), MachineSpec.VECTOR_TYPE, System.getProperty("jlama.force_panama_tensor_operations"),
                model.getWorkingDType(), PhysicalCoreExecutor.instance.get().getCoreCount(), ForkJoinPool.getCommonPoolParallelism());
        System.out.printf(Locale.ROOT, "prompt %d ids, %d new tokens, %d threads, %d warm-up + %d rounds%n",
                prompt.length, newTokens, threads, warmupRounds, rounds);

        List<Double> decode = new ArrayList<>(), prefill = new ArrayList<>();
        int[] ids = null;
        for (int r = 0; r < warmupRounds; r++) {
            Run run = generate(model, prompt, newTokens);
            System.out.printf(Locale.ROOT, "warm-up %d: prefill %.1f tok/s decode %.1f tok/s%n", r, run.prefillTps, run.decodeTps);
        }
        for (int r = 0; r < rounds; r++) {
            Run run = generate(model, prompt, newTokens);
            if (ids != null && !Arrays.equals(ids, run.ids)) System.out.println("WARNING: round " + r + " ids differ from the previous round's");
            ids = run.ids;
            prefill.add(run.prefillTps);
            decode.add(run.decodeTps);
            System.out.printf(Locale.ROOT, "round %d: jlama prefill %.1f tok/s (%.1f ms) decode %.1f tok/s (%.2f ms/token)%n",
                    r, run.prefillTps, run.prefillMs, run.decodeTps, run.decodeMs / (newTokens - 1));
        }
        System.out.printf(Locale.ROOT, "median decode tokens/s: jlama %.1f%n", median(decode));
        System.out.printf(Locale.ROOT, "median prefill tokens/s: jlama %.1f%n", median(prefill));
        System.out.println("ids " + Arrays.toString(ids));
        if (golden != null) {
            int[] want = goldenIds(golden);
            int n = Math.min(want.length, ids.length), first = -1;
            for (int i = 0; i < n && first < 0; i++) if (want[i] != ids[i]) first = i;
            System.out.println("golden " + golden + ": " + (first < 0
                    ? "first " + n + " ids equal"
                    : "differ from index " + first + " (golden " + want[first] + ", jlama " + ids[first] + "); golden " + Arrays.toString(want)));
        }
        model.close();
    }

    record Run(int[] ids, double prefillMs, double decodeMs, double prefillTps, double decodeTps) {}

    static Run generate(AbstractModel model, int[] prompt, int newTokens) {
        Config c = model.getConfig();
        int[] out = new int[newTokens];
        KvBufferCache cache = new KvBufferCache(model);
        try (KvBufferCache.KvBuffer kv = cache.getKvBuffer(UUID.randomUUID());
             AbstractTensor logits = model.makeDenseTensor(c.vocabularySize)) {
            long t0 = System.nanoTime();
            AbstractTensor last = model.batchForward(prompt, 0, kv);
            out[0] = model.sample(last.slice(last.shape().first() - 1), 0.0f, 0.0f, logits);
            last.close();
            long t1 = System.nanoTime();
            for (int k = 1; k < newTokens; k++) {
                AbstractTensor h = model.forward(out[k - 1], prompt.length + k - 1, kv, Optional.empty());
                out[k] = model.sample(h, 0.0f, 0.0f, logits);
                h.close();
                kv.incrementContextPosition();
            }
            long t2 = System.nanoTime();
            double prefillMs = (t1 - t0) / 1e6, decodeMs = (t2 - t1) / 1e6;
            return new Run(out, prefillMs, decodeMs, prompt.length / (prefillMs / 1000), (newTokens - 1) / (decodeMs / 1000));
        } finally {
            cache.close();
        }
    }

    static int[] goldenIds(Path file) throws Exception {
        Matcher m = Pattern.compile("\"new_ids\"\\s*:\\s*\\[([^\\]]*)\\]").matcher(Files.readString(file));
        if (!m.find()) throw new IllegalArgumentException("no new_ids in " + file);
        return Arrays.stream(m.group(1).split(",")).map(String::trim).mapToInt(Integer::parseInt).toArray();
    }

    static double median(List<Double> v) {
        double[] s = v.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        return s[s.length / 2];
    }
}
