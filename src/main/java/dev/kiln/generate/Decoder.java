package dev.kiln.generate;

/**
 * A language model that extends a sequence one step at a time against a key/value cache: the
 * source-independent core of {@link TextGenerator} (ONNX decoders today: {@link OnnxDecoder}).
 * A decoder may serve several sessions at once, one per sequence.
 */
public interface Decoder extends AutoCloseable {
    /** The longest sequence (prompt + new tokens) the model takes, or 0 when the model does not say. */
    int contextLength();

    int layers();

    /** A new sequence with an empty cache. */
    Session newSession();

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
