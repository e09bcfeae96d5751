package dev.kiln.cli;

import dev.kiln.backend.cpu.CpuConfig;
import dev.kiln.generate.BpeTokenizer;
import dev.kiln.generate.TextGenerator;
import dev.kiln.generate.OnnxDecoder;
import dev.kiln.generate.Sampler;
import dev.kiln.io.Json;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;

/**
 * {@code kiln generate MODEL.onnx --prompt TEXT}: text generation with a decoder's key/value cache
 * (ONNX with past key/values, Hugging Face optimum naming), a byte-level BPE tokenizer
 * ({@code tokenizer.json}, or {@code vocab.json} + {@code merges.txt}) and greedy or sampled
 * decoding. Streams the text; prints prefill and decode tokens/s last; {@code --json} writes the ids.
 */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Generate text with a decoder (ONNX with past key/values) and its byte-level BPE tokenizer.")
final class GenerateCommand implements Callable<Integer> {
    @Spec private CommandSpec spec;

    @Parameters(index = "0", paramLabel = "MODEL", description = "An ONNX decoder with past_key_values.N.key|value inputs and present.N.key|value outputs, "
            + "or a Hugging Face GPT-2 or Llama-family directory (config.json + model.safetensors + tokenizer.json), run on Kiln's own layers.")
    Path model;

    @Option(names = "--tokenizer", paramLabel = "PATH", description = "tokenizer.json, or a directory holding tokenizer.json or vocab.json + merges.txt (default: the model's directory).")
    Path tokenizer;

    @Option(names = "--prompt", paramLabel = "TEXT", description = "The prompt text. Repeat it to generate for several prompts as one batch (each sequence's text printed when all are done).")
    List<String> prompts;

    @Option(names = "--prompt-ids", paramLabel = "ID,...", split = ",", description = "The prompt as token ids instead.")
    int[] promptIds;

    @Option(names = "--max-new-tokens", paramLabel = "N", description = "Most new tokens (default ${DEFAULT-VALUE}).")
    int maxNewTokens = 32;

    @Option(names = "--greedy", description = "Greedy decoding (the default unless --temperature is given).")
    boolean greedy;

    @Option(names = "--temperature", paramLabel = "T", description = "Sample with this temperature (> 0).")
    Float temperature;

    @Option(names = "--top-k", paramLabel = "K", description = "Sample among the K most likely tokens (0: all; default ${DEFAULT-VALUE}).")
    int topK = 0;

    @Option(names = "--top-p", paramLabel = "P", description = "Sample among the most likely tokens whose probability reaches P (default ${DEFAULT-VALUE}).")
    float topP = 1f;

    @Option(names = "--repetition-penalty", paramLabel = "R", description = "Penalty >= 1 on tokens already in the sequence (default ${DEFAULT-VALUE}: none).")
    float repetitionPenalty = 1f;

    @Option(names = "--seed", description = "Seed of the sampler (default ${DEFAULT-VALUE}).")
    long seed = 0;

    @Option(names = "--stop", paramLabel = "TEXT", description = "Stop when the text contains this string (repeatable). The tokenizer's <|endoftext|> always stops.")
    List<String> stops = new ArrayList<>();

    @Option(names = "--threads", paramLabel = "N", description = "CPU threads (default: Kiln's setting).")
    Integer threads;

    @Option(names = "--weights", paramLabel = "f32|bf16|int8|int4", description = "Precision of the constant-weight matrix products (default ${DEFAULT-VALUE}); int8/int4: weight-only, Hugging Face directories.")
    String weights = "f32";

    @Option(names = "--profile", description = "After generating, print the per-op time of all steps (prefill and decode), op by op.")
    boolean profile;

    @Option(names = "--json", paramLabel = "FILE", description = "Also write {prompt_ids, ids, text, prefill_tokens_per_s, decode_tokens_per_s, stop_reason}.")
    Path json;

    @Option(names = "--kv-map", paramLabel = "PK,PV=K,V", description = "How an ONNX decoder names its cache, with {i} for the layer: past key, past value = present key, present value"
            + " (default: Hugging Face optimum's past_key_values.{i}.key,past_key_values.{i}.value=present.{i}.key,present.{i}.value).")
    String kvMap;

    @Override
    public Integer call() throws IOException {
        if ((prompts == null) == (promptIds == null)) throw new IllegalArgumentException("generate: give exactly one of --prompt TEXT and --prompt-ids 1,2,3");
        CliChecks.atLeast("generate", "--max-new-tokens", maxNewTokens, 1);
        if (threads != null) CliChecks.atLeast("generate", "--threads", threads, 1);
        if (greedy && temperature != null) throw new IllegalArgumentException("generate: --greedy and --temperature exclude each other");
        var format = dev.kiln.generate.WeightFormat.parse("generate: --weights", weights);
        dev.kiln.generate.KvNames kv = kvMap == null ? dev.kiln.generate.KvNames.OPTIMUM : dev.kiln.generate.KvNames.parse(kvMap);
        if (!Files.isDirectory(model) && !model.getFileName().toString().endsWith(".gguf") && format.bits() != 0)
            throw new IllegalArgumentException("generate: --weights " + format + " is for Hugging Face directories and GGUF files (native GPT-2 and Llama); quantize an ONNX file with 'kiln quantize --weight-only'");
        var precision = format == dev.kiln.generate.WeightFormat.BF16 ? dev.kiln.onnx.OnnxExecutor.Precision.BF16 : dev.kiln.onnx.OnnxExecutor.Precision.F32;
        boolean hfDir = Files.isDirectory(model);
        if (!hfDir && !Files.isRegularFile(model)) throw new NoSuchFileException(model.toString());
        dev.kiln.io.FileKind kind = hfDir ? dev.kiln.io.FileKind.DIRECTORY : CliChecks.inputKind(model);
        boolean torchScript = kind == dev.kiln.io.FileKind.ZIP, gguf = !hfDir && model.getFileName().toString().endsWith(".gguf");
        if (kvMap != null && (hfDir || !kind.isOnnx()))
            throw new IllegalArgumentException("generate: --kv-map names an ONNX decoder's cache inputs and outputs; " + model + " is not an ONNX file");
        if (!hfDir && !kind.isOnnx() && !torchScript && !gguf)
            throw new IllegalArgumentException(model + ": kiln generate takes an ONNX or TorchScript decoder with past key/values, a GGUF file or a Hugging Face GPT-2 or Llama directory");
        if (torchScript && format != dev.kiln.generate.WeightFormat.F32)
            throw new IllegalArgumentException("generate: --weights " + format + " is not available for TorchScript decoders (f32 only)");
        BpeTokenizer tok;
        if (gguf && tokenizer == null) {
            try (dev.kiln.io.Gguf g = dev.kiln.io.Gguf.open(model)) { tok = BpeTokenizer.fromGguf(g); }
        } else {
            tok = loadTokenizer(tokenizer != null ? tokenizer : hfDir ? model : model.toAbsolutePath().getParent());
        }
        PrintWriter out = spec.commandLine().getOut();
        int saved = CpuConfig.threads();
        if (threads != null) CpuConfig.setThreads(threads);
        try (dev.kiln.generate.Decoder decoder = hfDir ? dev.kiln.generate.Decoder.huggingFace(model, format)
                : gguf ? dev.kiln.generate.Decoder.gguf(model, format)
                : torchScript ? dev.kiln.generate.TorchScriptDecoder.open(model) : OnnxDecoder.open(model, precision, contextLength(model), kv)) {
            Set<Integer> stopIds = new HashSet<>();
            int eos = tok.specialId("<|endoftext|>");
            if (eos >= 0) stopIds.add(eos);
            TextGenerator g = new TextGenerator(decoder, tok);
            if (profile && !(decoder instanceof OnnxDecoder)) throw new IllegalArgumentException("generate: --profile applies to ONNX models only");
            dev.kiln.onnx.OnnxProfile table = profile ? ((OnnxDecoder) decoder).profile(true, false) : null;
            var options = new TextGenerator.Options(maxNewTokens, stopIds, stops);
            if (prompts != null && prompts.size() > 1) {
                batch(g, tok, options, out);
            } else {
                int[] ids = promptIds != null ? promptIds : tok.encode(prompts.get(0));
                TextGenerator.Result r = g.generate(ids, options, sampler(0), (id, text) -> {
                    out.print(text);
                    out.flush();
                    return true;
                }, null);
                out.println();
                out.printf(Locale.ROOT, "prompt %d tokens, %.1f tokens/s; %d new tokens, decode %.1f tokens/s (%s, %d threads)%n",
                        r.promptIds().length, r.prefillTokensPerSecond(), r.ids().length, r.decodeTokensPerSecond(), r.stopReason(), CpuConfig.threads());
                if (json != null) writeJson(List.of(r), false);
            }
            if (table != null) out.print(table.table());
        } finally {
            CpuConfig.setThreads(saved);
        }
        return Main.OK;
    }

    /** The sampler of sequence i: greedy, or sampling seeded with --seed + i (each sequence of a batch its own draws). */
    private Sampler sampler(int i) {
        return temperature == null ? Sampler.greedy(repetitionPenalty) : Sampler.sampling(temperature, topK, topP, repetitionPenalty, seed + i);
    }

    /** Several prompts as one batch ({@link TextGenerator#generateBatch}): each sequence's text, then the speeds. */
    private void batch(TextGenerator g, BpeTokenizer tok, TextGenerator.Options options, PrintWriter out) throws IOException {
        List<int[]> ids = new ArrayList<>();
        List<Sampler> samplers = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i++) {
            ids.add(tok.encode(prompts.get(i)));
            samplers.add(sampler(i));
        }
        long t0 = System.nanoTime();
        List<TextGenerator.Result> rs = g.generateBatch(ids, options, samplers, null, null);
        double seconds = (System.nanoTime() - t0) / 1e9, decodeMs = 0;
        int tokens = 0, steps = 0;
        for (int i = 0; i < rs.size(); i++) {
            TextGenerator.Result r = rs.get(i);
            out.printf(Locale.ROOT, "[%d] %s%s%n", i, prompts.get(i), r.text());
            tokens += r.ids().length;
            steps = Math.max(steps, r.ids().length - 1);
            decodeMs = Math.max(decodeMs, r.decodeMs());
        }
        out.printf(Locale.ROOT, "%d sequences, %d new tokens in %.2f s; decode %.1f tokens/s in all over %d batched steps (%d threads)%n",
                rs.size(), tokens, seconds, decodeMs <= 0 ? 0 : (tokens - rs.size()) / (decodeMs / 1000), steps, CpuConfig.threads());
        if (json != null) writeJson(rs, true);
    }

    /** A tokenizer file, or a directory with tokenizer.json or vocab.json + merges.txt. */
    static BpeTokenizer loadTokenizer(Path p) throws IOException { return BpeTokenizer.fromPath(p); }

    /**
     * The context length from a config next to the model ({@code config.json} or
     * {@code STEM_config.json}: n_positions, n_ctx or max_position_embeddings), or 0 when none says.
     */
    static int contextLength(Path model) throws IOException { return dev.kiln.generate.ModelConfig.near(model).contextLength(); }

    /** --json: one object, or with a batch a list of one object per sequence. */
    private void writeJson(List<TextGenerator.Result> rs, boolean list) throws IOException {
        StringBuilder sb = new StringBuilder(list ? "[" : "");
        for (int i = 0; i < rs.size(); i++) {
            TextGenerator.Result r = rs.get(i);
            sb.append(i == 0 ? "" : ",\n ").append("{\"prompt_ids\": ").append(ids(r.promptIds())).append(", \"ids\": ").append(ids(r.ids()))
                    .append(", \"text\": ").append(Json.quote(r.text()))
                    .append(String.format(Locale.ROOT, ", \"prefill_tokens_per_s\": %.3f, \"decode_tokens_per_s\": %.3f", r.prefillTokensPerSecond(), r.decodeTokensPerSecond()))
                    .append(", \"stop_reason\": ").append(Json.quote(r.stopReason())).append("}");
        }
        sb.append(list ? "]\n" : "\n");
        Path parent = json.toAbsolutePath().getParent();
        if (parent != null) Files.createDirectories(parent);
        Files.writeString(json, sb.toString(), StandardCharsets.UTF_8);
    }

    private static String ids(int[] v) {
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < v.length; i++) sb.append(i == 0 ? "" : ", ").append(v[i]);
        return sb.append(']').toString();
    }
}
