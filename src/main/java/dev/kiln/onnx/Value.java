package dev.kiln.onnx;

import dev.kiln.tensor.Tensor;

import java.util.List;

/**
 * A runtime value of an ONNX graph: a tensor with its ONNX element type, a sequence, or an
 * optional. The executor owns the tensors it holds and closes them after their last use.
 */
public sealed interface Value permits Value.TensorValue, Value.SequenceValue, Value.OptionalValue {

    /** A tensor; {@code type} is its logical ONNX type ({@code tensor.dtype() == type.storage()}). */
    record TensorValue(Tensor tensor, ElemType type) implements Value {
        public TensorValue {
            if (type.storage() != tensor.dtype())
                throw new IllegalArgumentException("ONNX " + type + " value stored as " + tensor.dtype()
                        + ", expected " + type.storage());
        }
    }

    /** A sequence of values ({@code elemType} is the element tensor type, for empty sequences). */
    record SequenceValue(List<Value> items, ElemType elemType) implements Value {}

    /** An optional: {@code value} is null when the optional is empty. */
    record OptionalValue(Value value) implements Value {}

    /** A tensor value with the natural ONNX type of its Kiln dtype. */
    static TensorValue of(Tensor t) { return new TensorValue(t, ElemType.of(t.dtype())); }

    static TensorValue of(Tensor t, ElemType type) { return new TensorValue(t, type); }

    /** This value as a tensor, or an error naming what it is instead. */
    default Tensor tensor() {
        if (this instanceof TensorValue tv) return tv.tensor();
        throw new IllegalArgumentException("expected a tensor, got a " + getClass().getSimpleName());
    }
}
