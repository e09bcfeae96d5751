package dev.kiln.pickle;

import dev.kiln.tensor.DType;

/**
 * The torch storage classes a persistent id may name ({@code torch.FloatStorage}, ...) with their
 * element size and the Kiln dtype their tensors load as. int16 and uint8 have no Kiln dtype: their
 * tensors are widened to int32 with a copy ({@link #widened()}).
 */
public enum StorageType {
    FLOAT("FloatStorage", DType.F32, 4, false),
    DOUBLE("DoubleStorage", DType.F64, 8, false),
    HALF("HalfStorage", DType.F16, 2, false),
    BFLOAT16("BFloat16Storage", DType.BF16, 2, false),
    LONG("LongStorage", DType.I64, 8, false),
    INT("IntStorage", DType.I32, 4, false),
    SHORT("ShortStorage", DType.I32, 2, true),
    CHAR("CharStorage", DType.I8, 1, false),
    BYTE("ByteStorage", DType.I32, 1, true),
    BOOL("BoolStorage", DType.BOOL, 1, false),
    /** torch.UntypedStorage: raw bytes, read as uint8. */
    UNTYPED("UntypedStorage", DType.I32, 1, true);

    private final String className;
    private final DType dtype;
    private final int elementSize;
    private final boolean widened;

    StorageType(String className, DType dtype, int elementSize, boolean widened) {
        this.className = className;
        this.dtype = dtype;
        this.elementSize = elementSize;
        this.widened = widened;
    }

    /** The class name in module torch, e.g. "FloatStorage". */
    public String className() { return className; }

    /** The Kiln dtype of tensors over this storage. */
    public DType dtype() { return dtype; }

    /** Bytes per element in the file. */
    public int elementSize() { return elementSize; }

    /** True when tensors are copied into a wider Kiln dtype (int16, uint8 -> int32). */
    public boolean widened() { return widened; }

    /** The type for a storage marker global, or null if Kiln cannot load it. */
    public static StorageType of(PyGlobal g) {
        if (!g.module().equals("torch") && !g.module().equals("torch.storage")) return null;
        for (StorageType t : values()) if (t.className.equals(g.name())) return t;
        return null;
    }

    /** Reads element i of raw storage bytes as a long (the widened types only). */
    long rawLong(java.lang.foreign.MemorySegment bytes, long i) {
        return switch (this) {
            case SHORT -> bytes.getAtIndex(dev.kiln.tensor.Storage.I16, i);
            case BYTE, UNTYPED -> bytes.get(java.lang.foreign.ValueLayout.JAVA_BYTE, i) & 0xff;
            default -> throw new IllegalStateException(this + " is not widened");
        };
    }
}
