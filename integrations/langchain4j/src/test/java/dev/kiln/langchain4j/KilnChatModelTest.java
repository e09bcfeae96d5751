package dev.kiln.langchain4j;

import dev.kiln.generate.BpeTokenizer;
import dev.kiln.generate.Decoder;
import dev.kiln.generate.Sampler;
import dev.kiln.generate.TextGenerator;
import dev.kiln.generate.WeightFormat;
import dev.langchain4j.agent.tool.ToolSpecification;
import dev.langchain4j.data.message.AiMessage;
import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.exception.UnsupportedFeatureException;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.model.output.FinishReason;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The LangChain4j adapter on the random-weight fixtures of testdata/decoder (a Llama-family
 * directory and a GPT-2 ONNX decoder): replies equal Kiln's own greedy generation on the same
 * prompt, streamed pieces add up to the reply and never show a stop string, requests run
 * concurrently on one model, and unsupported features are refused.
 */
class KilnChatModelTest {
    static final Path DIR = Path.of("testdata/decoder");

    /** What TextGenerator gives for the prompt the adapter builds, greedy, n tokens, with the adapter's reply stop. */
    private static String direct(Path model, String prompt, int n) throws Exception {
        BpeTokenizer tok = BpeTokenizer.fromPath(model.toFile().isDirectory() ? model : model.getParent());
        try (Decoder d = model.toFile().isDirectory() ? Decoder.huggingFace(model, WeightFormat.F32)
                : dev.kiln.generate.OnnxDecoder.open(model, dev.kiln.onnx.OnnxExecutor.Precision.F32, 0)) {
            int eos = tok.specialId("<|endoftext|>");
            return new TextGenerator(d, tok).generate(tok.encode(prompt), new TextGenerator.Options(n, eos >= 0 ? Set.of(eos) : Set.of(),
                    List.of(KilnChatEngine.REPLY_STOP)), Sampler.greedy(), null, null).text().stripLeading();
        }
    }

    @Test
    void chatEqualsKilnsOwnGreedyGeneration() throws Exception {
        for (Path model : new Path[] {DIR.resolve("llama_tiny_hf"), DIR.resolve("gpt2_tiny.onnx")}) {
            try (KilnChatModel chat = KilnChatModel.builder().model(model).maxNewTokens(12).build()) {
                ChatResponse r = chat.chat(ChatRequest.builder().messages(SystemMessage.from("Be brief."), UserMessage.from("Hello, world!")).build());
                assertEquals(direct(model, "System: Be brief.\nUser: Hello, world!\nAssistant:", 12), r.aiMessage().text(), model.toString());
                assertTrue(r.tokenUsage().inputTokenCount() > 10, r.tokenUsage().toString());
                assertTrue(r.tokenUsage().outputTokenCount() >= 1 && r.tokenUsage().outputTokenCount() <= 12, r.tokenUsage().toString());
                assertEquals("Hello", KilnChatEngine.prompt(List.of(UserMessage.from("Hello"))).substring(6, 11));
                String s = chat.chat("The quick brown fox");
                assertEquals(direct(model, "User: The quick brown fox\nAssistant:", 12), s);
                ChatResponse four = chat.chat(ChatRequest.builder().messages(UserMessage.from("Hi")).maxOutputTokens(4).build());
                assertTrue(four.tokenUsage().outputTokenCount() <= 4);
                if (four.tokenUsage().outputTokenCount() == 4) assertEquals(FinishReason.LENGTH, four.finishReason());
            }
        }
    }

    @Test
    void streamingPiecesAddUpAndHideStopSequences() throws Exception {
        Path model = DIR.resolve("llama_tiny_hf");
        try (KilnStreamingChatModel chat = KilnChatModel.builder().model(model).maxNewTokens(24).buildStreaming()) {
            String full = direct(model, "User: A banker is a fellow\nAssistant:", 24);
            assertTrue(full.length() > 8, full);
            String stop = full.substring(4, 7);
            for (List<String> stops : List.of(List.<String>of(), List.of(stop))) {
                List<String> pieces = new ArrayList<>();
                ChatResponse[] done = new ChatResponse[1];
                chat.chat(ChatRequest.builder().messages(UserMessage.from("A banker is a fellow")).stopSequences(stops).build(),
                        new StreamingChatResponseHandler() {
                            @Override public void onPartialResponse(String text) { pieces.add(text); }
                            @Override public void onCompleteResponse(ChatResponse r) { done[0] = r; }
                            @Override public void onError(Throwable t) { fail(t); }
                        });
                assertNotNull(done[0]);
                String text = done[0].aiMessage().text();
                assertEquals(text, String.join("", pieces), "pieces add up to the reply");
                if (stops.isEmpty()) assertEquals(full, text);
                else {
                    assertEquals(full.substring(0, full.indexOf(stop)), text, "cut before the stop sequence");
                    assertEquals(FinishReason.STOP, done[0].finishReason());
                    assertFalse(String.join("", pieces).contains(stop));
                }
            }
        }
    }

    @Test
    void requestsRunConcurrentlyOnOneModel() throws Exception {
        try (KilnChatModel chat = KilnChatModel.builder().model(DIR.resolve("llama_tiny_hf")).weights(WeightFormat.INT8).maxNewTokens(10).build()) {
            String want = chat.chat("Hello");
            ExecutorService pool = Executors.newFixedThreadPool(4);
            try {
                List<Future<String>> got = new ArrayList<>();
                for (int i = 0; i < 8; i++) got.add(pool.submit(() -> chat.chat("Hello")));
                for (Future<String> f : got) assertEquals(want, f.get());
            } finally {
                pool.shutdown();
            }
        }
    }

    @Test
    void unsupportedFeaturesAndBadInputAreRefused() throws Exception {
        try (KilnChatModel chat = KilnChatModel.builder().model(DIR.resolve("llama_tiny_hf")).build()) {
            ChatRequest tools = ChatRequest.builder().messages(UserMessage.from("x"))
                    .toolSpecifications(ToolSpecification.builder().name("f").description("d").build()).build();
            assertThrows(UnsupportedFeatureException.class, () -> chat.chat(tools));
            assertThrows(UnsupportedFeatureException.class, () -> chat.chat(ChatRequest.builder().messages(UserMessage.from("x")).frequencyPenalty(0.5).build()));
            assertThrows(UnsupportedFeatureException.class, () -> chat.chat(UserMessage.from("x"), AiMessage.from(
                    dev.langchain4j.agent.tool.ToolExecutionRequest.builder().name("f").arguments("{}").build())));
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> KilnChatModel.builder().model(DIR.resolve("gpt2_tiny.onnx")).weights(WeightFormat.INT4).build());
        assertTrue(e.getMessage().contains("Hugging Face directories"), e.getMessage());
        java.io.UncheckedIOException io = assertThrows(java.io.UncheckedIOException.class, () -> KilnChatModel.builder().model(DIR.resolve("nope")).build());
        assertTrue(io.getMessage().contains("nope"), io.getMessage());
    }
}
