package dev.kiln.onnx;

import dev.kiln.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.UnaryOperator;

/**
 * Helpers over {@link Value}s: visiting the tensors a value holds (sequences and optionals
 * included; string tensors hold none), closing them, and aliasing (a new {@link Tensor} object over the same storage, so
 * that closing the alias never closes the original).
 */
public final class Values {
    private Values() {}

    /** Calls {@code f} on every tensor {@code v} holds (null-safe). */
    public static void forEachTensor(Value v, Consumer<Tensor> f) {
        switch (v) {
            case null -> { }
            case Value.TensorValue tv -> f.accept(tv.tensor());
            case Value.StringTensorValue ignored -> { } // heap data, no Kiln tensor
            case Value.SequenceValue sv -> { for (Value item : sv.items()) forEachTensor(item, f); }
            case Value.OptionalValue ov -> forEachTensor(ov.value(), f);
        }
    }

    /** Closes every tensor {@code v} holds. */
    public static void close(Value v) { forEachTensor(v, Tensor::close); }

    /** A copy of {@code v} with every tensor replaced by {@code f(tensor)}. */
    public static Value map(Value v, UnaryOperator<Tensor> f) {
        return switch (v) {
            case null -> null;
            case Value.TensorValue tv -> Value.of(f.apply(tv.tensor()), tv.type());
            case Value.StringTensorValue st -> st; // immutable by convention, shared as is
            case Value.SequenceValue sv -> {
                List<Value> items = new ArrayList<>(sv.items().size());
                for (Value item : sv.items()) items.add(map(item, f));
                yield new Value.SequenceValue(items, sv.elemType());
            }
            case Value.OptionalValue ov -> new Value.OptionalValue(map(ov.value(), f));
        };
    }

    /** A new tensor object sharing {@code t}'s storage and layout (closing it leaves {@code t} alive). */
    public static Tensor alias(Tensor t) {
        return Tensor.of(t.storage(), t.dtype(), t.shape(), t.strides(), t.offset());
    }

    /** A short description for messages: "float32 tensor [2, 3]", "sequence of 4", "empty optional". */
    public static String describe(Value v) {
        return switch (v) {
            case null -> "nothing";
            case Value.TensorValue tv -> tv.type().name().toLowerCase() + " tensor " + java.util.Arrays.toString(tv.tensor().shape());
            case Value.StringTensorValue st -> "string tensor " + java.util.Arrays.toString(st.shape());
            case Value.SequenceValue sv -> "sequence of " + sv.items().size();
            case Value.OptionalValue ov -> ov.value() == null ? "empty optional" : "optional of " + describe(ov.value());
        };
    }
}
