package dev.kiln.onnx;

import dev.kiln.tensor.Tensor;

import java.util.List;

/**
 * A runtime value of an ONNX graph: a tensor with its ONNX element type, a string tensor, a
 * sequence, or an optional. The executor owns the tensors it holds and closes them after their
 * last use. String tensors live on the Java heap (Kiln's engine has no string dtype): they hold no
 * off-heap memory and need no closing.
 */
public sealed interface Value permits Value.TensorValue, Value.StringTensorValue, Value.SequenceValue,
        Value.OptionalValue {

    /** A tensor; {@code type} is its logical ONNX type ({@code tensor.dtype() == type.storage()}). */
    record TensorValue(Tensor tensor, ElemType type) implements Value {
        public TensorValue {
            if (type.storage() != tensor.dtype())
                throw new IllegalArgumentException("ONNX " + type + " value stored as " + tensor.dtype()
                        + ", expected " + type.storage());
        }
    }

    /**
     * An ONNX {@code STRING} tensor: {@code data} in row-major order, {@code data.length} equal to the
     * product of {@code shape} (1 for a 0-d scalar). The arrays are shared, not copied: treat them as
     * read-only.
     */
    record StringTensorValue(String[] data, int[] shape) implements Value {
        public StringTensorValue {
            long n = 1;
            for (int d : shape) {
                if (d < 0) throw new IllegalArgumentException("negative dim in string tensor shape " + java.util.Arrays.toString(shape));
                n *= d;
            }
            if (n != data.length)
                throw new IllegalArgumentException("string tensor of shape " + java.util.Arrays.toString(shape) + " needs "
                        + n + " strings, got " + data.length);
            for (String x : data) if (x == null) throw new IllegalArgumentException("null string in string tensor");
        }

        /** Always {@link ElemType#STRING}. */
        public ElemType type() { return ElemType.STRING; }

        public int rank() { return shape.length; }

        @Override
        public String toString() {
            return "StringTensorValue" + java.util.Arrays.toString(shape) + java.util.Arrays.toString(data);
        }
    }

    /** A sequence of values ({@code elemType} is the element tensor type, for empty sequences). */
    record SequenceValue(List<Value> items, ElemType elemType) implements Value {}

    /** An optional: {@code value} is null when the optional is empty. */
    record OptionalValue(Value value) implements Value {}

    /** A tensor value with the natural ONNX type of its Kiln dtype. */
    static TensorValue of(Tensor t) { return new TensorValue(t, ElemType.of(t.dtype())); }

    static TensorValue of(Tensor t, ElemType type) { return new TensorValue(t, type); }

    /** A string tensor value; {@code shape} as in {@link StringTensorValue}. */
    static StringTensorValue strings(String[] data, int... shape) { return new StringTensorValue(data, shape); }

    /** This value as a tensor, or an error naming what it is instead. */
    default Tensor tensor() {
        if (this instanceof TensorValue tv) return tv.tensor();
        throw new IllegalArgumentException("expected a tensor, got a " + getClass().getSimpleName());
    }
}
