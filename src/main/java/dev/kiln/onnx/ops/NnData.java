package dev.kiln.onnx.ops;

import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.Value;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Tensor;

import java.util.List;

/**
 * Small helpers shared by the NN op files: tensors to and from double arrays (the generic loops
 * compute in double, which is exact for every float type and for integers up to 2^53), explicit
 * padding copies, and output wrapping in the input's ONNX type.
 */
final class NnData {
    private NnData() {}

    /** Whether a type goes through the engine's float kernels (f32/f64, or f16/bf16 via f32). */
    static boolean isFloat(DType t) {
        return t == DType.F32 || t == DType.F64 || t == DType.F16 || t == DType.BF16;
    }

    /** A contiguous tensor of {@code type}'s storage dtype holding {@code data}. */
    static Tensor fromDoubles(double[] data, DType type, int... shape) {
        if (type == DType.F64) return Tensor.fromArray(data, shape);
        try (Tensor d = Tensor.fromArray(data, shape)) {
            return d.to(type);
        }
    }

    /** One output value of the given ONNX type built from doubles. */
    static List<Value> out(double[] data, ElemType type, int... shape) {
        return List.of(Value.of(fromDoubles(data, type.storage(), shape), type));
    }

    /** {@code t} cast to {@code type}'s storage dtype (t itself closed when a cast happens). */
    static Tensor castTo(Tensor t, DType type) {
        if (t.dtype() == type) return t;
        try (t) {
            return t.to(type);
        }
    }

    /** Product of {@code dims[from..]}. */
    static int prod(int[] dims, int from) {
        long p = 1;
        for (int i = from; i < dims.length; i++) p *= dims[i];
        return Math.toIntExact(p);
    }

    /**
     * A copy of x [N,C,spatial...] padded by {@code before}/{@code after} on each spatial axis,
     * filled with {@code fill} (0 for conv / average pooling, -inf for max pooling).
     */
    static Tensor pad(Tensor x, int[] before, int[] after, double fill) {
        int[] s = x.shape();
        int[] ps = s.clone();
        for (int i = 0; i < before.length; i++) ps[i + 2] += before[i] + after[i];
        Tensor out = fill == 0 ? Tensor.zeros(x.dtype(), ps) : Tensor.full(fill, x.dtype(), ps);
        Tensor inner = out;
        try {
            for (int i = 0; i < before.length; i++) {
                Tensor n = inner.narrow(i + 2, before[i], s[i + 2]);
                if (inner != out) inner.close();
                inner = n;
            }
            inner.copyFrom(x);
        } finally {
            if (inner != out) inner.close();
        }
        return out;
    }

    /** Whether every entry is 0. */
    static boolean allZero(int[] v) {
        for (int x : v) if (x != 0) return false;
        return true;
    }
}
