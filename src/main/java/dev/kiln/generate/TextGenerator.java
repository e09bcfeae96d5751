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
 * held back until whole). Several prompts can run as one batch ({@link #generateBatch}): the
 * sequences then advance together, one token each per batched step. Thread-safe as far as the
 * decoder is: each call has its own sessions.
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
        BatchListener one = listener == null ? null : (seq, id, text) -> listener.onToken(id, text);
        return generateBatch(List.of(promptIds), options, List.of(sampler), one, cancelled).get(0);
    }

    /** Sees each new token of a batch: the sequence's index, the id and the text it completes. Return false to stop that sequence. */
    @FunctionalInterface
    public interface BatchListener {
        boolean onToken(int sequence, int id, String text);
    }

    /**
     * Several prompts at once: each is prefilled in its own step (prompts may differ in length;
     * no padding), then the sequences still running advance together, one token each per
     * {@link Decoder#stepAll} (the native decoders read each weight once per step for all of
     * them, so the batch costs little more per step than one sequence). Each sequence stops on its
     * own (stop token or string, budget, context, its listener); samplers.get(i) picks sequence
     * i's tokens (one sampler each: a seeded sampler's draws then do not depend on the others).
     * Returns one result per prompt, in order; a sequence's decode time is the time of the steps
     * it took part in.
     */
    public List<Result> generateBatch(List<int[]> prompts, Options options, List<Sampler> samplers, BatchListener listener,
                                      BooleanSupplier cancelled) {
        if (prompts.isEmpty()) throw new IllegalArgumentException("no prompts");
        if (samplers.size() != prompts.size())
            throw new IllegalArgumentException(prompts.size() + " prompts but " + samplers.size() + " samplers (one per prompt)");
        Seq[] seqs = new Seq[prompts.size()];
        for (int i = 0; i < seqs.length; i++) seqs[i] = new Seq(i, prompts.get(i), options, samplers.get(i));   // checks before any work
        List<Decoder.Session> open = new ArrayList<>();
        try (var burst = dev.kiln.backend.Backends.burst()) {   // steps of many small parallel ops: keep the workers awake
            for (Seq q : seqs) {
                q.session = model.newSession();
                open.add(q.session);
                long t0 = System.nanoTime();
                q.logits = q.session.step(q.promptIds);
                q.prefillMs = (System.nanoTime() - t0) / 1e6;
            }
            while (true) {
                List<Seq> next = new ArrayList<>();
                for (Seq q : seqs) {
                    if (q.reason != null) continue;
                    if (cancelled != null && cancelled.getAsBoolean()) q.reason = "cancelled";
                    else if (q.advance(listener)) next.add(q);
                }
                if (next.isEmpty()) break;
                List<Decoder.Session> sessions = new ArrayList<>();
                int[] ids = new int[next.size()];
                for (int i = 0; i < ids.length; i++) {
                    sessions.add(next.get(i).session);
                    ids[i] = next.get(i).last;
                }
                long t1 = System.nanoTime();
                float[][] logits = model.stepAll(sessions, ids);
                double ms = (System.nanoTime() - t1) / 1e6;
                for (int i = 0; i < ids.length; i++) {
                    next.get(i).logits = logits[i];
                    next.get(i).decodeMs += ms;
                }
            }
        } finally {
            open.forEach(Decoder.Session::close);
        }
        List<Result> out = new ArrayList<>();
        for (Seq q : seqs) out.add(q.result());
        return out;
    }

    /** One sequence of a call: its prompt, sampler, session, the tokens so far and why it stopped (null: running). */
    private final class Seq {
        final int index, budget, vocab;
        final int[] promptIds;
        final Options options;
        final Sampler sampler;
        final List<Integer> seen = new ArrayList<>(), out = new ArrayList<>();
        final StringBuilder text = new StringBuilder();
        final BpeTokenizer.StreamDecoder stream = tokenizer.streamDecoder();
        Decoder.Session session;
        float[] logits;
        int last;
        String reason;
        double prefillMs, decodeMs;

        Seq(int index, int[] promptIds, Options options, Sampler sampler) {
            String which = index == 0 ? "" : " (prompt " + index + ")";
            if (promptIds.length == 0) throw new IllegalArgumentException("the prompt is empty (no tokens)" + which);
            vocab = tokenizer.vocabSize();
            for (int id : promptIds)
                if (id < 0 || id >= vocab) throw new IllegalArgumentException("prompt id " + id + " is outside the vocabulary (0.." + (vocab - 1) + ")" + which);
            int ctx = model.contextLength();
            if (ctx > 0 && promptIds.length >= ctx)
                throw new IllegalArgumentException("the prompt has " + promptIds.length + " tokens; the model's context holds " + ctx + " (prompt + new tokens)" + which);
            this.index = index;
            this.promptIds = promptIds.clone();
            this.options = options;
            this.sampler = sampler;
            this.budget = ctx > 0 ? Math.min(options.maxNewTokens(), ctx - promptIds.length) : options.maxNewTokens();
            for (int id : promptIds) seen.add(id);
        }

        /** Picks the next token from the current logits; false when the sequence stops with it (reason set). */
        boolean advance(BatchListener listener) {
            if (logits.length < vocab)
                throw new IllegalStateException("the model gives " + logits.length + " logits, the tokenizer has " + vocab + " tokens");
            int next = sampler.next(logits, seen);
            out.add(next);
            seen.add(next);
            last = next;
            // a model vocabulary padded beyond the tokenizer's: such ids have no text (as Hugging Face decodes them)
            String piece = next < vocab ? stream.push(next) : "";
            text.append(piece);
            if (listener != null && !listener.onToken(index, next, piece)) reason = "listener";
            else if (options.stopIds().contains(next)) reason = "stop_token";
            else {
                String hit = null;
                for (String st : options.stopStrings()) if (!st.isEmpty() && text.indexOf(st) >= 0) hit = st;
                if (hit != null) {
                    text.setLength(text.indexOf(hit));
                    reason = "stop_string";
                } else if (out.size() == budget) reason = budget < options.maxNewTokens() ? "context" : "max_new_tokens";
            }
            return reason == null;
        }

        Result result() {
            if (!"stop_string".equals(reason)) text.append(stream.flush());
            int[] ids = out.stream().mapToInt(Integer::intValue).toArray();
            return new Result(promptIds, ids, text.toString(), reason, prefillMs, decodeMs);
        }
    }
}
