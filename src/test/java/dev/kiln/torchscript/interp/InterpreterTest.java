package dev.kiln.torchscript.interp;

import dev.kiln.pickle.PyObject;
import dev.kiln.pickle.PyTuple;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** The interpreter on hand-written code and module trees: control flow, dispatch, errors and limits. */
class InterpreterTest {
    private static final String CLS = "__torch__.M";

    private static PyObject module(Map<String, Object> state) {
        return new PyObject(CLS, List.of(), new LinkedHashMap<>(state));
    }

    private static Interpreter interp(String src, Limits limits) {
        return new Interpreter(CodeBase.parse(Map.of("code/__torch__.py", src)), List.of(3L), limits);
    }

    private static Object run(String body, Map<String, Object> state, Object... args) {
        String src = "class M(Module):\n  __parameters__ = []\n  __buffers__ = []\n  k : Final[int] = 4\n" + body;
        return interp(src, Limits.defaults()).callMethod(module(state), "forward", new ArrayList<>(List.of(args)));
    }

    /**
     * A weight sealed by the loader (so the GEMM keeps a packed copy) and then updated in place by
     * the program: the in-place op unseals it, and the next linear sees the new values.
     */
    @Test
    void inPlaceUpdateOfASealedWeightReachesTheNextGemm() {
        dev.kiln.tensor.Generator g = new dev.kiln.tensor.Generator(9);
        Tensor w = Tensor.randn(g, 6, 8), x = Tensor.randn(g, 5, 8);
        w.storage().seal();
        String body = """
                  def forward(self: __torch__.M, x: Tensor) -> Tensor:
                    y = torch.linear(x, self.w, None)
                    _0 = torch.add_(self.w, 1.)
                    return y
                """;
        float[] xs = x.toFloatArray(), w0 = w.toFloatArray();
        Map<String, Object> state = Map.of("w", w);
        Tensor first = (Tensor) run(body, state, x), second = (Tensor) run(body, state, x);
        assertFalse(w.storage().isConstant());
        float[] a = first.toFloatArray(), b = second.toFloatArray();
        for (int i = 0; i < 5; i++)
            for (int j = 0; j < 6; j++) {
                double s0 = 0, s1 = 0;
                for (int k = 0; k < 8; k++) {
                    s0 += xs[i * 8 + k] * w0[j * 8 + k];
                    s1 += xs[i * 8 + k] * (w0[j * 8 + k] + 1.0);
                }
                assertEquals(s0, a[i * 6 + j], 1e-4, "first call [" + i + "," + j + "]");
                assertEquals(s1, b[i * 6 + j], 1e-4, "second call, after add_ [" + i + "," + j + "]");
            }
    }

    @Test
    void controlFlowLoopsAndHelperMethods() {
        String body = """
                  def forward(self: __torch__.M, n: int) -> Tuple[int, List[int], float]:
                    acc = annotate(List[int], [])
                    total = 0
                    for i in range(n):
                      if i == 1:
                        continue
                      elif torch.eq(i, 5):
                        break
                      else:
                        pass
                      _0 = torch.append(acc, (self).twice(i, ))
                      total += i
                    j = 0
                    while j < self.k:
                      j = j + 1
                    a, b, = (total, j)
                    return (a + b, acc, torch.div(7, 2))
                  def twice(self: __torch__.M, x: int) -> int:
                    return torch.mul(x, 2)
                """;
        PyTuple out = (PyTuple) run(body, Map.of(), 8L);
        assertEquals(0L + 2 + 3 + 4 + 4, out.get(0));
        assertEquals(List.of(0L, 4L, 6L, 8L), out.get(1));
        assertEquals(3.5, out.get(2));
    }

    @Test
    void submodulesGetattrConstantsAndTensors() {
        PyObject child = new PyObject("__torch__.Child", List.of(), new LinkedHashMap<>(Map.of("w", Tensor.fromArray(new float[]{2, 3}, 2))));
        String src = """
                class M(Module):
                  __parameters__ = []
                  def forward(self: __torch__.M, x: Tensor) -> Tensor:
                    _0 = getattr(self, "0")
                    y = (_0).forward(x, )
                    return torch.add(y, CONSTANTS.c0, alpha=2)
                class Child(Module):
                  __parameters__ = ["w", ]
                  w : Tensor
                  def forward(self: __torch__.Child, x: Tensor) -> Tensor:
                    z = torch.mul(x, self.w)
                    return z[1:]
                """;
        Interpreter in = interp(src, Limits.defaults());
        PyObject root = module(Map.of("0", child));
        Tensor out = (Tensor) in.callMethod(root, "forward", new ArrayList<>(List.of(Tensor.fromArray(new float[]{1, 1}, 2))));
        assertArrayEquals(new float[]{3 + 6}, out.toFloatArray());
    }

    @Test
    void unknownOpNamesTheCallAndLocation() {
        String body = """
                  def forward(self: __torch__.M, x: Tensor) -> Tensor:
                    y = torch.relu(x)
                    return torch.frobnicate(y)
                """;
        ScriptException e = assertThrows(ScriptException.class, () -> run(body, Map.of(), Tensor.zeros(2)));
        assertEquals("code/__torch__.py:7: unsupported TorchScript op torch.frobnicate", e.getMessage());
    }

    @Test
    void nothingOutsideTheTableIsReachable() {
        for (String expr : new String[]{"torch.__class__", "torch.jit._load", "__import__(\"os\")",
            "(x).getClass()", "ops.prim.CallFunction(x)", "java.lang.System.exit(1)"}) {
            String body = "  def forward(self: __torch__.M, x: Tensor) -> Tensor:\n    return " + expr + "\n";
            Object r;
            try {
                r = run(body, Map.of(), Tensor.zeros(1));
            } catch (ScriptException e) {
                continue;
            }
            assertInstanceOf(Refs.Namespace.class, r, expr); // a bare name resolves to nothing callable
        }
    }

    @Test
    void raiseAndAssertCarryTheMessage() {
        String body = """
                  def forward(self: __torch__.M, x: int) -> int:
                    if torch.gt(x, 1):
                      ops.prim.RaiseException(torch.format("bad {} of {}", x, [1, 2]), "builtins.ValueError")
                    assert torch.eq(x, 0), "must be zero"
                    return x
                """;
        ScriptException e = assertThrows(ScriptException.class, () -> run(body, Map.of(), 5L));
        assertTrue(e.getMessage().endsWith("ValueError: bad 5 of [1, 2]"), e.getMessage());
        e = assertThrows(ScriptException.class, () -> run(body, Map.of(), 1L));
        assertTrue(e.getMessage().endsWith("AssertionError: must be zero"), e.getMessage());
    }

    @Test
    void recursionAndLoopsAreBounded() {
        String src = """
                class M(Module):
                  def forward(self: __torch__.M, n: int) -> int:
                    return (self).forward(torch.add(n, 1), )
                  def spin(self: __torch__.M, n: int) -> int:
                    while True:
                      n = n + 1
                    return n
                """;
        Interpreter in = interp(src, new Limits(50, 1000));
        ScriptException e = assertThrows(ScriptException.class,
                () -> in.callMethod(module(Map.of()), "forward", new ArrayList<>(List.of(0L))));
        assertTrue(e.getMessage().contains("call depth limit of 50"), e.getMessage());
        e = assertThrows(ScriptException.class, () -> in.callMethod(module(Map.of()), "spin", new ArrayList<>(List.of(0L))));
        assertTrue(e.getMessage().contains("loop iteration limit of 1000"), e.getMessage());
    }

    @Test
    void wrongArgumentsAreClearErrors() {
        String body = """
                  def forward(self: __torch__.M, x: Tensor) -> Tensor:
                    return torch.softmax(x, dimension=1)
                """;
        ScriptException e = assertThrows(ScriptException.class, () -> run(body, Map.of(), Tensor.zeros(2, 2)));
        assertTrue(e.getMessage().contains("softmax: unexpected keyword argument 'dimension'"), e.getMessage());
        String body2 = """
                  def forward(self: __torch__.M, x: Tensor) -> Tensor:
                    return torch.linear(x, 3)
                """;
        e = assertThrows(ScriptException.class, () -> run(body2, Map.of(), Tensor.zeros(2, 2)));
        assertTrue(e.getMessage().contains("linear: argument 'weight' must be a Tensor, got int"), e.getMessage());
    }

    @Test
    void listStringAndScalarSemantics() {
        String body = """
                  def forward(self: __torch__.M, x: Tensor) -> Tuple[List[int], str, int, bool, List[int]]:
                    s = torch.size(x)
                    t = torch.slice(s, None, 1)
                    u = torch.add(s, [9])
                    name = torch.add("a", str(ops.prim.device(x)))
                    i = torch.find(name, "cpu", 0, torch.len(name))
                    return (t, name, torch.floordiv(-7, 2), torch.__contains__([2, 3], torch.dim(x)), u[-2:])
                """;
        PyTuple out = (PyTuple) run(body, Map.of(), Tensor.zeros(4, 5));
        assertEquals(List.of(4L), out.get(0));
        assertEquals("acpu", out.get(1));
        assertEquals(-4L, out.get(2));
        assertEquals(true, out.get(3));
        assertEquals(List.of(5L, 9L), out.get(4));
    }
}
