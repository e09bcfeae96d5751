package dev.kiln.torchscript.lang;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

import static org.junit.jupiter.api.Assertions.*;

/** Lexer and parser on hand-written snippets and on every code/ file torch 1.13 emitted for the fixtures. */
class ParserTest {
    static final Path FIXTURES = Path.of("src/test/resources/torchscript");

    @Test
    void lexerMakesIndentDedentAndJoinsBracketedLines() {
        List<Token> ts = Lexer.tokenize("def f(a,\n    b):\n  if a:\n    x = 1\n\n  return (a,\n b)\n", "t.py");
        List<String> kinds = ts.stream().map(t -> t.kind() == TokenKind.OP || t.kind() == TokenKind.NAME
                ? t.text() : t.kind().name()).toList();
        assertEquals(List.of("def", "f", "(", "a", ",", "b", ")", ":", "NEWLINE", "INDENT", "if", "a", ":", "NEWLINE",
                "INDENT", "x", "=", "INT", "NEWLINE", "DEDENT", "return", "(", "a", ",", "b", ")", "NEWLINE", "DEDENT",
                "EOF"), kinds);
    }

    @Test
    void lexerDecodesStringsAndNumbers() {
        List<Token> ts = Lexer.tokenize("x = ['don\\'t', \"a\\\"b\\n\", 1.0000000000000001e-05, 0., 7, 1e3]\n", "t.py");
        assertEquals("don't", ts.get(3).text());
        assertEquals("a\"b\n", ts.get(5).text());
        assertEquals(TokenKind.FLOAT, ts.get(7).kind());
        assertEquals(TokenKind.FLOAT, ts.get(9).kind());
        assertEquals(TokenKind.INT, ts.get(11).kind());
        assertEquals(TokenKind.FLOAT, ts.get(13).kind());
    }

    @Test
    void expressionPrecedence() {
        Expr e = Parser.parseExpression("not a and b or c == -d ** 2 + 3 * e");
        Expr.BoolOp or = assertInstanceOf(Expr.BoolOp.class, e);
        assertEquals("or", or.op());
        Expr.BoolOp and = assertInstanceOf(Expr.BoolOp.class, or.values().get(0));
        assertInstanceOf(Expr.Unary.class, and.values().get(0));
        Expr.Compare cmp = assertInstanceOf(Expr.Compare.class, or.values().get(1));
        Expr.BinOp plus = assertInstanceOf(Expr.BinOp.class, cmp.operands().get(1));
        assertEquals("+", plus.op());
        Expr.Unary neg = assertInstanceOf(Expr.Unary.class, plus.left());
        assertEquals("**", assertInstanceOf(Expr.BinOp.class, neg.operand()).op());
    }

    @Test
    void callsSlicesAndTypes() {
        Expr.Call c = assertInstanceOf(Expr.Call.class, Parser.parseExpression("torch.gelu(x, approximate=\"tanh\")"));
        assertEquals(1, c.args().size());
        assertEquals("approximate", c.keywords().get(0).name());
        Expr.Subscript s = assertInstanceOf(Expr.Subscript.class, Parser.parseExpression("z[:, 0:1, ::2]"));
        Expr.TupleExpr idx = assertInstanceOf(Expr.TupleExpr.class, s.index());
        assertEquals(3, idx.items().size());
        assertInstanceOf(Expr.Slice.class, idx.items().get(2));
        assertInstanceOf(Expr.Subscript.class, Parser.parseExpression("Tuple[Tensor, Optional[List[int]]]"));
        assertInstanceOf(Expr.Compare.class, Parser.parseExpression("x is not None"));
    }

    @Test
    void classWithParametersAnnotationsConstantsAndMethods() {
        String src = """
                class Seq(Module):
                  __parameters__ = ["weight", ]
                  __buffers__ = []
                  weight : Tensor
                  training : bool
                  inplace : Final[bool] = False
                  __annotations__["0"] = __torch__.torch.nn.modules.linear.Linear
                  def forward(self: __torch__.Seq,
                    input: Tensor, k: int=2) -> Tuple[Tensor, int]:
                    y, z, = torch.chunk(input, 2, 1)
                    for i in range(k):
                      y = torch.mul(y, 0.5)
                    x0 : Optional[Tensor] = None
                    if torch.__is__(x0, None):
                      pass
                    elif k > 1:
                      k += 1
                    else:
                      ops.prim.RaiseException("bad", "builtins.ValueError")
                    return (y, k)
                """;
        SourceFile f = Parser.parse(src, "code/__torch__.py");
        assertEquals("__torch__", f.module());
        ClassDef c = f.classes().get(0);
        assertEquals("__torch__.Seq", c.qualifiedName());
        assertEquals(List.of("weight"), c.parameters());
        assertEquals(List.of(), c.buffers());
        assertTrue(c.attributes().containsKey("0"));
        assertEquals(Boolean.FALSE, ((Expr.Const) c.constants().get("inplace")).value());
        FunctionDef fwd = c.method("forward");
        assertEquals(3, fwd.params().size());
        assertEquals(5, fwd.body().size());
        assertInstanceOf(Stmt.AnnAssign.class, fwd.body().get(2));
        Stmt.If iff = assertInstanceOf(Stmt.If.class, fwd.body().get(3));
        assertInstanceOf(Stmt.If.class, iff.orelse().get(0));
    }

    @Test
    void errorsNameFileAndLine() {
        ScriptSyntaxException e = assertThrows(ScriptSyntaxException.class,
                () -> Parser.parse("def f(x):\n  with x:\n    pass\n", "code/m.py"));
        assertTrue(e.getMessage().startsWith("code/m.py:2:"), e.getMessage());
        e = assertThrows(ScriptSyntaxException.class, () -> Parser.parse("def f(x):\n  return 'abc\n", "code/m.py"));
        assertTrue(e.getMessage().contains("unterminated"), e.getMessage());
        e = assertThrows(ScriptSyntaxException.class, () -> Parser.parseExpression("(".repeat(500) + "1" + ")".repeat(500)));
        assertTrue(e.getMessage().contains("nested too deeply"), e.getMessage());
    }

    @Test
    void parsesEveryEmittedCodeFile() throws IOException {
        int files = 0, defs = 0;
        List<Path> pts;
        try (Stream<Path> s = Files.list(FIXTURES)) {
            pts = s.filter(p -> p.toString().endsWith(".pt")).sorted().toList();
        }
        assertFalse(pts.isEmpty());
        for (Path pt : pts) {
            try (ZipFile z = new ZipFile(pt.toFile())) {
                for (ZipEntry e : new ArrayList<>(z.stream().toList())) {
                    if (!e.getName().endsWith(".py") || !e.getName().contains("/code/")) continue;
                    String src = new String(z.getInputStream(e).readAllBytes(), StandardCharsets.UTF_8);
                    SourceFile f = Parser.parse(src, e.getName());
                    assertTrue(f.module().startsWith("__torch__"), f.module());
                    defs += f.classes().size() + f.functions().size();
                    files++;
                }
            }
        }
        assertTrue(files > 50, "code files: " + files);
        assertTrue(defs >= files, "defs: " + defs);
    }
}
