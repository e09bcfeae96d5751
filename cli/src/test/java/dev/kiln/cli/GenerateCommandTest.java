package dev.kiln.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code kiln generate} on the tiny GPT-2 decoder fixture (testdata/decoder). */
class GenerateCommandTest {
    static final Path DIR = Path.of("testdata/decoder");
    @TempDir Path tmp;

    @Test
    void greedyStreamsTextAndWritesJson() throws Exception {
        Path json = tmp.resolve("g.json");
        CliRun r = CliRun.of("generate", DIR.resolve("gpt2_tiny.onnx").toString(), "--prompt", "The quick brown fox",
                "--max-new-tokens", "32", "--json", json.toString());
        assertEquals(Main.OK, r.code(), r.err());
        assertTrue(r.out().contains("prompt 11 tokens") && r.out().contains("32 new tokens"), r.out());
        String j = Files.readString(json);
        // the PyTorch greedy loop's ids (testdata/decoder/greedy.json, first case)
        assertTrue(j.contains("\"prompt_ids\": [358, 220, 489, 524, 265, 81, 311, 77, 278, 78, 87]"), j);
        assertTrue(j.contains("\"ids\": [289, 289, 366, 340, 486, 274, 275, 340, 549, 262, 450, 446, 274, 274, 274, 274, 348, 197, 340, 495, 274, 274, 10, 197, 165, 340, 549, 340, 274, 274, 274, 165]"), j);
        assertTrue(j.contains("\"decode_tokens_per_s\""), j);
    }

    /** Several --prompt options run as one batch: each sequence gets the ids it gets alone (PyTorch's greedy ids for the first). */
    @Test
    void severalPromptsRunAsOneBatch() throws Exception {
        Path json = tmp.resolve("batch.json"), one = tmp.resolve("one.json");
        CliRun r = CliRun.of("generate", DIR.resolve("gpt2_tiny_hf").toString(), "--tokenizer", DIR.toString(), "--prompt", "The quick brown fox",
                "--prompt", "Hello", "--max-new-tokens", "32", "--json", json.toString());
        assertEquals(Main.OK, r.code(), r.err());
        assertTrue(r.out().contains("[0] The quick brown fox") && r.out().contains("[1] Hello") && r.out().contains("2 sequences, 64 new tokens"), r.out());
        String j = Files.readString(json);
        assertTrue(j.startsWith("[") && j.contains("\"ids\": [289, 289, 366, 340, 486, 274, 275, 340, 549, 262, 450, 446, 274, 274, 274, 274, 348, 197, 340, 495, 274, 274, 10, 197, 165, 340, 549, 340, 274, 274, 274, 165]"), j);
        CliRun alone = CliRun.of("generate", DIR.resolve("gpt2_tiny_hf").toString(), "--tokenizer", DIR.toString(), "--prompt", "Hello",
                "--max-new-tokens", "32", "--json", one.toString());
        assertEquals(Main.OK, alone.code(), alone.err());
        String idsAlone = Files.readString(one).replaceAll("(?s).*\"ids\": (\\[[^]]*]).*", "$1");
        assertTrue(j.contains("\"ids\": " + idsAlone), "the second sequence's ids as when run alone: " + idsAlone + " in " + j);
    }

    /** A Hugging Face GPT-2 directory runs on Kiln's own layers with the same ids as the ONNX export. */
    @Test
    void huggingFaceDirectoryGivesTheSameIds() throws Exception {
        assertGreedyIds("gpt2_tiny_hf", "hf.json", "[289, 289, 366, 340, 486, 274, 275, 340, 549, 262, 450, 446, 274, 274, 274, 274, 348, 197, 340, 495, 274, 274, 10, 197, 165, 340, 549, 340, 274, 274, 274, 165]");
    }

    /** kiln generate MODEL --prompt "The quick brown fox" --max-new-tokens 32 --json: its "ids" are the given golden list. */
    private void assertGreedyIds(String model, String jsonName, String ids) throws Exception {
        Path json = tmp.resolve(jsonName);
        CliRun r = CliRun.of("generate", DIR.resolve(model).toString(), "--prompt", "The quick brown fox",
                "--max-new-tokens", "32", "--json", json.toString());
        assertEquals(Main.OK, r.code(), r.err());
        assertTrue(Files.readString(json).contains("\"ids\": " + ids), Files.readString(json));
    }

    /** A Llama-family directory (native LlamaDecoder): PyTorch's greedy ids; --weights int4 runs too. */
    @Test
    void llamaDirectoryGivesPyTorchsIds() throws Exception {
        String golden = "[341, 388, 388, 388, 388, 388, 388, 80, 80, 417, 80, 80, 80, 80, 80, 80, 80, 359, 546, 199, 409, 121, 338, 409, 396, 57, 80, 80, 359, 57, 80, 80]";
        assertGreedyIds("llama_tiny_hf", "llama.json", golden);
        assertGreedyIds("llama_tiny_trace.pt", "ts.json", golden);      // the same model traced to TorchScript
        assertGreedyIds("llama_tiny_f32.gguf", "gguf.json", golden);    // the same model as a GGUF file, with its embedded tokenizer
        CliRun q4 = CliRun.of("generate", DIR.resolve("llama_tiny_q4_0.gguf").toString(), "--prompt-ids", "39,493,78", "--max-new-tokens", "4");
        assertEquals(Main.OK, q4.code(), q4.err());
        CliRun q = CliRun.of("generate", DIR.resolve("llama_tiny_hf").toString(), "--prompt-ids", "39,493,78", "--max-new-tokens", "4", "--weights", "int4");
        assertEquals(Main.OK, q.code(), q.err());
        assertTrue(q.out().contains("4 new tokens"), q.out());
    }

    @Test
    void samplingWithASeedRepeatsAndPromptIdsWork() {
        String[] args = {"generate", DIR.resolve("gpt2_tiny.onnx").toString(), "--prompt-ids", "39,493,78", "--max-new-tokens", "8",
                "--temperature", "0.8", "--top-k", "50", "--top-p", "0.9", "--seed", "3", "--tokenizer", DIR.resolve("vocab.json").getParent().toString()};
        CliRun a = CliRun.of(args), b = CliRun.of(args);
        assertEquals(Main.OK, a.code(), a.err());
        assertEquals(a.out().lines().findFirst(), b.out().lines().findFirst());
    }

    @Test
    void badInputIsOneLine() throws Exception {
        String model = DIR.resolve("gpt2_tiny.onnx").toString();
        String longPrompt = "word ".repeat(200);
        for (String[] args : new String[][] {
                {"generate", model, "--prompt", longPrompt},
                {"generate", model, "--prompt-ids", "1,99999"},
                {"generate", model, "--prompt", "x", "--tokenizer", tmp.toString()},
                {"generate", "testdata/real-models/bert_op17.onnx", "--prompt", "x", "--tokenizer", DIR.toString()},
                {"generate", model},
                {"generate", model, "--prompt", "x", "--temperature", "0"},
                {"generate", model, "--prompt", "x", "--greedy", "--temperature", "1"},
                {"generate", model, "--prompt", "x", "--weights", "int4"},
                {"generate", DIR.resolve("gpt2_tiny_trace.pt").toString(), "--prompt", "x", "--weights", "bf16"},
                {"generate", DIR.resolve("llama_tiny_hf").toString(), "--prompt", "x", "--weights", "int3"},
                {"generate", model, "--prompt", "x", "--kv-map", "past.{i}=present.{i}"},
                {"generate", model, "--prompt", "x", "--kv-map", "past_k.{i},past_v.{i}=new_k.{i},new_v.{i}"},   // names the file does not use
                {"generate", DIR.resolve("llama_tiny_hf").toString(), "--prompt", "x", "--kv-map", "a{i},b{i}=c{i},d{i}"}}) {
            CliRun r = CliRun.of(args);
            assertEquals(Main.BAD_INPUT, r.code(), String.join(" ", args).substring(0, Math.min(120, String.join(" ", args).length())) + ": " + r.err());
            assertEquals(1, r.errLines().size(), r.err());
        }
    }
}
