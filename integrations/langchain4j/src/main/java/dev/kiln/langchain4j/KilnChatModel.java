package dev.kiln.langchain4j;

import dev.kiln.generate.WeightFormat;
import dev.langchain4j.model.ModelProvider;
import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.ChatResponse;

import java.nio.file.Path;

/**
 * A LangChain4j {@link ChatModel} that generates on Kiln, in this JVM: an ONNX decoder with past
 * key/values or a Hugging Face GPT-2 / Llama-family directory (see {@link KilnChatEngine} for the
 * prompt format and the request parameters it takes). Thread-safe: each request runs in its own
 * session of the one loaded model. Close it to release the model.
 * <pre>
 * try (KilnChatModel model = KilnChatModel.builder().model(Path.of("llama_dir")).weights(WeightFormat.INT4).build()) {
 *     String answer = model.chat("What is a kiln?");
 * }
 * </pre>
 */
public final class KilnChatModel implements ChatModel, AutoCloseable {
    private final KilnChatEngine engine;

    private KilnChatModel(KilnChatEngine engine) { this.engine = engine; }

    public static Builder builder() { return new Builder(); }

    @Override public ChatResponse doChat(ChatRequest request) { return engine.run(request, null, null); }

    @Override public ModelProvider provider() { return ModelProvider.OTHER; }

    @Override public void close() { engine.close(); }

    /** model (required), tokenizer (default: next to the model), weights (default f32), maxNewTokens (default 256), seed (default 0). */
    public static final class Builder {
        Path model, tokenizer;
        WeightFormat weights = WeightFormat.F32;
        int maxNewTokens = 256;
        long seed;

        public Builder model(Path p) { model = p; return this; }
        public Builder tokenizer(Path p) { tokenizer = p; return this; }
        public Builder weights(WeightFormat w) { weights = w; return this; }
        public Builder maxNewTokens(int n) { maxNewTokens = n; return this; }
        public Builder seed(long s) { seed = s; return this; }

        public KilnChatModel build() { return new KilnChatModel(new KilnChatEngine(model, tokenizer, weights, maxNewTokens, seed)); }

        /** The streaming model on the same settings. */
        public KilnStreamingChatModel buildStreaming() {
            return new KilnStreamingChatModel(new KilnChatEngine(model, tokenizer, weights, maxNewTokens, seed));
        }
    }
}
