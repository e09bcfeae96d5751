package dev.kiln.torchscript.interp;

import dev.kiln.ops.BinaryOp;
import dev.kiln.ops.ReduceOp;
import dev.kiln.ops.UnaryOp;
import dev.kiln.pickle.PyObject;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Every aten name the op table gives an engine op (UnaryOp, BinaryOp, ReduceOp), called from a
 * TorchScript program through the interpreter, computes that op: float64 inputs against the op's
 * float64 reference (unary, binary) or a sum written out here (reductions). In-place variants
 * (a trailing underscore) also update their first argument.
 */
class InterpOpFamiliesTest {
    private static Object run(String expr, Object... args) {
        StringBuilder params = new StringBuilder();
        for (int i = 0; i < args.length; i++) params.append(", ").append((char) ('x' + i)).append(": Tensor");
        String src = "class M(Module):\n  __parameters__ = []\n  __buffers__ = []\n"
                + "  def forward(self: __torch__.M" + params + ") -> Tensor:\n    return " + expr + "\n";
        Interpreter in = new Interpreter(CodeBase.parse(Map.of("code/__torch__.py", src)), List.of(), Limits.defaults());
        return in.callMethod(new PyObject("__torch__.M", List.of(), new LinkedHashMap<>()), "forward", new ArrayList<>(List.of(args)));
    }

    private static Tensor input(UnaryOp op, Generator g) {
        boolean positive = switch (op) {
            case LOG, SQRT, RSQRT, RECIPROCAL -> true;
            default -> false;
        };
        return positive ? Tensor.uniform(g, 0.1, 3, DType.F64, 3, 5) : Tensor.uniform(g, -3, 3, DType.F64, 3, 5);
    }

    @Test
    void unaryNamesRunTheirOp() {
        Generator g = new Generator(31);
        int checked = 0;
        for (UnaryOp op : UnaryOp.values())
            for (String name : op.names().torchscript()) {
                Tensor x = input(op, g);
                double[] xv = x.toDoubleArray();
                Tensor y = (Tensor) run("torch." + name + "(x)", x);
                double[] yv = y.toDoubleArray();
                for (int i = 0; i < xv.length; i++) {
                    double ref = op.reference(xv[i], 0, 0);
                    assertEquals(ref, yv[i], 1e-12 * Math.max(1, Math.abs(ref)), op + " as torch." + name + " of " + xv[i]);
                }
                if (name.endsWith("_")) assertArrayEquals(yv, x.toDoubleArray(), 0, "torch." + name + " updates its input");
                checked++;
            }
        assertTrue(checked >= 20, "names checked: " + checked);
    }

    @Test
    void binaryNamesRunTheirOp() {
        Generator g = new Generator(32);
        int checked = 0;
        for (BinaryOp op : BinaryOp.values())
            for (String name : op.names().torchscript()) {
                boolean positive = op == BinaryOp.POW || op == BinaryOp.DIV;
                Tensor a = positive ? Tensor.uniform(g, 0.5, 2, DType.F64, 3, 4) : Tensor.uniform(g, -2, 2, DType.F64, 3, 4);
                Tensor b = positive ? Tensor.uniform(g, 0.5, 2, DType.F64, 3, 4) : Tensor.uniform(g, -2, 2, DType.F64, 3, 4);
                if (op.isComparison()) b = Tensor.where(Tensor.uniform(g, 0, 1, DType.F64, 3, 4).lt(Tensor.scalar(0.3, DType.F64)), a, b);  // some ties
                double[] av = a.toDoubleArray(), bv = b.toDoubleArray();
                Tensor y = (Tensor) run("torch." + name + "(x, y)", a, b);
                assertEquals(op.isComparison() ? DType.BOOL : DType.F64, y.dtype(), op + " as torch." + name);
                double[] yv = y.to(DType.F64).toDoubleArray();
                for (int i = 0; i < av.length; i++) {
                    double ref = op.reference(av[i], bv[i]);
                    assertEquals(ref, yv[i], 1e-12 * Math.max(1, Math.abs(ref)), op + " as torch." + name + " of " + av[i] + ", " + bv[i]);
                }
                checked++;
            }
        assertTrue(checked >= 15, "names checked: " + checked);
    }

    @Test
    void reductionNamesRunTheirOp() {
        Tensor x = Tensor.uniform(new Generator(33), -2, 2, DType.F64, 3, 5);
        double[] v = x.toDoubleArray();
        Map<ReduceOp, String> calls = Map.of(ReduceOp.SUM, "torch.sum(x, [1], False, None)", ReduceOp.MEAN, "torch.mean(x, [1], False, None)",
                ReduceOp.PROD, "torch.prod(x, 1, False, None)", ReduceOp.MAX, "torch.amax(x, [1], False)",
                ReduceOp.MIN, "torch.amin(x, [1], False)", ReduceOp.LOGSUMEXP, "torch.logsumexp(x, [1], False)",
                ReduceOp.ARGMAX, "torch.argmax(x, 1, False)", ReduceOp.ARGMIN, "torch.argmin(x, 1, False)");
        for (ReduceOp op : ReduceOp.values()) {
            if (op.names().torchscript().isEmpty()) continue;
            String call = calls.get(op);
            assertNotNull(call, op + " has a TorchScript name but no call here");
            assertTrue(call.startsWith("torch." + op.names().torchscript().get(0) + "("), call);
            double[] y = ((Tensor) run(call, x)).to(DType.F64).toDoubleArray();
            for (int r = 0; r < 3; r++) {
                double s = 0, p = 1, mx = Double.NEGATIVE_INFINITY, mn = Double.POSITIVE_INFINITY;
                int amx = 0, amn = 0;
                for (int c = 0; c < 5; c++) {
                    double e = v[r * 5 + c];
                    s += e;
                    p *= e;
                    if (e > mx) { mx = e; amx = c; }
                    if (e < mn) { mn = e; amn = c; }
                }
                double lse = 0;
                for (int c = 0; c < 5; c++) lse += Math.exp(v[r * 5 + c] - mx);
                double ref = switch (op) {
                    case SUM -> s;
                    case MEAN -> s / 5;
                    case PROD -> p;
                    case MAX -> mx;
                    case MIN -> mn;
                    case LOGSUMEXP -> mx + Math.log(lse);
                    case ARGMAX -> amx;
                    case ARGMIN -> amn;
                    default -> throw new AssertionError(op);
                };
                assertEquals(ref, y[r], 1e-12 * Math.max(1, Math.abs(ref)), op + " row " + r);
            }
        }
    }
}
