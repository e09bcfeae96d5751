package dev.kiln.onnx;

import java.util.List;

/**
 * A graph input/output/value_info declaration. For tensors, {@code dims} holds one entry per axis:
 * a {@link Long} for a fixed size, a {@link String} for a symbolic one ("batch"), or null when
 * unknown; {@code dims} is null when the rank is unknown. For sequences/optionals, {@code elem}
 * describes the element type.
 */
public record ValueInfo(String name, Kind kind, ElemType elemType, List<Object> dims, ValueInfo elem) {
    public enum Kind { TENSOR, SEQUENCE, OPTIONAL, MAP, UNKNOWN }
}
