package dev.kiln.torchscript.lang;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.kiln.fuzz.FuzzChecks;

import java.nio.charset.StandardCharsets;

/**
 * Fuzzes the TorchScript code lexer and parser with the code/ files of real torch.jit.save
 * archives as seeds (modules with loops, branches, attention, convolutions). Any text must parse
 * or fail with a ScriptSyntaxException naming file:line:col; deep nesting (brackets, unary
 * operators, "not", "**", elif chains, blocks) must be refused, never overflow the stack.
 */
class ScriptParserFuzzTest {
    @FuzzTest(maxDuration = "2m")
    void parse(byte[] data) throws Exception {
        String src = new String(data, StandardCharsets.UTF_8);
        FuzzChecks.expectCleanOutcome("code/fuzz.py", () -> Parser.parse(src, "code/fuzz.py"), ScriptSyntaxException.class);
    }
}
