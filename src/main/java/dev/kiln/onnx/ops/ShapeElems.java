package dev.kiln.onnx.ops;

import dev.kiln.backend.Backends;
import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.Value;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * Shared helpers of the shape and index op families: raw element moves that work for every dtype
 * (bit-exact, so float16, bool and widened unsigned types survive unchanged), axis normalization
 * against ONNX rules, the (outer, axis, inner) decomposition of a contiguous tensor, and output
 * wrapping that keeps the input's ONNX element type.
 */
final class ShapeElems {
    private ShapeElems() {}

    private static final ValueLayout.OfShort S16 = ValueLayout.JAVA_SHORT_UNALIGNED;
    private static final ValueLayout.OfInt S32 = ValueLayout.JAVA_INT_UNALIGNED;
    private static final ValueLayout.OfLong S64 = ValueLayout.JAVA_LONG_UNALIGNED;

    /** Copies element {@code si} of src to element {@code di} of dst (element indices, same dtype). */
    static void move(MemorySegment src, long si, MemorySegment dst, long di, int elemBytes) {
        switch (elemBytes) {
            case 1 -> dst.set(ValueLayout.JAVA_BYTE, di, src.get(ValueLayout.JAVA_BYTE, si));
            case 2 -> dst.set(S16, di * 2, src.get(S16, si * 2));
            case 4 -> dst.set(S32, di * 4, src.get(S32, si * 4));
            default -> dst.set(S64, di * 8, src.get(S64, si * 8));
        }
    }

    /** Copies {@code n} consecutive elements (element indices). */
    static void moveRun(MemorySegment src, long si, MemorySegment dst, long di, long n, int elemBytes) {
        if (n > 0) MemorySegment.copy(src, si * elemBytes, dst, di * elemBytes, n * elemBytes);
    }

    /** A contiguous CPU copy or view of x (a new reference the caller closes). */
    static Tensor host(Tensor x) {
        return x.backend().isHost() ? x.contiguous() : x.to(Backends.cpu());
    }

    /** A new zero-filled contiguous CPU tensor. */
    static Tensor alloc(DType t, int[] shape) { return Tensor.zeros(t, shape); }

    /** ONNX axis in [-rank, rank) to [0, rank). */
    static int axis(OpCall call, long axis, int rank) {
        long a = axis < 0 ? axis + rank : axis;
        if (a < 0 || a >= rank) throw call.error("axis " + axis + " out of range for rank " + rank);
        return (int) a;
    }

    /** Product of dims [from, to). */
    static long prod(int[] shape, int from, int to) {
        long p = 1;
        for (int i = from; i < to; i++) p *= shape[i];
        return p;
    }

    static int toInt(OpCall call, long v, String what) {
        if (v != (int) v) throw call.error(what + " " + v + " does not fit in an int");
        return (int) v;
    }

    /** One output with the ONNX type of input 0. */
    static List<Value> one(OpCall call, Tensor t) { return List.of(Value.of(t, call.type(0))); }

    static List<Value> one(Tensor t, ElemType type) { return List.of(Value.of(t, type)); }

    /** A new tensor value sharing v's storage (so the executor may close both independently). */
    static Value share(Value v) {
        return switch (v) {
            case Value.TensorValue tv -> Value.of(alias(tv.tensor()), tv.type());
            case Value.StringTensorValue st -> st; // heap data, nothing to close
            case Value.SequenceValue sv -> {
                List<Value> items = new ArrayList<>(sv.items().size());
                for (Value item : sv.items()) items.add(share(item));
                yield new Value.SequenceValue(items, sv.elemType());
            }
            case Value.OptionalValue ov -> new Value.OptionalValue(ov.value() == null ? null : share(ov.value()));
        };
    }

    /** A new tensor object over t's storage with t's layout (a view, never a copy). */
    static Tensor alias(Tensor t) {
        return Tensor.of(t.storage(), t.dtype(), t.shape(), t.strides(), t.offset());
    }

    /** An int64 tensor of the given shape holding v (row-major). */
    static Tensor longs(long[] v, int... shape) {
        Tensor t = Tensor.zeros(DType.I64, shape);
        MemorySegment.copy(v, 0, t.segment(), Storage.I64, 0, v.length);
        return t;
    }

    /** A scalar input read as a double (Range, OneHot depth, Trilu k, ...). */
    static double scalar(OpCall call, int input) {
        Tensor t = call.in(input);
        if (t.numel() != 1) throw call.error("input " + input + " must hold one value, got shape " + Shape.str(t.shape()));
        return t.dtype().isFloating() ? t.getFlat(0) : t.toLongArray()[0];
    }

    /** A scalar integer input read exactly. */
    static long scalarLong(OpCall call, int input) {
        Tensor t = call.in(input);
        if (t.numel() != 1) throw call.error("input " + input + " must hold one value, got shape " + Shape.str(t.shape()));
        return t.dtype().isFloating() ? (long) t.getFlat(0) : t.toLongArray()[0];
    }

    /** Index value j checked against [-len, len) and made non-negative. */
    static long index(OpCall call, long j, long len) {
        if (j < -len || j >= len) throw call.error("index " + j + " out of range for an axis of size " + len);
        return j < 0 ? j + len : j;
    }
}
