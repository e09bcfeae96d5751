package dev.kiln.torchscript.lang;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Regression tests for the fuzzer's findings in the TorchScript lexer and parser (see
 * docs/SECURITY.md) and for the nesting limits: every input here once escaped as a
 * NumberFormatException, IllegalArgumentException or StackOverflowError, and must now be a
 * one-line ScriptSyntaxException naming file:line:col.
 */
class ParserLimitsTest {
    private static ScriptSyntaxException refused(String src) {
        ScriptSyntaxException e = assertThrows(ScriptSyntaxException.class, () -> Parser.parse(src, "code/m.py"));
        assertTrue(e.getMessage().startsWith("code/m.py:"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        return e;
    }

    private static String fn(String body) { return "def f(x):\n  return " + body + "\n"; }

    /** Fuzzer finding (tools/fuzz.sh): an empty subscript item, "t[,1]", escaped as a NullPointerException. */
    @Test
    void findingEmptySubscriptItem() throws IOException {
        try (InputStream in = getClass().getResourceAsStream("ScriptParserFuzzTestInputs/parse/finding-empty-subscript-item")) {
            String src = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(refused(src).getMessage().contains("expected an expression or slice in the subscript"), refused(src).getMessage());
        }
        for (String bad : new String[]{"x[,1]", "x[1,,2]", "x[]"})
            assertTrue(refused(fn(bad)).getMessage().contains("subscript"), bad);
        assertEquals(2, ((Expr.TupleExpr) ((Expr.Subscript) Parser.parseExpression("x[1, :]")).index()).items().size());
    }

    @Test
    void findingHexLiteralWithoutDigits() throws IOException {
        // the fuzzer's input: a parameter named "0x" (NumberFormatException from Long.parseUnsignedLong(""))
        try (InputStream in = getClass().getResourceAsStream("ScriptParserFuzzTestInputs/parse/finding-hex-literal-without-digits")) {
            String src = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(refused(src).getMessage().contains("invalid hexadecimal literal '0x'"));
        }
        assertTrue(refused(fn("0x")).getMessage().contains("invalid hexadecimal literal"));
        assertTrue(refused(fn("0x1" + "0".repeat(16))).getMessage().contains("invalid hexadecimal literal"));
        assertEquals(-1L, ((Expr.Const) Parser.parseExpression("0xffffffffffffffff")).value());
    }

    @Test
    void findingNewlineInErrorMessage() throws IOException {
        // the fuzzer's input: a triple-quoted string token holding a newline, echoed in "got string ..."
        try (InputStream in = getClass().getResourceAsStream("ScriptParserFuzzTestInputs/parse/finding-newline-in-error-message")) {
            String m = refused(new String(in.readAllBytes(), StandardCharsets.UTF_8)).getMessage();
            assertTrue(m.contains("\\x0a"), m);
        }
        assertTrue(refused(fn("1 '" + "a".repeat(5000) + "'")).getMessage().endsWith("..."));
    }

    @Test
    void numbersAreAsciiDigitsOnly() {
        // Character.isDigit accepts Arabic-Indic digits, which Double.parseDouble refuses
        assertTrue(refused(fn("\u0663.\u0665")).getMessage().contains("unexpected character"));
    }

    @Test
    void escapedCodePointOutOfRange() {
        assertTrue(refused(fn("'\\UFFFFFFFF'")).getMessage().contains("code point out of range"));
        assertEquals("\uD83D\uDE00", ((Expr.Const) Parser.parseExpression("'\\U0001F600'")).value());
    }

    @Test
    void deepUnaryNotAndPowerChainsAreRefusedNotOverflowed() {
        assertTrue(refused(fn("not ".repeat(100_000) + "x")).getMessage().contains("nested too deeply"));
        assertTrue(refused(fn("x" + " ** x".repeat(100_000))).getMessage().contains("nested too deeply"));
        assertTrue(refused(fn("-".repeat(100_000) + "x")).getMessage().contains("nested too deeply"));
    }

    @Test
    void longOperatorAndTrailerChainsAreRefused() {
        // the parser loops here, but the tree is one level deeper per operator or trailer and the
        // interpreter walks it recursively
        assertTrue(refused(fn("x" + " + x".repeat(100_000))).getMessage().contains("nested too deeply"));
        assertTrue(refused(fn("x" + ".a".repeat(100_000))).getMessage().contains("nested too deeply"));
        assertTrue(refused(fn("x" + "()".repeat(100_000))).getMessage().contains("nested too deeply"));
        assertInstanceOf(Expr.BinOp.class, Parser.parseExpression("x" + " + x".repeat(150)));
        assertInstanceOf(Expr.Attribute.class, Parser.parseExpression("x" + ".a".repeat(150)));
    }

    @Test
    void longElifChainsAreRefused() {
        String chain = "def f(x):\n  if x:\n    pass\n" + "  elif x:\n    pass\n".repeat(100_000);
        assertTrue(refused(chain).getMessage().contains("if/elif chain"));
        Stmt.If top = (Stmt.If) Parser.parse("def f(x):\n  if x:\n    return 1\n  elif y:\n    return 2\n  else:\n    return 3\n",
                "code/m.py").functions().getFirst().body().getFirst();
        Stmt.If elif = assertInstanceOf(Stmt.If.class, top.orelse().getFirst());
        assertInstanceOf(Stmt.Return.class, elif.orelse().getFirst());
    }
}
