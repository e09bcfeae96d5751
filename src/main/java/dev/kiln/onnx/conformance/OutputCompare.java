package dev.kiln.onnx.conformance;

import dev.kiln.backend.Backends;
import dev.kiln.onnx.Value;
import dev.kiln.onnx.Values;
import dev.kiln.tensor.Tensor;

import java.util.Arrays;

/**
 * The comparison rule of the ONNX backend tests: same kind, same element type, same shape; floats
 * within {@code |a-b| <= 1e-3 + 1e-3*|b|} (NaN equals NaN, infinities must match), integers and
 * bools exact, strings exactly equal. Returns null when the values match, else a one-line reason.
 */
public final class OutputCompare {
    public static final double ATOL = 1e-3, RTOL = 1e-3;

    private OutputCompare() {}

    public static String compare(Value expected, Value actual) {
        return switch (expected) {
            case null -> actual == null ? null : "expected nothing, got " + Values.describe(actual);
            case Value.TensorValue e -> actual instanceof Value.TensorValue a ? tensors(e, a)
                    : "expected a tensor, got " + Values.describe(actual);
            case Value.StringTensorValue e -> actual instanceof Value.StringTensorValue a ? strings(e, a)
                    : "expected a string tensor, got " + Values.describe(actual);
            case Value.SequenceValue e -> actual instanceof Value.SequenceValue a ? sequences(e, a)
                    : "expected a sequence, got " + Values.describe(actual);
            case Value.OptionalValue e -> actual instanceof Value.OptionalValue a ? compareIn("optional", e.value(), a.value())
                    : "expected an optional, got " + Values.describe(actual);
        };
    }

    private static String sequences(Value.SequenceValue e, Value.SequenceValue a) {
        if (e.items().size() != a.items().size())
            return "sequence length " + a.items().size() + ", expected " + e.items().size();
        for (int i = 0; i < e.items().size(); i++) {
            String r = compareIn("item " + i, e.items().get(i), a.items().get(i));
            if (r != null) return r;
        }
        return null;
    }

    private static String compareIn(String where, Value e, Value a) {
        String r = compare(e, a);
        return r == null ? null : where + ": " + r;
    }

    private static String tensors(Value.TensorValue e, Value.TensorValue a) {
        if (e.type() != a.type()) return "element type " + a.type() + ", expected " + e.type();
        int[] es = e.tensor().shape(), as = a.tensor().shape();
        if (!Arrays.equals(es, as)) return "shape " + Arrays.toString(as) + ", expected " + Arrays.toString(es);
        Tensor at = a.tensor().backend().isHost() ? a.tensor() : a.tensor().to(Backends.cpu());
        try {
            return e.type().isFloat() ? floats(e.tensor(), at) : ints(e.tensor(), at);
        } finally {
            if (at != a.tensor()) at.close();
        }
    }

    /** String tensors: same shape, every string equal (exactly, no normalization). */
    private static String strings(Value.StringTensorValue e, Value.StringTensorValue a) {
        if (!Arrays.equals(e.shape(), a.shape()))
            return "shape " + Arrays.toString(a.shape()) + ", expected " + Arrays.toString(e.shape());
        String[] ev = e.data(), av = a.data();
        int bad = 0, first = -1;
        for (int i = 0; i < ev.length; i++) {
            if (!ev[i].equals(av[i])) {
                if (first < 0) first = i;
                bad++;
            }
        }
        if (bad == 0) return null;
        return bad + " of " + ev.length + " strings differ (first at flat index " + first + ": got \"" + av[first]
                + "\", expected \"" + ev[first] + "\")";
    }

    private static String floats(Tensor e, Tensor a) {
        double[] ev = e.toDoubleArray(), av = a.toDoubleArray();
        int bad = 0, first = -1;
        double worst = 0;
        for (int i = 0; i < ev.length; i++) {
            double x = av[i], y = ev[i];
            boolean ok = Double.isNaN(y) ? Double.isNaN(x) : x == y || Math.abs(x - y) <= ATOL + RTOL * Math.abs(y);
            if (!ok) {
                if (first < 0) first = i;
                bad++;
                double d = Math.abs(x - y);
                if (!(d <= worst)) worst = d;
            }
        }
        if (bad == 0) return null;
        return bad + " of " + ev.length + " values differ (first at flat index " + first + ": got " + av[first]
                + ", expected " + ev[first] + "; max |diff| " + worst + ")";
    }

    private static String ints(Tensor e, Tensor a) {
        long[] ev = e.toLongArray(), av = a.toLongArray();
        int bad = 0, first = -1;
        for (int i = 0; i < ev.length; i++) {
            if (ev[i] != av[i]) {
                if (first < 0) first = i;
                bad++;
            }
        }
        if (bad == 0) return null;
        return bad + " of " + ev.length + " values differ (first at flat index " + first + ": got " + av[first]
                + ", expected " + ev[first] + ")";
    }
}
