package dev.kiln.torchscript.interp;

import dev.kiln.pickle.PyObject;
import dev.kiln.pickle.PyTuple;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Tensor factories and Tensor.to in the forms torch 1.13 prints them in traced and scripted code
 * (the lines below are copied from BERT/GPT-2 files made by tools/make_real_models.py): dtype,
 * layout, device and pin_memory keywords, and annotate(number, t) on traced size arithmetic.
 */
class FactoriesTest {
    private static Object run(String body, Object... args) {
        String src = "class M(Module):\n  __parameters__ = []\n  __buffers__ = []\n" + body;
        Interpreter in = new Interpreter(CodeBase.parse(Map.of("code/__torch__.py", src)), List.of(), Limits.defaults());
        return in.callMethod(new PyObject("__torch__.M", List.of(), new LinkedHashMap<>()), "forward", new ArrayList<>(List.of(args)));
    }

    private static Tensor eval(String expr, Object... args) {
        StringBuilder params = new StringBuilder();
        for (int i = 0; i < args.length; i++) params.append(", x").append(i).append(": Tensor");
        return (Tensor) run("  def forward(self: __torch__.M" + params + ") -> Tensor:\n    return " + expr + "\n", args);
    }

    private static void assertValues(Tensor t, DType dtype, int[] shape, double... values) {
        assertEquals(dtype, t.dtype());
        assertArrayEquals(shape, t.shape());
        double[] got = new double[(int) t.numel()];
        for (int i = 0; i < got.length; i++) got[i] = t.getFlat(i);
        assertArrayEquals(values, got, 1e-6);
    }

    private static Tensor ids(int b, int t) { return Tensor.zeros(DType.I64, b, t); }

    @Test
    void arangeOverloadsWithOptionsAndAnnotatedTensors() {
        // BERT traced: the sequence length is a 0-d tensor (NumToTensor) passed as a number
        String bert = """
                  def forward(self: __torch__.M, input_ids: Tensor) -> Tensor:
                    seq_length = ops.prim.NumToTensor(torch.size(input_ids, 1))
                    return torch.arange(annotate(number, seq_length), dtype=4, layout=None, device=torch.device("cpu"), pin_memory=False)
                """;
        assertValues((Tensor) run(bert, ids(2, 5)), DType.I64, new int[]{5}, 0, 1, 2, 3, 4);
        // GPT-2 traced: arange(0, n) and arange(past, past + n) with tensor bounds
        String gpt2 = """
                  def forward(self: __torch__.M, input_ids: Tensor, past: Tensor) -> Tensor:
                    past_length = ops.prim.NumToTensor(torch.size(past, -2))
                    _3 = ops.prim.NumToTensor(torch.size(input_ids, -1))
                    _4 = annotate(number, torch.add(_3, past_length))
                    return torch.arange(annotate(number, past_length), _4, dtype=4, layout=None, device=torch.device("cpu"), pin_memory=False)
                """;
        assertValues((Tensor) run(gpt2, ids(1, 2), Tensor.zeros(1, 3, 4)), DType.I64, new int[]{2}, 3, 4);
        // scripted: device from the input; dtype by keyword only
        assertValues(eval("torch.arange(2, 5, dtype=4, layout=None, device=ops.prim.device(x0))", ids(1, 1)), DType.I64, new int[]{3}, 2, 3, 4);
        assertValues(eval("torch.arange(4, dtype=6)"), DType.F32, new int[]{4}, 0, 1, 2, 3);
        assertValues(eval("torch.arange(0, 2.5, 1)"), DType.F32, new int[]{3}, 0, 1, 2);
        assertValues(eval("torch.arange(0., 1., 0.25, dtype=7)"), DType.F64, new int[]{4}, 0, 0.25, 0.5, 0.75);
        assertValues(eval("torch.arange(5, 0, -2)"), DType.I64, new int[]{3}, 5, 3, 1);
    }

    @Test
    void arangeRejectsBadArguments() {
        assertTrue(assertThrows(ScriptException.class, () -> eval("torch.arange(0, 3, 0)")).getMessage().contains("step must be nonzero"));
        assertTrue(assertThrows(ScriptException.class, () -> eval("torch.arange(0, 3, -1)")).getMessage().contains("inconsistent"));
        assertTrue(assertThrows(ScriptException.class, () -> eval("torch.arange(dtype=4)")).getMessage().contains("expected an end value"));
        assertTrue(assertThrows(ScriptException.class, () -> eval("torch.arange(3, layout=1)")).getMessage().contains("layout"));
        assertTrue(assertThrows(ScriptException.class, () -> eval("torch.arange(x0)", Tensor.zeros(2)))
                .getMessage().contains("must be numbers"));
    }

    @Test
    void zerosOnesEmptyFullWithOptions() {
        assertValues(eval("torch.zeros([2, 3], dtype=6, layout=None, device=torch.device(\"cpu\"), pin_memory=False)"),
                DType.F32, new int[]{2, 3}, 0, 0, 0, 0, 0, 0);
        assertValues(eval("torch.ones([2], dtype=4, layout=0, device=torch.device(\"cpu\"), pin_memory=None)"), DType.I64, new int[]{2}, 1, 1);
        assertEquals(DType.F32, eval("torch.ones([1])").dtype());
        assertArrayEquals(new int[]{3, 0}, eval("torch.empty([3, 0], dtype=None, layout=None, device=None, pin_memory=None, memory_format=0)").shape());
        assertArrayEquals(new int[]{2, 2}, eval("torch.empty_strided([2, 2], [2, 1], dtype=6, layout=None, device=None, pin_memory=False)").shape());
        // GPT-2: a 0-d tensor from a number, the number itself annotated from a tensor
        String gpt2 = """
                  def forward(self: __torch__.M, value: Tensor) -> Tensor:
                    _10 = ops.prim.NumToTensor(torch.size(value, -1))
                    _11 = annotate(number, torch.pow(_10, 0.5))
                    return torch.full(annotate(List[int], []), _11, dtype=6, layout=None, device=torch.device("cpu"), pin_memory=False)
                """;
        assertValues((Tensor) run(gpt2, Tensor.zeros(1, 16)), DType.F32, new int[]{}, 4);
        assertValues(eval("torch.full([2], 3)"), DType.I64, new int[]{2}, 3, 3);
        assertValues(eval("torch.full([1], 2.5)"), DType.F32, new int[]{1}, 2.5);
        assertValues(eval("torch.full([1], True)"), DType.BOOL, new int[]{1}, 1);
        assertValues(eval("torch.full([1], -3.4028234663852886e+38, dtype=6, layout=None, device=None, pin_memory=False)"),
                DType.F32, new int[]{1}, -3.4028234663852886e+38);
        assertTrue(assertThrows(ScriptException.class, () -> eval("torch.zeros([2, -1])")).getMessage().contains("negative dimension"));
        assertTrue(assertThrows(ScriptException.class, () -> eval("torch.zeros([2], layout=2)")).getMessage().contains("layout"));
    }

    @Test
    void likeAndNewForms() {
        Tensor x = Tensor.fromArray(new float[]{1, 2, 3, 4, 5, 6}, 2, 3);
        assertValues(eval("torch.zeros_like(x0, dtype=4, layout=0, device=torch.device(\"cpu\"), pin_memory=False)", x),
                DType.I64, new int[]{2, 3}, 0, 0, 0, 0, 0, 0);
        assertValues(eval("torch.ones_like(x0, dtype=None, layout=None, device=None, pin_memory=None, memory_format=None)", x),
                DType.F32, new int[]{2, 3}, 1, 1, 1, 1, 1, 1);
        assertValues(eval("torch.full_like(x0, 7, dtype=7)", x), DType.F64, new int[]{2, 3}, 7, 7, 7, 7, 7, 7);
        assertArrayEquals(new int[]{2, 3}, eval("torch.empty_like(x0, memory_format=0)", x).shape());
        assertValues(eval("torch.new_zeros(x0, [2], dtype=None, layout=None, device=None, pin_memory=False)", x), DType.F32, new int[]{2}, 0, 0);
        assertValues(eval("(x0).new_ones([1, 2], dtype=4)", x), DType.I64, new int[]{1, 2}, 1, 1);
        assertValues(eval("(x0).new_full([2], 0.5)", x), DType.F32, new int[]{2}, 0.5, 0.5);
        assertArrayEquals(new int[]{0}, eval("(x0).new_empty([0])", x).shape());
        assertValues(eval("torch.scalar_tensor(3, dtype=4, layout=None, device=None, pin_memory=None)"), DType.I64, new int[]{}, 3);
        assertValues(eval("torch.linspace(0, 1, 5, dtype=None, layout=None, device=None, pin_memory=None)"),
                DType.F32, new int[]{5}, 0, 0.25, 0.5, 0.75, 1);
    }

    @Test
    void toOverloads() {
        Tensor x = Tensor.fromArray(new float[]{1.5f, -2f}, 2);
        assertEquals(DType.I64, eval("torch.to(x0, 4)", x).dtype());
        assertEquals(DType.F64, eval("torch.to(x0, 7, False, False, None)", x).dtype());
        assertEquals(DType.BOOL, eval("torch.to(x0, dtype=11, layout=0, device=torch.device(\"cpu\"))", x).dtype());
        assertEquals(DType.F32, eval("torch.to(x0, ops.prim.device(x0))", x).dtype());              // device only
        assertEquals(DType.I64, eval("torch.to(x0, torch.device(\"cpu\"), 4, False, False)", x).dtype()); // device, dtype
        assertEquals(DType.I64, eval("torch.to(x0, x1)", x, ids(1, 1)).dtype());                     // other
        assertEquals(DType.F32, eval("torch.to(x0, False, False)", x).dtype());                      // prim_other
        assertEquals(DType.F64, eval("torch.to(x0, None, 7, False, False)", x).dtype());             // prim_Device
        assertValues(eval("torch.to(x0, 4)", x), DType.I64, new int[]{2}, 1, -2);
    }

    @Test
    void annotateConvertsOneElementTensorsToNumbers() {
        String body = """
                  def forward(self: __torch__.M, x: Tensor) -> Tuple[int, float, number, bool]:
                    n = ops.prim.NumToTensor(torch.size(x, 0))
                    return (annotate(int, n), annotate(float, n), annotate(number, torch.mul(n, 0.5)), annotate(bool, n))
                """;
        PyTuple out = (PyTuple) run(body, Tensor.zeros(3, 1));
        assertEquals(List.of(3L, 3.0, 1.5, true), out.items());
        // other annotations leave the value alone
        assertInstanceOf(Tensor.class, eval("annotate(Tensor, x0)", Tensor.zeros(1)));
    }
}
