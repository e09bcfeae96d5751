package dev.kiln.savedmodel;

import dev.kiln.io.KilnFormatException;
import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.OnnxTensors;
import dev.kiln.onnx.Value;
import dev.kiln.onnx.proto.LongList;
import dev.kiln.onnx.proto.ProtoReader;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * TensorFlow's {@code DataType} numbers (types.proto) and {@code TensorProto} decoding
 * (tensor.proto): {@code tensor_content} (raw little-endian bytes) or the typed repeated fields,
 * where fewer values than elements means "repeat the last one" (how TensorFlow writes a filled
 * constant). Tensors of up to {@link #MAX_ELEMENTS} elements.
 */
public final class TfTensors {
    public static final int DT_FLOAT = 1, DT_DOUBLE = 2, DT_INT32 = 3, DT_UINT8 = 4, DT_INT16 = 5, DT_INT8 = 6,
            DT_STRING = 7, DT_INT64 = 9, DT_BOOL = 10, DT_BFLOAT16 = 14, DT_UINT16 = 17, DT_HALF = 19,
            DT_RESOURCE = 20, DT_UINT32 = 22, DT_UINT64 = 23;
    /** Largest tensor decoded from a protobuf or a checkpoint (elements). */
    static final long MAX_ELEMENTS = 1L << 34;

    private TfTensors() {}

    /** The ONNX element type Kiln stores a TF dtype as; null for types Kiln cannot hold (strings, resources, complex). */
    public static ElemType elemType(int dtype) {
        return switch (dtype > 100 ? dtype - 100 : dtype) {   // _REF types are the plain type + 100
            case DT_FLOAT -> ElemType.FLOAT;
            case DT_DOUBLE -> ElemType.DOUBLE;
            case DT_INT32 -> ElemType.INT32;
            case DT_UINT8 -> ElemType.UINT8;
            case DT_INT16 -> ElemType.INT16;
            case DT_INT8 -> ElemType.INT8;
            case DT_INT64 -> ElemType.INT64;
            case DT_BOOL -> ElemType.BOOL;
            case DT_BFLOAT16 -> ElemType.BFLOAT16;
            case DT_UINT16 -> ElemType.UINT16;
            case DT_HALF -> ElemType.FLOAT16;
            case DT_UINT32 -> ElemType.UINT32;
            case DT_UINT64 -> ElemType.UINT64;
            default -> null;
        };
    }

    /** "DT_FLOAT", ... for messages. */
    public static String name(int dtype) {
        return switch (dtype) {
            case DT_STRING -> "DT_STRING";
            case DT_RESOURCE -> "DT_RESOURCE";
            case 21 -> "DT_VARIANT";
            case 8 -> "DT_COMPLEX64";
            case 18 -> "DT_COMPLEX128";
            default -> {
                ElemType t = elemType(dtype);
                yield t == null ? "DataType " + dtype : "DT_" + (t == ElemType.FLOAT16 ? "HALF" : t.name());
            }
        };
    }

    /** Elements of a shape, checked against {@link #MAX_ELEMENTS}; the shape as ints. */
    static int[] checkedShape(long[] dims, String what) throws KilnFormatException {
        if (dims == null) throw new KilnFormatException(what + ": tensor of unknown rank");
        int[] s = new int[dims.length];
        long n = 1;
        for (int i = 0; i < dims.length; i++) {
            if (dims[i] < 0 || dims[i] > Integer.MAX_VALUE) throw new KilnFormatException(what + ": bad dimension " + dims[i]);
            s[i] = (int) dims[i];
            n = Math.multiplyExact(n, Math.max(dims[i], 1));
            if (n > MAX_ELEMENTS) throw new KilnFormatException(what + ": tensor of more than " + MAX_ELEMENTS + " elements");
        }
        return s;
    }

    /** Decodes a {@code TensorProto}; {@code r} is left untouched (a copy is read). */
    public static Value.TensorValue decode(ProtoReader tensorProto, String what) throws KilnFormatException {
        ProtoReader r = tensorProto.copy();
        int dtype = 0;
        long[] dims = new long[0];
        MemorySegment content = null;
        LongList ints = new LongList(), f32 = new LongList(), f64 = new LongList();
        int strings = 0;
        while (r.next()) {
            switch (r.field()) {
                case 1 -> dtype = r.readInt32();
                case 2 -> dims = TfProtoReader.shape(r.readMessage("tensor_shape"));
                case 4 -> content = r.readBytesSegment();
                case 5 -> r.readFixed32s(f32);
                case 6 -> r.readFixed64s(f64);
                case 7, 10, 11, 13, 16, 17 -> r.readVarints(ints);
                case 8 -> { strings++; r.skip(); }
                default -> r.skip();
            }
        }
        ElemType type = elemType(dtype);
        if (type == null || strings > 0)
            throw new KilnFormatException(what + ": " + name(dtype) + " constants are not supported");
        int[] shape = checkedShape(dims, what);
        long n = 1;
        for (int d : shape) n *= d;
        int size = OnnxTensors.rawSize(type);
        if (content != null) {
            if (content.byteSize() != n * size)
                throw new KilnFormatException(what + ": tensor_content holds " + content.byteSize() + " bytes, shape "
                        + java.util.Arrays.toString(shape) + " of " + name(dtype) + " needs " + n * size);
            return OnnxTensors.fromRaw(content, type, shape);
        }
        LongList vals = type == ElemType.FLOAT ? f32 : type == ElemType.DOUBLE ? f64 : ints;
        if (vals.size() > n) throw new KilnFormatException(what + ": " + vals.size() + " values for " + n + " elements");
        if (n * size > Integer.MAX_VALUE - 16)
            throw new KilnFormatException(what + ": a constant of " + n + " elements written value by value");
        ByteBuffer b = ByteBuffer.allocate((int) (n * size)).order(ByteOrder.LITTLE_ENDIAN);
        for (long k = 0; k < n; k++) {
            long v = vals.size() == 0 ? 0 : vals.get((int) Math.min(k, vals.size() - 1));
            switch (size) {
                case 1 -> b.put((byte) v);
                case 2 -> b.putShort((short) v);
                case 4 -> b.putInt((int) v);
                default -> b.putLong(v);
            }
        }
        return OnnxTensors.fromRaw(MemorySegment.ofArray(b.array()), type, shape);
    }

    /** Reads an int or int64 constant's values (shapes, axes, perms) as longs. */
    static long[] longs(Value.TensorValue v) {
        if (v.tensor().dtype().isFloating()) throw new IllegalArgumentException("expected an integer tensor, got " + v.type());
        return v.tensor().toLongArray();
    }
}
