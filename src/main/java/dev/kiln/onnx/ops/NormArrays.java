package dev.kiln.onnx.ops;

import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.Value;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Tensor;

/**
 * Array helpers shared by the norm, RNN, quantization, signal and training op families: reading a
 * tensor as doubles and building a tensor of a given ONNX type from doubles or longs. Used by the
 * generic (element loop) implementations of rare ops; hot ops use Kiln tensor ops instead.
 */
final class NormArrays {
    private NormArrays() {}

    /** Row-major values of any tensor (strided views included), as doubles. */
    static double[] doubles(Tensor t) {
        return t.toDoubleArray();
    }

    /** A new tensor of ONNX type {@code type} holding {@code v} (rounded/cast to the storage dtype). */
    static Tensor tensor(double[] v, ElemType type, int... shape) {
        DType d = type.storage();
        if (d == null) throw new IllegalArgumentException("no Kiln storage for ONNX type " + type);
        if (d == DType.F64) return Tensor.fromArray(v.clone(), shape);
        if (d == DType.F32) {
            float[] f = new float[v.length];
            for (int i = 0; i < v.length; i++) f[i] = (float) v[i];
            return Tensor.fromArray(f, shape);
        }
        return Tensor.fromDoubles(d, v, shape);
    }

    /** A new tensor of an integer ONNX type holding {@code v} exactly. */
    static Tensor tensor(long[] v, ElemType type, int... shape) {
        DType d = type.storage();
        if (d == DType.I64) return Tensor.fromArray(v.clone(), shape);
        if (d == DType.I32) {
            int[] a = new int[v.length];
            for (int i = 0; i < v.length; i++) a[i] = (int) v[i];
            return Tensor.fromArray(a, shape);
        }
        double[] dv = new double[v.length];
        for (int i = 0; i < v.length; i++) dv[i] = v[i];
        return tensor(dv, type, shape);
    }

    static Value value(double[] v, ElemType type, int... shape) {
        return Value.of(tensor(v, type, shape), type);
    }

    static Value value(long[] v, ElemType type, int... shape) {
        return Value.of(tensor(v, type, shape), type);
    }

    /** A bool tensor value. */
    static Value bools(boolean[] v, int... shape) {
        double[] d = new double[v.length];
        for (int i = 0; i < v.length; i++) d[i] = v[i] ? 1 : 0;
        return Value.of(Tensor.fromDoubles(DType.BOOL, d, shape), ElemType.BOOL);
    }

    /** Product of shape[from..to). */
    static int prod(int[] shape, int from, int to) {
        int p = 1;
        for (int i = from; i < to; i++) p *= shape[i];
        return p;
    }
}
