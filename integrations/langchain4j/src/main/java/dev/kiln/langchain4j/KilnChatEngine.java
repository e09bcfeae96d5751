package dev.kiln.langchain4j;

import dev.kiln.generate.BpeTokenizer;
import dev.kiln.generate.Decoder;
import dev.kiln.generate.OnnxDecoder;
import dev.kiln.generate.Sampler;
import dev.kiln.generate.TextGenerator;
import dev.kiln.generate.WeightFormat;
import dev.kiln.onnx.OnnxExecutor;
import dev.langchain4j.data.message.AiMessage;
import dev.langchain4j.data.message.ChatMessage;
import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.exception.UnsupportedFeatureException;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ResponseFormat;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.output.FinishReason;
import dev.langchain4j.model.output.TokenUsage;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.BooleanSupplier;

/**
 * What {@link KilnChatModel} and {@link KilnStreamingChatModel} share: one loaded decoder (an ONNX
 * decoder with past key/values, or a Hugging Face GPT-2 / Llama-family directory) and its
 * tokenizer, the prompt built from the chat messages, and one generation per request in its own
 * session (so requests may run on several threads at once against the same model).
 *
 * <p>The messages become plain text, one line per message, {@code "System: ..."}, {@code "User: ..."},
 * {@code "Assistant: ..."}, then {@code "Assistant:"} for the reply; the reply stops at a following
 * {@code "\nUser:"} line, at the tokenizer's {@code <|endoftext|>}, at the request's stop sequences or
 * at its token limit. Model-specific chat templates (tokenizer_config.json's Jinja) are not applied.
 * Request parameters: temperature (absent or 0: greedy), top-k, top-p, max output tokens, stop
 * sequences. Tools, JSON response formats and frequency / presence penalties are refused with
 * {@link UnsupportedFeatureException}.
 */
final class KilnChatEngine implements AutoCloseable {
    static final String REPLY_STOP = "\nUser:";

    private final Decoder decoder;
    private final BpeTokenizer tokenizer;
    private final TextGenerator generator;
    private final int defaultMaxTokens;
    private final long seed;
    final String name;

    KilnChatEngine(Path model, Path tokenizerPath, WeightFormat weights, int defaultMaxTokens, long seed) {
        if (model == null) throw new IllegalArgumentException("kiln chat model: no model path given");
        if (defaultMaxTokens < 1) throw new IllegalArgumentException("kiln chat model: maxNewTokens must be >= 1, got " + defaultMaxTokens);
        try {
            boolean dir = Files.isDirectory(model);
            if (!dir && !Files.isRegularFile(model)) throw new java.nio.file.NoSuchFileException(model.toString());
            if (!dir && weights.bits() != 0)
                throw new IllegalArgumentException("kiln chat model: weights " + weights + " are for Hugging Face directories; quantize an ONNX file with 'kiln quantize --weight-only'");
            this.tokenizer = BpeTokenizer.fromPath(tokenizerPath != null ? tokenizerPath : dir ? model : model.toAbsolutePath().getParent());
            this.decoder = dir ? Decoder.huggingFace(model, weights)
                    : OnnxDecoder.open(model, weights == WeightFormat.BF16 ? OnnxExecutor.Precision.BF16 : OnnxExecutor.Precision.F32, 0);
        } catch (IOException e) {
            throw new UncheckedIOException("kiln chat model: " + e.getMessage(), e);
        }
        this.generator = new TextGenerator(decoder, tokenizer);
        this.defaultMaxTokens = defaultMaxTokens;
        this.seed = seed;
        this.name = model.getFileName().toString();
    }

    /** The prompt for the request's messages (see the class comment). */
    static String prompt(List<ChatMessage> messages) {
        if (messages == null || messages.isEmpty()) throw new IllegalArgumentException("kiln chat model: the request has no messages");
        StringBuilder p = new StringBuilder();
        for (ChatMessage m : messages) {
            switch (m) {
                case SystemMessage s -> p.append("System: ").append(s.text()).append('\n');
                case UserMessage u -> {
                    if (!u.hasSingleText()) throw new UnsupportedFeatureException("kiln chat model: only text user messages are supported");
                    p.append("User: ").append(u.singleText()).append('\n');
                }
                case AiMessage a -> {
                    if (a.hasToolExecutionRequests()) throw new UnsupportedFeatureException("kiln chat model: tool calls are not supported");
                    p.append("Assistant: ").append(a.text() == null ? "" : a.text()).append('\n');
                }
                default -> throw new UnsupportedFeatureException("kiln chat model: " + m.type() + " messages are not supported");
            }
        }
        return p.append("Assistant:").toString();
    }

    /** Runs the request; listener (may be null) sees each piece of text; cancelled (may be null) stops early. */
    ChatResponse run(ChatRequest request, TextGenerator.TokenListener listener, BooleanSupplier cancelled) {
        if (request.toolSpecifications() != null && !request.toolSpecifications().isEmpty())
            throw new UnsupportedFeatureException("kiln chat model: tools are not supported");
        ResponseFormat format = request.responseFormat();
        if (format != null && !format.equals(ResponseFormat.TEXT))
            throw new UnsupportedFeatureException("kiln chat model: response format " + format.type() + " is not supported (text only)");
        if (nonZero(request.frequencyPenalty()) || nonZero(request.presencePenalty()))
            throw new UnsupportedFeatureException("kiln chat model: frequency and presence penalties are not supported");
        Double t = request.temperature();
        Sampler sampler = t == null || t == 0 ? Sampler.greedy()
                : Sampler.sampling(t.floatValue(), request.topK() == null ? 0 : request.topK(),
                        request.topP() == null ? 1f : request.topP().floatValue(), 1f, seed);
        int max = request.maxOutputTokens() == null ? defaultMaxTokens : request.maxOutputTokens();
        List<String> stops = stops(request);
        Set<Integer> stopIds = new HashSet<>();
        int eos = tokenizer.specialId("<|endoftext|>");
        if (eos >= 0) stopIds.add(eos);
        TextGenerator.Result r = generator.generate(tokenizer.encode(prompt(request.messages())), new TextGenerator.Options(max, stopIds, stops),
                sampler, listener, cancelled);
        String text = r.text().stripLeading();
        FinishReason reason = switch (r.stopReason()) {
            case "max_new_tokens", "context" -> FinishReason.LENGTH;
            case "stop_token", "stop_string" -> FinishReason.STOP;
            default -> FinishReason.OTHER;
        };
        return ChatResponse.builder().aiMessage(AiMessage.from(text)).modelName(name)
                .tokenUsage(new TokenUsage(r.promptIds().length, r.ids().length)).finishReason(reason).build();
    }

    /** The reply's stop strings: {@link #REPLY_STOP} and the request's stop sequences. */
    static List<String> stops(ChatRequest request) {
        List<String> stops = new ArrayList<>();
        stops.add(REPLY_STOP);
        if (request.stopSequences() != null) for (String s : request.stopSequences()) if (s != null && !s.isEmpty()) stops.add(s);
        return stops;
    }

    private static boolean nonZero(Double d) { return d != null && d != 0; }

    @Override public void close() { decoder.close(); }
}
