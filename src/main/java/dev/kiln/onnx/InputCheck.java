package dev.kiln.onnx;

import java.util.Arrays;
import java.util.List;

/**
 * Checks a model input against its declaration: kind (tensor/sequence/optional), element type,
 * rank and fixed dims. Symbolic or unknown dims ("batch") accept any size.
 */
final class InputCheck {
    private InputCheck() {}

    static void check(ValueInfo decl, Value v) {
        String name = "input '" + decl.name() + "'";
        switch (decl.kind()) {
            case TENSOR -> checkTensor(decl, v, name);
            case SEQUENCE -> {
                if (!(v instanceof Value.SequenceValue))
                    throw new OnnxException(name + " must be a sequence, got " + Values.describe(v));
            }
            case OPTIONAL -> {
                if (!(v instanceof Value.OptionalValue))
                    throw new OnnxException(name + " must be an optional, got " + Values.describe(v));
            }
            default -> { }
        }
    }

    private static void checkTensor(ValueInfo decl, Value v, String name) {
        ElemType type;
        int[] shape;
        if (v instanceof Value.TensorValue tv) {
            type = tv.type();
            shape = tv.tensor().shape();
        } else if (v instanceof Value.StringTensorValue st) {
            type = ElemType.STRING;
            shape = st.shape();
        } else {
            throw new OnnxException(name + " must be a tensor (" + describe(decl) + "), got " + Values.describe(v));
        }
        if (decl.elemType() != null && decl.elemType() != ElemType.UNDEFINED && decl.elemType() != type)
            throw new OnnxException(name + " must be " + decl.elemType() + ", got " + type);
        List<Object> dims = decl.dims();
        if (dims == null) return;
        if (shape.length != dims.size())
            throw new OnnxException(name + " must have rank " + dims.size() + " " + dimsText(dims) + ", got shape "
                    + Arrays.toString(shape));
        for (int i = 0; i < shape.length; i++) {
            if (dims.get(i) instanceof Long d && d >= 0 && d != shape[i])
                throw new OnnxException(name + " must have size " + d + " at axis " + i + " " + dimsText(dims)
                        + ", got shape " + Arrays.toString(shape));
        }
    }

    /** "FLOAT [batch, 3, 224, 224]", "sequence of FLOAT", ... */
    static String describe(ValueInfo d) {
        return switch (d.kind()) {
            case TENSOR -> d.elemType() + (d.dims() == null ? " (any shape)" : " " + dimsText(d.dims()));
            case SEQUENCE -> "sequence of " + (d.elem() == null ? "?" : describe(d.elem()));
            case OPTIONAL -> "optional " + (d.elem() == null ? "?" : describe(d.elem()));
            case MAP -> "map";
            case UNKNOWN -> "unknown type";
        };
    }

    static String dimsText(List<Object> dims) {
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < dims.size(); i++) {
            if (i > 0) sb.append(", ");
            Object d = dims.get(i);
            sb.append(d == null ? "?" : d);
        }
        return sb.append(']').toString();
    }
}
