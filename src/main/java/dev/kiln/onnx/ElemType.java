package dev.kiln.onnx;

import dev.kiln.tensor.DType;

/**
 * ONNX tensor element types ({@code TensorProto.DataType}) and the Kiln dtype that stores each.
 * Types Kiln has no dtype for are stored widened and exactly: uint8/int16/uint16 in int32,
 * uint32/uint64 in int64 (uint64 as its two's-complement bit pattern). Ops that depend on the
 * logical type (Cast, QuantizeLinear saturation, bit shifts) read it from {@link Value.TensorValue#type()}.
 */
public enum ElemType {
    UNDEFINED(0, null), FLOAT(1, DType.F32), UINT8(2, DType.I32), INT8(3, DType.I8),
    UINT16(4, DType.I32), INT16(5, DType.I32), INT32(6, DType.I32), INT64(7, DType.I64),
    STRING(8, null), BOOL(9, DType.BOOL), FLOAT16(10, DType.F16), DOUBLE(11, DType.F64),
    UINT32(12, DType.I64), UINT64(13, DType.I64), COMPLEX64(14, null), COMPLEX128(15, null),
    BFLOAT16(16, DType.BF16);

    private final int code;
    private final DType storage;

    ElemType(int code, DType storage) {
        this.code = code;
        this.storage = storage;
    }

    /** The {@code TensorProto.DataType} number. */
    public int code() { return code; }

    /** The Kiln dtype that holds values of this type, or null when Kiln cannot hold them. */
    public DType storage() { return storage; }

    public boolean isFloat() {
        return this == FLOAT || this == DOUBLE || this == FLOAT16 || this == BFLOAT16;
    }

    public boolean isUnsigned() {
        return this == UINT8 || this == UINT16 || this == UINT32 || this == UINT64;
    }

    /** Smallest and largest representable value (integers; floats give +-infinity). */
    public double minValue() {
        return switch (this) {
            case UINT8, UINT16, UINT32, UINT64, BOOL -> 0;
            case INT8 -> Byte.MIN_VALUE;
            case INT16 -> Short.MIN_VALUE;
            case INT32 -> Integer.MIN_VALUE;
            case INT64 -> Long.MIN_VALUE;
            default -> Double.NEGATIVE_INFINITY;
        };
    }

    public double maxValue() {
        return switch (this) {
            case BOOL -> 1;
            case UINT8 -> 255;
            case INT8 -> Byte.MAX_VALUE;
            case UINT16 -> 65535;
            case INT16 -> Short.MAX_VALUE;
            case UINT32 -> 4294967295.0;
            case INT32 -> Integer.MAX_VALUE;
            case INT64 -> Long.MAX_VALUE;
            case UINT64 -> 18446744073709551615.0;
            default -> Double.POSITIVE_INFINITY;
        };
    }

    public static ElemType fromCode(int code) {
        for (ElemType t : values()) if (t.code == code) return t;
        throw new IllegalArgumentException("unknown ONNX tensor data type " + code);
    }

    /** The natural ONNX type of a Kiln dtype (I32 -> INT32, ...). */
    public static ElemType of(DType d) {
        return switch (d) {
            case F32 -> FLOAT;
            case F64 -> DOUBLE;
            case F16 -> FLOAT16;
            case BF16 -> BFLOAT16;
            case I8 -> INT8;
            case I32 -> INT32;
            case I64 -> INT64;
            case BOOL -> BOOL;
        };
    }
}
