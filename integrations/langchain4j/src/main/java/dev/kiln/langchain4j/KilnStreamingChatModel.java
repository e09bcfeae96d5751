package dev.kiln.langchain4j;

import dev.langchain4j.model.ModelProvider;
import dev.langchain4j.model.chat.StreamingChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;

/**
 * A LangChain4j {@link StreamingChatModel} on Kiln ({@link KilnChatModel.Builder#buildStreaming()}):
 * the handler gets each piece of text as the token that completes it is generated (a tail that may
 * still become a stop string is held back until it cannot; the pieces add up to the complete
 * response's text), then the whole response, or the error. Generation runs on the calling thread (wrap the call in an executor for
 * asynchronous use); an exception thrown by the handler's {@code onPartialResponse} stops it.
 */
public final class KilnStreamingChatModel implements StreamingChatModel, AutoCloseable {
    private final KilnChatEngine engine;

    KilnStreamingChatModel(KilnChatEngine engine) { this.engine = engine; }

    @Override
    public void doChat(ChatRequest request, StreamingChatResponseHandler handler) {
        Stream stream = new Stream(KilnChatEngine.stops(request), handler);
        ChatResponse response;
        try {
            response = engine.run(request, (id, text) -> {
                stream.push(text);
                return true;
            }, null);
            stream.finish(response.aiMessage().text());
        } catch (RuntimeException e) {
            handler.onError(e);
            return;
        }
        handler.onCompleteResponse(response);
    }

    /**
     * The partial responses: the reply's leading whitespace dropped (the complete response is
     * stripped of it too), and any tail that could still grow into a stop string held back until it
     * cannot, so the pieces add up to exactly the complete response's text.
     */
    private static final class Stream {
        private final java.util.List<String> stops;
        private final StreamingChatResponseHandler handler;
        private final StringBuilder pending = new StringBuilder();
        private final StringBuilder sent = new StringBuilder();
        private boolean started;

        Stream(java.util.List<String> stops, StreamingChatResponseHandler handler) {
            this.stops = stops;
            this.handler = handler;
        }

        void push(String text) {
            if (!started) {
                text = text.stripLeading();
                if (text.isEmpty()) return;
                started = true;
            }
            pending.append(text);
            int hold = 0;
            for (String s : stops) {
                int at = pending.indexOf(s);
                if (at >= 0) hold = Math.max(hold, pending.length() - at);           // a stop string: never sent
                for (int n = Math.min(s.length() - 1, pending.length()); n > hold; n--)
                    if (pending.toString().regionMatches(pending.length() - n, s, 0, n)) hold = n;  // could become one
            }
            emit(pending.length() - hold);
        }

        /** Sends what the complete text has beyond the pieces sent so far. */
        void finish(String complete) {
            if (complete.startsWith(sent.toString()) && complete.length() > sent.length()) {
                pending.setLength(0);
                pending.append(complete, sent.length(), complete.length());
                emit(pending.length());
            }
        }

        private void emit(int n) {
            if (n <= 0) return;
            String piece = pending.substring(0, n);
            pending.delete(0, n);
            sent.append(piece);
            handler.onPartialResponse(piece);
        }
    }

    @Override public ModelProvider provider() { return ModelProvider.OTHER; }

    @Override public void close() { engine.close(); }
}
