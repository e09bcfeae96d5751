package dev.kiln.onnx.ops;

import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.OnnxAttribute;
import dev.kiln.onnx.OnnxNode;
import dev.kiln.onnx.Value;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * MathOps family against hand-computed values: ONNX integer semantics (C division, Python and C
 * modulo, wrapping at uint8/int8 width, unsigned uint64), exact integer Pow, Cast rules, BitShift,
 * Clip by opset, activations, variadic broadcasting. Also the helpers the ReduceOps tests share.
 */
class MathOpsTest {
    private Scope scope;

    @BeforeEach void open() { scope = Scope.open(); }
    @AfterEach void close() { scope.close(); }

    // ------------------------------------------------------------------ helpers (shared)

    /** Runs one op through the standard registry; attrs alternate name, value (Long, Double, long[], String). */
    static List<Value> run(String op, int opset, Object[] attrs, Value... inputs) {
        Map<String, OnnxAttribute> map = new LinkedHashMap<>();
        for (int i = 0; i < attrs.length; i += 2) map.put((String) attrs[i], attr((String) attrs[i], attrs[i + 1]));
        List<String> names = new ArrayList<>();
        for (int i = 0; i < inputs.length; i++) names.add(inputs[i] == null ? "" : "x" + i);
        OnnxNode node = new OnnxNode("n", op, "", names, List.of("y"), map);
        OpCall call = new OpCall(node, Arrays.asList(inputs), opset, null);
        return OpRegistry.standard().lookup(node, opset).run(call);
    }

    static Value.TensorValue one(String op, int opset, Object[] attrs, Value... inputs) {
        return (Value.TensorValue) run(op, opset, attrs, inputs).get(0);
    }

    static OnnxAttribute attr(String name, Object v) {
        return switch (v) {
            case Long l -> new OnnxAttribute(name, OnnxAttribute.Type.INT, 0, l, null, null, null, null, null, null, null, null, null);
            case Double d -> new OnnxAttribute(name, OnnxAttribute.Type.FLOAT, d.floatValue(), 0, null, null, null, null, null, null, null, null, null);
            case long[] a -> new OnnxAttribute(name, OnnxAttribute.Type.INTS, 0, 0, null, null, null, null, a, null, null, null, null);
            case String s -> new OnnxAttribute(name, OnnxAttribute.Type.STRING, 0, 0, s.getBytes(), null, null, null, null, null, null, null, null);
            default -> throw new IllegalArgumentException(String.valueOf(v));
        };
    }

    static final Object[] NONE = {};

    /** A tensor of ONNX type t holding the logical values v. */
    static Value.TensorValue longs(ElemType t, long[] v, int... shape) {
        return Value.of(MathKernels.fromLongs(v, t, shape.length == 0 && v.length != 1 ? new int[]{v.length} : shape), t);
    }

    static Value.TensorValue doubles(ElemType t, double[] v, int... shape) {
        return Value.of(MathKernels.fromDoubles(v, t, shape.length == 0 && v.length != 1 ? new int[]{v.length} : shape), t);
    }

    static long[] longsOf(Value.TensorValue v) { return v.tensor().toLongArray(); }

    static double[] doublesOf(Value.TensorValue v) { return MathKernels.doubles(v.tensor(), v.type()); }

    static void assertDoubles(double[] want, Value.TensorValue got, double tol) {
        double[] g = doublesOf(got);
        assertEquals(want.length, g.length, "length");
        for (int i = 0; i < want.length; i++)
            assertEquals(want[i], g[i], Double.isInfinite(want[i]) ? 0 : tol * (1 + Math.abs(want[i])),
                    "element " + i + " of " + Arrays.toString(g));
    }

    // ------------------------------------------------------------------ integer arithmetic

    @Test
    void integerDivTruncatesAndModFollowsTheFmodAttribute() {
        Value.TensorValue a = longs(ElemType.INT32, new long[]{-7, 7, -7, 7});
        Value.TensorValue b = longs(ElemType.INT32, new long[]{2, -2, -2, 3});
        Value.TensorValue q = one("Div", 14, NONE, a, b);
        assertEquals(ElemType.INT32, q.type());
        assertArrayEquals(new long[]{-3, -3, 3, 2}, longsOf(q));
        Value.TensorValue m = longs(ElemType.INT32, new long[]{3, -3, 3, -3});
        assertArrayEquals(new long[]{2, -2, 2, -2}, longsOf(one("Mod", 13, NONE, longs(ElemType.INT32, new long[]{-7, 7, 5, -5}), m)));
        assertArrayEquals(new long[]{-1, 1, 2, -2},
                longsOf(one("Mod", 13, new Object[]{"fmod", 1L}, longs(ElemType.INT32, new long[]{-7, 7, 5, -5}), m)));
        assertDoubles(new double[]{-1.5, 1.5}, one("Mod", 13, new Object[]{"fmod", 1L},
                doubles(ElemType.FLOAT, new double[]{-7.5, 7.5}), doubles(ElemType.FLOAT, new double[]{2, -2})), 0);
    }

    @Test
    void narrowUnsignedTypesWrapAndUint64IsUnsigned() {
        Value.TensorValue d = one("Sub", 14, NONE, longs(ElemType.UINT8, new long[]{1, 200}), longs(ElemType.UINT8, new long[]{2, 100}));
        assertEquals(ElemType.UINT8, d.type());
        assertArrayEquals(new long[]{255, 100}, longsOf(d));
        assertArrayEquals(new long[]{-56}, longsOf(one("Add", 14, NONE, longs(ElemType.INT8, new long[]{100}), longs(ElemType.INT8, new long[]{100}))));
        long big = Long.MIN_VALUE + 10; // 2^63 + 10 as uint64
        assertArrayEquals(new long[]{(1L << 62) + 5}, longsOf(one("Div", 14, NONE,
                longs(ElemType.UINT64, new long[]{big}), longs(ElemType.UINT64, new long[]{2}))));
        assertArrayEquals(new long[]{1, 0}, longsOf(one("Greater", 13, NONE,
                longs(ElemType.UINT64, new long[]{-1L, 1}), longs(ElemType.UINT64, new long[]{1, -1L}))));
        assertArrayEquals(new long[]{-1L}, longsOf(one("Max", 13, NONE,
                longs(ElemType.UINT64, new long[]{-1L}), longs(ElemType.UINT64, new long[]{5}))));
        assertArrayEquals(new long[]{0}, longsOf(one("Mod", 13, NONE,
                longs(ElemType.UINT64, new long[]{-2L}), longs(ElemType.UINT64, new long[]{2}))));
    }

    @Test
    void integerPowIsExact() {
        Value.TensorValue p = one("Pow", 15, NONE, longs(ElemType.INT64, new long[]{3, 2, -2}), longs(ElemType.INT64, new long[]{39, 10, 3}));
        assertArrayEquals(new long[]{4052555153018976267L, 1024, -8}, longsOf(p));
        Value.TensorValue f = one("Pow", 15, NONE, longs(ElemType.INT32, new long[]{2, 3}), doubles(ElemType.FLOAT, new double[]{0.5, 2}));
        assertEquals(ElemType.INT32, f.type());
        assertArrayEquals(new long[]{1, 9}, longsOf(f));
        Value.TensorValue g = one("Pow", 15, NONE, doubles(ElemType.FLOAT, new double[]{2, -3}), longs(ElemType.UINT64, new long[]{3, 2}));
        assertEquals(ElemType.FLOAT, g.type());
        assertDoubles(new double[]{8, 9}, g, 0);
    }

    @Test
    void bitShiftWrapsAtTheTypeWidth() {
        Value.TensorValue l = one("BitShift", 11, new Object[]{"direction", "LEFT"},
                longs(ElemType.UINT8, new long[]{200, 1, 16}), longs(ElemType.UINT8, new long[]{1, 7, 2}));
        assertArrayEquals(new long[]{144, 128, 64}, longsOf(l));
        Value.TensorValue r = one("BitShift", 11, new Object[]{"direction", "RIGHT"},
                longs(ElemType.UINT64, new long[]{-1L}), longs(ElemType.UINT64, new long[]{60}));
        assertArrayEquals(new long[]{15}, longsOf(r));
    }

    // ------------------------------------------------------------------ Cast

    @Test
    void castTruncatesWrapsAndReadsUint64Unsigned() {
        Value.TensorValue f = doubles(ElemType.FLOAT, new double[]{-1.7, 2.9, 200, Double.NaN});
        assertArrayEquals(new long[]{-1, 2, -56, 0}, longsOf(one("Cast", 13, new Object[]{"to", 3L}, f)));     // int8
        assertArrayEquals(new long[]{1, 1, 1, 1}, longsOf(one("Cast", 13, new Object[]{"to", 9L}, f)));       // bool
        assertArrayEquals(new long[]{44, 255}, longsOf(one("Cast", 13, new Object[]{"to", 2L},
                longs(ElemType.INT32, new long[]{300, -1}))));                                             // uint8
        Value.TensorValue u = one("Cast", 13, new Object[]{"to", 11L}, longs(ElemType.UINT64, new long[]{-1L}));
        assertEquals(1.8446744073709552E19, doublesOf(u)[0]);
        Value.TensorValue back = one("Cast", 13, new Object[]{"to", 13L}, u);
        assertEquals(ElemType.UINT64, back.type());
        assertArrayEquals(new long[]{-1L}, longsOf(back));
        Value.TensorValue h = one("CastLike", 15, NONE, doubles(ElemType.DOUBLE, new double[]{1.0009765625, 65504}),
                doubles(ElemType.FLOAT16, new double[]{0}));
        assertEquals(DType.F16, h.tensor().dtype());
        assertDoubles(new double[]{1.0009765625, 65504}, h, 0);
        assertThrows(RuntimeException.class, () -> one("Cast", 13, new Object[]{"to", 8L}, f));
    }

    // ------------------------------------------------------------------ unary, activations, Clip

    @Test
    void unaryOpsOnFloatAndIntegerInputs() {
        Value.TensorValue x = doubles(ElemType.FLOAT, new double[]{-2.5, -0.5, 0.5, 1.5, 2.5});
        assertDoubles(new double[]{-2, -0, 0, 2, 2}, one("Round", 11, NONE, x), 0);
        assertDoubles(new double[]{-3, -1, 0, 1, 2}, one("Floor", 13, NONE, x), 0);
        assertDoubles(new double[]{-2, -0, 1, 2, 3}, one("Ceil", 13, NONE, x), 0);
        assertDoubles(new double[]{-1, -1, 1, 1, 1}, one("Sign", 13, NONE, x), 0);
        assertDoubles(new double[]{-0.999593047982555, -0.520499877813047, 0.520499877813047, 0.966105146475311,
                0.999593047982555}, one("Erf", 13, NONE, x), 1e-6);
        Value.TensorValue i = longs(ElemType.INT16, new long[]{-32768, -3, 4});
        assertArrayEquals(new long[]{-32768, 3, 4}, longsOf(one("Abs", 13, NONE, i)));
        assertArrayEquals(new long[]{-1, -1, 1}, longsOf(one("Sign", 13, NONE, i)));
        assertDoubles(new double[]{Math.tan(0.5), Math.atan(0.5), 0.5 * Math.log(3)},
                new Value.TensorValue(Tensor.fromDoubles(DType.F64, new double[]{
                        doublesOf(one("Tan", 7, NONE, doubles(ElemType.DOUBLE, new double[]{0.5})))[0],
                        doublesOf(one("Atan", 7, NONE, doubles(ElemType.DOUBLE, new double[]{0.5})))[0],
                        doublesOf(one("Atanh", 9, NONE, doubles(ElemType.DOUBLE, new double[]{0.5})))[0]}, 3), ElemType.DOUBLE), 1e-15);
    }

    @Test
    void activationsUseTheirAttributesAndDefaults() {
        Value.TensorValue x = doubles(ElemType.FLOAT, new double[]{-2, -0.25, 0, 0.25, 4});
        assertDoubles(new double[]{-0.2, -0.025, 0, 0.25, 4}, one("LeakyRelu", 16, new Object[]{"alpha", 0.1}, x), 1e-7);
        assertDoubles(new double[]{-2 * (0.5 - 2.0 / 6), -0.25 * (1.0 / 6 * -0.25 + 0.5), 0, 0.25 * (0.25 / 6 + 0.5), 4}, one("HardSwish", 14, NONE, x), 1e-7);
        assertDoubles(new double[]{0.1, 0.45, 0.5, 0.55, 1}, one("HardSigmoid", 6, NONE, x), 1e-7);
        double a = 1.67326319217681884765625, g = 1.05070102214813232421875;
        assertDoubles(new double[]{g * a * Math.expm1(-2), g * a * Math.expm1(-0.25), 0, g * 0.25, g * 4}, one("Selu", 6, NONE, x), 1e-6);
        assertDoubles(new double[]{0, 0, 0, 0, 4}, one("ThresholdedRelu", 10, new Object[]{"alpha", 2.0}, x), 0);
        assertDoubles(new double[]{-1.5, 0, 0, 0, 3.5}, one("Shrink", 9, new Object[]{"bias", 0.5, "lambd", 1.0}, x), 0);
        assertDoubles(new double[]{-0.4, -0.05, 0, 0.25, 4}, one("PRelu", 16, NONE, x, doubles(ElemType.FLOAT, new double[]{0.2})), 1e-7);
    }

    @Test
    void clipTakesAttributesBeforeOpset11AndOptionalInputsAfter() {
        Value.TensorValue x = doubles(ElemType.FLOAT, new double[]{-3, 0.5, 3});
        assertDoubles(new double[]{-1, 0.5, 1}, one("Clip", 6, new Object[]{"min", -1.0, "max", 1.0}, x), 0);
        assertDoubles(new double[]{-3, 0.5, 2}, one("Clip", 13, NONE, x, null, doubles(ElemType.FLOAT, new double[]{2}, new int[0])), 0);
        Value.TensorValue i8 = longs(ElemType.INT8, new long[]{-128, 5, 127});
        Value.TensorValue c = one("Clip", 13, NONE, i8, longs(ElemType.INT8, new long[]{0}, new int[0]));
        assertEquals(ElemType.INT8, c.type());
        assertArrayEquals(new long[]{0, 5, 127}, longsOf(c));
    }

    @Test
    void isInfAndIsNaN() {
        Value.TensorValue x = doubles(ElemType.FLOAT, new double[]{Double.NEGATIVE_INFINITY, Double.NaN, 1, Double.POSITIVE_INFINITY});
        assertArrayEquals(new long[]{0, 0, 0, 1}, longsOf(one("IsInf", 10, new Object[]{"detect_negative", 0L}, x)));
        assertArrayEquals(new long[]{1, 0, 0, 1}, longsOf(one("IsInf", 10, NONE, x)));
        assertArrayEquals(new long[]{0, 1, 0, 0}, longsOf(one("IsNaN", 13, NONE, x)));
    }

    // ------------------------------------------------------------------ variadic, logic, Where

    @Test
    void variadicOpsBroadcastAllInputs() {
        Value.TensorValue a = doubles(ElemType.FLOAT, new double[]{1, 2, 3}, 3);
        Value.TensorValue b = doubles(ElemType.FLOAT, new double[]{10, 20}, 2, 1);
        Value.TensorValue c = doubles(ElemType.FLOAT, new double[]{100}, new int[0]);
        Value.TensorValue s = one("Sum", 13, NONE, a, b, c);
        assertArrayEquals(new int[]{2, 3}, s.tensor().shape());
        assertDoubles(new double[]{111, 112, 113, 121, 122, 123}, s, 0);
        assertDoubles(new double[]{37, 37.333333, 37.666667, 40.333333, 40.666667, 41}, one("Mean", 13, NONE, a, b, c), 1e-6);
        assertDoubles(new double[]{10, 10, 10, 20, 20, 20}, one("Max", 13, NONE, a, b), 0);
        assertArrayEquals(new long[]{3}, longsOf(one("Min", 13, NONE, longs(ElemType.UINT16, new long[]{65535}),
                longs(ElemType.UINT16, new long[]{3}))));
        assertArrayEquals(new long[]{65534}, longsOf(one("Sum", 13, NONE, longs(ElemType.UINT16, new long[]{65535}),
                longs(ElemType.UINT16, new long[]{65535}))));
    }

    @Test
    void logicAndWhere() {
        Value.TensorValue t = longs(ElemType.BOOL, new long[]{1, 1, 0, 0}), f = longs(ElemType.BOOL, new long[]{1, 0, 1, 0});
        assertArrayEquals(new long[]{1, 0, 0, 0}, longsOf(one("And", 7, NONE, t, f)));
        assertArrayEquals(new long[]{1, 1, 1, 0}, longsOf(one("Or", 7, NONE, t, f)));
        assertArrayEquals(new long[]{0, 1, 1, 0}, longsOf(one("Xor", 7, NONE, t, f)));
        assertArrayEquals(new long[]{0, 0, 1, 1}, longsOf(one("Not", 1, NONE, t)));
        Value.TensorValue w = one("Where", 16, NONE, t, longs(ElemType.INT64, new long[]{1L << 40}, new int[0]),
                longs(ElemType.INT64, new long[]{-1, -2, -3, -4}));
        assertArrayEquals(new long[]{1L << 40, 1L << 40, -3, -4}, longsOf(w));
        assertArrayEquals(new long[]{1, 0, 1}, longsOf(one("Equal", 13, NONE, longs(ElemType.INT16, new long[]{1, 2, 3}),
                longs(ElemType.INT16, new long[]{1, 3, 3}))));
    }

    @Test
    void identityIsAViewWithTheSameType() {
        Value.TensorValue x = longs(ElemType.UINT32, new long[]{4294967295L});
        Value.TensorValue y = one("Identity", 16, NONE, x);
        assertEquals(ElemType.UINT32, y.type());
        assertArrayEquals(new long[]{4294967295L}, longsOf(y));
    }
}
