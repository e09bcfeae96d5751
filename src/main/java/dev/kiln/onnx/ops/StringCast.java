package dev.kiln.onnx.ops;

import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.Value;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Tensor;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.math.MathContext;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * Cast to and from ONNX {@code STRING} tensors (used by Cast/CastLike in {@link MathCast}).
 * <p>
 * Numbers to strings: floats use the shortest decimal that reads back to the same value in their
 * own precision (float32 "0.039187793", not the float64 expansion), written plainly as the spec
 * asks (no exponent: "0.00001", "123456794.0"; at least one digit after the point); the special
 * values are "NaN", "INF" and "-INF", the literals the spec reserves. Integers print in decimal
 * (uint64 unsigned), bools as "1"/"0".
 * <p>
 * Strings to numbers: plain and scientific decimals ("3.14", "1e-5", "1E8"); "INF", "+INF",
 * "-INF", "NaN" (and "infinity") in any letter case. Float targets parse directly in their
 * precision. Integer targets take integer literals exactly (wrapped to the target width like C
 * casts) and truncate decimal ones toward zero ("100.5" gives 100, which the spec allows). Bool
 * targets also take "true"/"false". Any other string is an error (the spec leaves it undefined).
 */
final class StringCast {
    private StringCast() {}

    private static final Pattern INTEGER = Pattern.compile("[+-]?\\d+");
    private static final Pattern DECIMAL = Pattern.compile("[+-]?(\\d+\\.?\\d*|\\.\\d+)([eE][+-]?\\d+)?");

    // ------------------------------------------------------------------ numbers to strings

    /** The elements of tensor {@code x} (ONNX type {@code from}) as strings, same shape. */
    static Value.StringTensorValue toStrings(Tensor x, ElemType from) {
        int n = Math.toIntExact(x.numel());
        String[] out = new String[n];
        if (from.isFloat()) {
            double[] v = x.toDoubleArray();
            for (int i = 0; i < n; i++) out[i] = format(v[i], from);
        } else {
            long[] v = x.toLongArray();
            for (int i = 0; i < n; i++) out[i] = from == ElemType.UINT64 ? Long.toUnsignedString(v[i]) : Long.toString(v[i]);
        }
        return new Value.StringTensorValue(out, x.shape());
    }

    /** One float value of type {@code type} as the shortest plain decimal that reads back to it. */
    static String format(double v, ElemType type) {
        if (Double.isNaN(v)) return "NaN";
        if (Double.isInfinite(v)) return v > 0 ? "INF" : "-INF";
        if (v == 0) return 1 / v < 0 ? "-0.0" : "0.0";
        String shortest = switch (type) {
            case DOUBLE -> Double.toString(v);
            case FLOAT -> Float.toString((float) v);
            default -> shortestHalf((float) v, type);
        };
        return plain(new BigDecimal(shortest));
    }

    /** The shortest decimal that rounds back to the 16-bit float {@code f} (float16 or bfloat16). */
    private static String shortestHalf(float f, ElemType type) {
        BigDecimal exact = new BigDecimal(f);
        for (int digits = 1; digits < 9; digits++) {
            BigDecimal d = exact.round(new MathContext(digits));
            if (toHalf(d.floatValue(), type) == toHalf(f, type)) return d.toString();
        }
        return Float.toString(f);
    }

    private static short toHalf(float f, ElemType type) {
        return type == ElemType.BFLOAT16 ? DType.floatToBf16(f) : Float.floatToFloat16(f);
    }

    /** A decimal without exponent and with at least one fractional digit: "100.0", "0.00001". */
    static String plain(BigDecimal d) {
        String s = d.stripTrailingZeros().toPlainString();
        return s.indexOf('.') < 0 ? s + ".0" : s;
    }

    // ------------------------------------------------------------------ strings to numbers

    /** The strings of {@code s} converted to ONNX type {@code to} (a new tensor, same shape). */
    static Tensor fromStrings(Value.StringTensorValue s, ElemType to) {
        String[] data = s.data();
        int[] shape = s.shape();
        if (to == ElemType.FLOAT) {
            float[] f = new float[data.length];
            for (int i = 0; i < f.length; i++) f[i] = (float) parseFloat(data[i], true);
            return Tensor.fromArray(f, shape);
        }
        if (to.isFloat()) {
            double[] d = new double[data.length];
            for (int i = 0; i < d.length; i++) d[i] = parseFloat(data[i], false);
            return Tensor.fromDoubles(to.storage(), d, shape);
        }
        long[] l = new long[data.length];
        for (int i = 0; i < l.length; i++) l[i] = parseInteger(data[i], to);
        return MathKernels.fromLongs(l, to, shape);
    }

    /** A float literal (see the class comment); {@code single}: round to float32 directly. */
    static double parseFloat(String s, boolean single) {
        String t = s.strip();
        Double special = special(t);
        if (special != null) return special;
        if (!DECIMAL.matcher(t).matches()) throw bad(s, "a number");
        return single ? Float.parseFloat(t) : Double.parseDouble(t);
    }

    /** +-infinity or NaN for the reserved literals (any case), else null. */
    private static Double special(String t) {
        String l = t.toLowerCase(Locale.ROOT);
        return switch (l) {
            case "inf", "+inf", "infinity", "+infinity" -> Double.POSITIVE_INFINITY;
            case "-inf", "-infinity" -> Double.NEGATIVE_INFINITY;
            case "nan", "+nan", "-nan" -> Double.NaN;
            default -> null;
        };
    }

    /** An integer (or bool) value of {@code to} from a string: exact for integer literals, truncated for decimals. */
    static long parseInteger(String s, ElemType to) {
        String t = s.strip();
        if (to == ElemType.BOOL) {
            if (t.equalsIgnoreCase("true")) return 1;
            if (t.equalsIgnoreCase("false")) return 0;
        }
        if (INTEGER.matcher(t).matches()) return MathKernels.wrap(new BigInteger(t).longValue(), to);
        if (DECIMAL.matcher(t).matches() || special(t) != null) {
            double d = parseFloat(t, false);
            return to == ElemType.BOOL ? (d != 0 ? 1 : 0) : MathKernels.toInteger(d, to);
        }
        throw bad(s, to == ElemType.BOOL ? "a number or true/false" : "a number");
    }

    private static IllegalArgumentException bad(String s, String what) {
        String shown = s.length() > 40 ? s.substring(0, 37) + "..." : s;
        return new IllegalArgumentException("cannot cast string \"" + shown + "\" to a number: it is not " + what);
    }
}
