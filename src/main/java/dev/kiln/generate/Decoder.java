package dev.kiln.generate;

/**
 * A language model that extends a sequence one step at a time against a key/value cache: the
 * source-independent core of {@link TextGenerator} ({@link OnnxDecoder}, and the native
 * {@link Gpt2Decoder} and {@link LlamaDecoder}).
 * A decoder may serve several sessions at once, one per sequence.
 */
public interface Decoder extends AutoCloseable {
    /**
     * The native decoder for a Hugging Face model directory, by its config's model_type: gpt2
     * ({@link Gpt2Decoder}), llama, mistral or qwen2 ({@link LlamaDecoder}); others are a one-line error.
     */
    static Decoder huggingFace(java.nio.file.Path dir, WeightFormat format) throws java.io.IOException {
        String type = HfCheckpoint.modelType(dir);
        if (type == null || type.equals("gpt2")) return Gpt2Decoder.load(dir, format);   // no config.json: Gpt2Decoder names what is missing
        if (type.equals("llama") || type.equals("mistral") || type.equals("qwen2")) return LlamaDecoder.load(dir, format);
        throw new IllegalArgumentException(dir.resolve("config.json") + ": model_type " + type
                + " is not supported natively (gpt2, llama, mistral, qwen2; other models through ONNX)");
    }

    /** A GGUF file (Llama architecture) on Kiln's own layers ({@link LlamaDecoder#loadGguf}). */
    static Decoder gguf(java.nio.file.Path file, WeightFormat format) throws java.io.IOException { return LlamaDecoder.loadGguf(file, format); }

    /** The longest sequence (prompt + new tokens) the model takes, or 0 when the model does not say. */
    int contextLength();

    int layers();

    /** A new sequence with an empty cache. */
    Session newSession();

    /**
     * One decode step for several sequences at once: ids[i] is appended to sessions.get(i) (each a
     * session of this decoder, each appearing once); returns each one's logits, as its own
     * {@link Session#step} would (to float rounding: a batched matrix product may add in another
     * order). This default steps them one after the other; the native decoders read each weight
     * once for the whole batch, which is what bounds a decode step.
     */
    default float[][] stepAll(java.util.List<Session> sessions, int[] ids) {
        if (sessions.size() != ids.length)
            throw new IllegalArgumentException(sessions.size() + " sessions but " + ids.length + " token ids");
        float[][] out = new float[ids.length][];
        for (int i = 0; i < ids.length; i++) out[i] = sessions.get(i).step(new int[] {ids[i]});
        return out;
    }

    @Override void close();

    /** One sequence: its cache and its length so far. */
    interface Session extends AutoCloseable {
        /** Appends ids to the sequence (the whole prompt at once for the prefill) and returns the logits of the last one. */
        float[] step(int[] ids);

        /** Tokens in the cache. */
        int length();

        @Override void close();
    }
}
