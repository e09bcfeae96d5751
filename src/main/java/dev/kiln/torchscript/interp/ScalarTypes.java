package dev.kiln.torchscript.interp;

import dev.kiln.tensor.DType;

/** PyTorch's ScalarType codes (what ops.prim.dtype returns and dtype= arguments carry) to Kiln dtypes. */
final class ScalarTypes {
    private ScalarTypes() {}

    static long code(DType t) {
        return switch (t) {
            case I8 -> 1;
            case I32 -> 3;
            case I64 -> 4;
            case F16 -> 5;
            case F32 -> 6;
            case F64 -> 7;
            case BOOL -> 11;
            case BF16 -> 15;
        };
    }

    static DType dtype(long code) {
        return switch ((int) code) {
            case 0, 2, 3 -> DType.I32; // uint8 and int16 are held in int32
            case 1 -> DType.I8;
            case 4 -> DType.I64;
            case 5 -> DType.F16;
            case 6 -> DType.F32;
            case 7 -> DType.F64;
            case 11 -> DType.BOOL;
            case 15 -> DType.BF16;
            default -> throw new ScriptException("unsupported dtype code " + code);
        };
    }
}
