package dev.kiln.generate;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.function.BooleanSupplier;

/**
 * The generation loop: the prompt in one prefill step, then one token per step against the
 * cache, each picked by a {@link Sampler}, until a stop token, a stop string, the token budget,
 * the model's context or cancellation. A listener sees every new token as it is produced, with
 * the text it completes ({@link BpeTokenizer.StreamDecoder}: characters split across tokens are
 * held back until whole). Thread-safe as far as the decoder is: each call has its own session.
 */
public final class TextGenerator {
    /** Sees each new token: its id and the text it completes (may be empty). Return false to stop. */
    @FunctionalInterface
    public interface TokenListener {
        boolean onToken(int id, String text);
    }

    /** What one call produced: the new ids, their text, why it stopped, and the speeds. */
    public record Result(int[] promptIds, int[] ids, String text, String stopReason, double prefillMs, double decodeMs) {
        public double prefillTokensPerSecond() { return prefillMs <= 0 ? 0 : promptIds.length / (prefillMs / 1000); }

        /** New tokens after the first, per second of decode steps. */
        public double decodeTokensPerSecond() { return ids.length <= 1 || decodeMs <= 0 ? 0 : (ids.length - 1) / (decodeMs / 1000); }
    }

    /** Limits and stops of one call. */
    public record Options(int maxNewTokens, Set<Integer> stopIds, List<String> stopStrings) {
        public Options {
            if (maxNewTokens < 1) throw new IllegalArgumentException("max new tokens must be >= 1, got " + maxNewTokens);
            stopIds = Set.copyOf(stopIds);
            stopStrings = List.copyOf(stopStrings);
        }
    }

    private final Decoder model;
    private final BpeTokenizer tokenizer;

    public TextGenerator(Decoder model, BpeTokenizer tokenizer) {
        this.model = model;
        this.tokenizer = tokenizer;
    }

    public Result generate(String prompt, Options options, Sampler sampler, TokenListener listener, BooleanSupplier cancelled) {
        return generate(tokenizer.encode(prompt), options, sampler, listener, cancelled);
    }

    public Result generate(int[] promptIds, Options options, Sampler sampler, TokenListener listener, BooleanSupplier cancelled) {
        if (promptIds.length == 0) throw new IllegalArgumentException("the prompt is empty (no tokens)");
        int vocab = tokenizer.vocabSize();
        for (int id : promptIds)
            if (id < 0 || id >= vocab) throw new IllegalArgumentException("prompt id " + id + " is outside the vocabulary (0.." + (vocab - 1) + ")");
        int ctx = model.contextLength();
        if (ctx > 0 && promptIds.length >= ctx)
            throw new IllegalArgumentException("the prompt has " + promptIds.length + " tokens; the model's context holds " + ctx + " (prompt + new tokens)");
        int budget = ctx > 0 ? Math.min(options.maxNewTokens(), ctx - promptIds.length) : options.maxNewTokens();
        List<Integer> seen = new ArrayList<>();
        for (int id : promptIds) seen.add(id);
        List<Integer> out = new ArrayList<>();
        StringBuilder text = new StringBuilder();
        BpeTokenizer.StreamDecoder stream = tokenizer.streamDecoder();
        String reason = "max_new_tokens";
        double prefillMs, decodeMs = 0;
        try (Decoder.Session s = model.newSession()) {
            long t0 = System.nanoTime();
            float[] logits = s.step(promptIds);
            prefillMs = (System.nanoTime() - t0) / 1e6;
            for (int k = 0; k < budget; k++) {
                if (cancelled != null && cancelled.getAsBoolean()) {
                    reason = "cancelled";
                    break;
                }
                if (logits.length < vocab)
                    throw new IllegalStateException("the model gives " + logits.length + " logits, the tokenizer has " + vocab + " tokens");
                int next = sampler.next(logits, seen);
                out.add(next);
                seen.add(next);
                // a model vocabulary padded beyond the tokenizer's: such ids have no text (as Hugging Face decodes them)
                String piece = next < vocab ? stream.push(next) : "";
                text.append(piece);
                if (listener != null && !listener.onToken(next, piece)) {
                    reason = "listener";
                    break;
                }
                if (options.stopIds().contains(next)) {
                    reason = "stop_token";
                    break;
                }
                String hit = null;
                for (String st : options.stopStrings()) if (!st.isEmpty() && text.indexOf(st) >= 0) hit = st;
                if (hit != null) {
                    text.setLength(text.indexOf(hit));
                    reason = "stop_string";
                    break;
                }
                if (k + 1 == budget) {
                    if (budget < options.maxNewTokens()) reason = "context";
                    break;
                }
                long t1 = System.nanoTime();
                logits = s.step(new int[] {next});
                decodeMs += (System.nanoTime() - t1) / 1e6;
            }
        }
        if (!reason.equals("stop_string")) text.append(stream.flush());
        int[] ids = out.stream().mapToInt(Integer::intValue).toArray();
        return new Result(promptIds.clone(), ids, text.toString(), reason, prefillMs, decodeMs);
    }
}
