package dev.kiln.tensor;

/** Element types. Sizes are in bytes; all storage is little-endian (native on x86-64 and aarch64). */
public enum DType {
    F32(4, true, "float32"),
    F64(8, true, "float64"),
    BF16(2, true, "bfloat16"),
    F16(2, true, "float16"),
    I8(1, false, "int8"),
    I32(4, false, "int32"),
    I64(8, false, "int64"),
    BOOL(1, false, "bool");

    private final int byteSize;
    private final boolean floating;
    private final String pyName;

    DType(int byteSize, boolean floating, String pyName) {
        this.byteSize = byteSize;
        this.floating = floating;
        this.pyName = pyName;
    }

    public int byteSize() { return byteSize; }
    public boolean isFloating() { return floating; }
    /** The NumPy / PyTorch name of this type, e.g. "float32". */
    public String pyName() { return pyName; }

    /** Type promotion for binary ops, following PyTorch's category rules (bool, then int, then float). */
    public static DType promote(DType a, DType b) {
        if (a == b) return a;
        if (a.floating || b.floating) {
            if (!a.floating) return b;
            if (!b.floating) return a;
            if (a == F64 || b == F64) return F64;
            if (a == F32 || b == F32) return F32;
            return F32; // bf16 with f16 -> f32, as PyTorch does
        }
        if (a == BOOL) return b;
        if (b == BOOL) return a;
        return a.byteSize >= b.byteSize ? a : b;
    }

    /** bf16 bits to float (bf16 is the upper half of an IEEE float). */
    public static float bf16ToFloat(short bits) { return Float.intBitsToFloat((bits & 0xffff) << 16); }

    /** float to bf16 bits with round-to-nearest-even; NaN stays NaN. */
    public static short floatToBf16(float f) {
        int x = Float.floatToRawIntBits(f);
        if ((x & 0x7fffffff) > 0x7f800000) return (short) ((x >>> 16) | 0x40);
        int rounding = 0x7fff + ((x >>> 16) & 1);
        return (short) ((x + rounding) >>> 16);
    }
}
