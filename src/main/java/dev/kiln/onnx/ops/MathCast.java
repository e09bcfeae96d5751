package dev.kiln.onnx.ops;

import dev.kiln.onnx.ElemType;

/**
 * Cast and CastLike (registered by {@link MathOps}). Conversions follow C/NumPy: float to integer
 * truncates toward zero, then wraps at the target width; integer to integer wraps; anything to
 * bool is "!= 0"; uint64 values are read unsigned. Float to float rounds to nearest even.
 * Casts to and from STRING (heap string tensors) follow {@link StringCast}.
 */
final class MathCast {
    private MathCast() {}

    static void register(OpRegistry r) {
        r.register("Cast", c -> {
            int code = (int) c.attrInt("to", -1);
            ElemType to;
            try {
                to = ElemType.fromCode(code);
            } catch (IllegalArgumentException e) {
                throw c.error("unknown target type " + code);
            }
            return cast(c, to);
        });
        r.register("CastLike", c -> cast(c, c.type(1)));
    }

    private static java.util.List<dev.kiln.onnx.Value> cast(OpCall c, ElemType to) {
        ElemType from = c.type(0);
        if (from == ElemType.STRING && to == ElemType.STRING) return java.util.List.of(c.strings(0));
        if (from == ElemType.STRING) {
            try {
                return MathOps.one(StringCast.fromStrings(c.strings(0), to), to);
            } catch (IllegalArgumentException e) {
                throw c.error(e.getMessage());
            }
        }
        if (to.storage() == null && to != ElemType.STRING)
            throw c.error("cannot cast " + from + " to " + to + ": Kiln has no " + to + " tensors");
        if (to == ElemType.STRING) return java.util.List.of(StringCast.toStrings(c.in(0), from));
        return MathOps.one(MathKernels.cast(c.in(0), from, to), to);
    }
}
