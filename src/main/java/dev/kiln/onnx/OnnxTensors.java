package dev.kiln.onnx;

import dev.kiln.backend.Backends;
import dev.kiln.io.KilnFormatException;
import dev.kiln.onnx.proto.LongList;
import dev.kiln.onnx.proto.ProtoReader;
import dev.kiln.onnx.proto.ProtoWriter;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Decodes {@code TensorProto}s into Kiln tensors: {@code raw_data}, the typed fields
 * ({@code float_data}, {@code int32_data}, ... packed or not) and external data files. The
 * declared element count times the element size is checked against the bytes actually present
 * before anything is allocated, so a corrupt header cannot request a huge allocation.
 * <p>
 * External data: the {@code location} must be a relative path that stays inside the model's
 * directory (absolute paths and {@code ..} escapes are refused); the file range is memory-mapped
 * and copied into the tensor. Also reads the test-data files of the ONNX backend tests
 * ({@code input_0.pb}: a TensorProto, SequenceProto or OptionalProto).
 * <p>
 * STRING tensors ({@code string_data}, UTF-8 bytes; malformed bytes become U+FFFD) decode to a
 * {@link Value.StringTensorValue} through {@link #decodeAny}; {@link #decode} is for numeric
 * tensors. {@link #encode} writes a value back as a TensorProto.
 */
public final class OnnxTensors {
    private OnnxTensors() {}

    // TensorProto field numbers
    private static final int DIMS = 1, DATA_TYPE = 2, SEGMENT = 3, FLOAT_DATA = 4, INT32_DATA = 5, STRING_DATA = 6,
            INT64_DATA = 7, NAME = 8, RAW_DATA = 9, DOUBLE_DATA = 10, UINT64_DATA = 11, EXTERNAL_DATA = 13,
            DATA_LOCATION = 14;

    /** The fields of one TensorProto, as read. */
    private static final class Fields {
        String name = "";
        final LongList dims = new LongList();
        int dataType;
        MemorySegment raw;
        final LongList floats = new LongList(), int32s = new LongList(), int64s = new LongList(),
                doubles = new LongList(), uint64s = new LongList();
        final List<byte[]> strings = new ArrayList<>();
        int location;
        final Map<String, String> external = new LinkedHashMap<>();
    }

    /** Reads a {@code .pb} file holding one serialized numeric TensorProto. */
    public static Value.TensorValue readTensorProto(Path file) throws IOException {
        return decode(ProtoReader.of(Files.readAllBytes(file), file.toString()), file.toAbsolutePath().getParent());
    }

    /**
     * Reads a {@code .pb} test-data file as the value kind {@code info} declares: a TensorProto for
     * tensors (or when {@code info} is null), a SequenceProto for sequences, an OptionalProto for
     * optionals.
     */
    public static Value readValue(Path file, ValueInfo info) throws IOException {
        ProtoReader r = ProtoReader.of(Files.readAllBytes(file), file.toString());
        Path dir = file.toAbsolutePath().getParent();
        if (info == null) return decodeAny(r, dir);
        return switch (info.kind()) {
            case SEQUENCE -> decodeSequence(r, dir, info.elem());
            case OPTIONAL -> decodeOptional(r, dir, info.elem());
            default -> decodeAny(r, dir);
        };
    }

    /**
     * Decodes the numeric TensorProto message of {@code r}; {@code baseDir} resolves external data
     * (may be null). A STRING tensor is an error here: use {@link #decodeAny}.
     */
    public static Value.TensorValue decode(ProtoReader r, Path baseDir) throws IOException {
        Value v = decodeAny(r, baseDir);
        if (v instanceof Value.TensorValue tv) return tv;
        throw new OnnxException(r.file() + ": a string tensor where a numeric tensor is needed");
    }

    /** Decodes a TensorProto: a {@link Value.TensorValue}, or a {@link Value.StringTensorValue} for STRING. */
    public static Value decodeAny(ProtoReader r, Path baseDir) throws IOException {
        Fields f = readFields(r);
        return build(f, r, baseDir);
    }

    private static Fields readFields(ProtoReader r) throws KilnFormatException {
        Fields f = new Fields();
        while (r.next()) {
            switch (r.field()) {
                case DIMS -> r.readVarints(f.dims);
                case DATA_TYPE -> f.dataType = r.readInt32();
                case NAME -> f.name = r.readString();
                case RAW_DATA -> f.raw = r.readBytesSegment();
                case FLOAT_DATA -> r.readFixed32s(f.floats);
                case INT32_DATA -> r.readVarints(f.int32s);
                case INT64_DATA -> r.readVarints(f.int64s);
                case DOUBLE_DATA -> r.readFixed64s(f.doubles);
                case UINT64_DATA -> r.readVarints(f.uint64s);
                case STRING_DATA -> f.strings.add(r.readBytes());
                case DATA_LOCATION -> f.location = r.readInt32();
                case EXTERNAL_DATA -> readEntry(r.readMessage("external_data"), f.external);
                case SEGMENT -> throw r.error("tensor '" + f.name + "': segmented tensors are not supported");
                default -> r.skip();
            }
        }
        return f;
    }

    private static void readEntry(ProtoReader r, Map<String, String> out) throws KilnFormatException {
        String key = "", value = "";
        while (r.next()) {
            if (r.field() == 1) key = r.readString();
            else if (r.field() == 2) value = r.readString();
            else r.skip();
        }
        out.put(key, value);
    }

    private static Value build(Fields f, ProtoReader r, Path baseDir) throws IOException {
        String what = "tensor '" + f.name + "'";
        ElemType type;
        try {
            type = ElemType.fromCode(f.dataType);
        } catch (IllegalArgumentException e) {
            throw r.error(what + ": unknown data type " + f.dataType);
        }
        if (type == ElemType.STRING) return strings(f, r, what);
        if (type.storage() == null)
            throw new OnnxException(r.file() + ": " + ProtoReader.printable(what, 400) + ": " + type + " tensors are not supported");
        int[] shape = shape(f, r, what);
        long count = 1;
        for (int d : shape) count *= d; // each dim < 2^31 and the product checked in shape()
        if (f.location == 1) return fromRaw(external(f, r, baseDir, what, count * rawSize(type)), type, shape);
        if (f.raw != null) {
            long expect = count * rawSize(type);
            if (f.raw.byteSize() != expect)
                throw r.error(what + ": shape " + java.util.Arrays.toString(shape) + " of " + type + " needs " + expect
                        + " bytes of raw_data, found " + f.raw.byteSize());
            return fromRaw(f.raw, type, shape);
        }
        return fromTyped(f, r, type, shape, count, what);
    }

    /** A STRING tensor from {@code string_data} (raw_data and external data cannot hold strings). */
    private static Value.StringTensorValue strings(Fields f, ProtoReader r, String what) throws KilnFormatException {
        if (f.raw != null || f.location == 1)
            throw r.error(what + ": string tensors must use string_data, not raw_data or external data");
        int[] shape = shape(f, r, what);
        long count = 1;
        for (int d : shape) count *= d;
        if (count != f.strings.size())
            throw r.error(what + ": shape " + java.util.Arrays.toString(shape) + " needs " + count
                    + " strings, found " + f.strings.size());
        String[] data = new String[f.strings.size()];
        for (int i = 0; i < data.length; i++) data[i] = new String(f.strings.get(i), StandardCharsets.UTF_8);
        return new Value.StringTensorValue(data, shape);
    }

    private static int[] shape(Fields f, ProtoReader r, String what) throws KilnFormatException {
        int[] shape = new int[f.dims.size()];
        long count = 1;
        for (int i = 0; i < shape.length; i++) {
            long d = f.dims.get(i);
            if (d < 0 || d > Integer.MAX_VALUE) throw r.error(what + ": invalid dim " + d + " at axis " + i);
            shape[i] = (int) d;
            try {
                count = Math.multiplyExact(count, d);
            } catch (ArithmeticException e) {
                throw r.error(what + ": element count overflows 64 bits");
            }
        }
        if (count > (1L << 50)) throw r.error(what + ": declares " + count + " elements, more than Kiln can hold");
        return shape;
    }

    /** Bytes per element in raw_data / external data (the ONNX encoding, not Kiln's storage). */
    public static int rawSize(ElemType t) {
        return switch (t) {
            case UINT8, INT8, BOOL -> 1;
            case UINT16, INT16, FLOAT16, BFLOAT16 -> 2;
            case FLOAT, INT32, UINT32 -> 4;
            case INT64, UINT64, DOUBLE -> 8;
            default -> throw new OnnxException(t + " tensors are not supported");
        };
    }

    /** Tensors at least this large are used in place from a read-only file mapping instead of copied. */
    static final long MAP_IN_PLACE_BYTES = 64 << 10;

    /**
     * A tensor from little-endian bytes in ONNX encoding (widening uint8/int16/uint16/uint32). A
     * large tensor in a read-only file mapping whose encoding is Kiln's storage (float, double,
     * int64/32/8, float16, bfloat16) is not copied: it stays in the mapping (read-only, paged in on
     * use, unmapped once no tensor refers to it).
     */
    public static Value.TensorValue fromRaw(MemorySegment src, ElemType type, int[] shape) {
        long bytes = src.byteSize();
        if (bytes >= MAP_IN_PLACE_BYTES && src.isNative() && src.isReadOnly() && sameEncoding(type)) {
            long[] strides = dev.kiln.tensor.Shape.contiguousStrides(shape);
            return Value.of(Tensor.of(Storage.wrap(Backends.cpu(), src), type.storage(), shape, strides, 0), type);
        }
        Tensor t = Tensor.empty(Backends.cpu(), type.storage(), shape);
        t.storage().seal();     // a model constant: nothing writes it, so kernels may keep derived copies (packed weights)
        long n = t.numel();
        if (n == 0) return Value.of(t, type);
        MemorySegment dst = t.segment();   // filled once, here, before anything can derive from it
        switch (type) {
            case UINT8 -> { for (long i = 0; i < n; i++) dst.setAtIndex(Storage.I32, i, src.get(ValueLayout.JAVA_BYTE, i) & 0xff); }
            case INT16 -> { for (long i = 0; i < n; i++) dst.setAtIndex(Storage.I32, i, src.getAtIndex(Storage.I16, i)); }
            case UINT16 -> { for (long i = 0; i < n; i++) dst.setAtIndex(Storage.I32, i, src.getAtIndex(Storage.I16, i) & 0xffff); }
            case UINT32 -> { for (long i = 0; i < n; i++) dst.setAtIndex(Storage.I64, i, src.getAtIndex(Storage.I32, i) & 0xffffffffL); }
            case BOOL -> { for (long i = 0; i < n; i++) dst.set(ValueLayout.JAVA_BYTE, i, (byte) (src.get(ValueLayout.JAVA_BYTE, i) != 0 ? 1 : 0)); }
            default -> MemorySegment.copy(src, 0, dst, 0, n * rawSize(type));
        }
        return Value.of(t, type);
    }

    private static boolean sameEncoding(ElemType t) {
        return switch (t) {
            case FLOAT, DOUBLE, INT64, INT32, INT8, FLOAT16, BFLOAT16 -> true;
            default -> false;
        };
    }

    private static Value.TensorValue fromTyped(Fields f, ProtoReader r, ElemType type, int[] shape, long count, String what)
            throws KilnFormatException {
        LongList src = switch (type) {
            case FLOAT -> f.floats;
            case INT64 -> f.int64s;
            case DOUBLE -> f.doubles;
            case UINT32, UINT64 -> f.uint64s;
            default -> f.int32s; // int32, int16/uint16, int8/uint8, bool, float16/bfloat16 bits
        };
        if (src.size() != count)
            throw r.error(what + ": shape " + java.util.Arrays.toString(shape) + " needs " + count + " " + type
                    + " values, found " + src.size() + (f.strings.isEmpty() ? "" : " (it holds string_data)"));
        Tensor t = Tensor.empty(Backends.cpu(), type.storage(), shape);
        if (count == 0) return Value.of(t, type);
        MemorySegment dst = t.segment();
        for (int i = 0; i < count; i++) {
            long v = src.get(i);
            switch (type) {
                case FLOAT -> dst.setAtIndex(Storage.I32, i, (int) v); // float bits
                case DOUBLE, INT64, UINT64 -> dst.setAtIndex(Storage.I64, i, v);
                case UINT32 -> dst.setAtIndex(Storage.I64, i, v & 0xffffffffL);
                case FLOAT16, BFLOAT16 -> dst.setAtIndex(Storage.I16, i, (short) v);
                case INT8 -> dst.set(ValueLayout.JAVA_BYTE, i, (byte) v);
                case BOOL -> dst.set(ValueLayout.JAVA_BYTE, i, (byte) (v != 0 ? 1 : 0));
                case UINT8 -> dst.setAtIndex(Storage.I32, i, (int) (v & 0xff));
                case UINT16 -> dst.setAtIndex(Storage.I32, i, (int) (v & 0xffff));
                case INT16 -> dst.setAtIndex(Storage.I32, i, (short) v);
                default -> dst.setAtIndex(Storage.I32, i, (int) v);
            }
        }
        return Value.of(t, type);
    }

    // ------------------------------------------------------------------ writing

    /**
     * Encodes a tensor value as a serialized TensorProto named {@code name}: numeric tensors as
     * {@code raw_data} in ONNX encoding (widened types narrowed back), string tensors as
     * {@code string_data} (UTF-8).
     */
    public static byte[] encode(Value v, String name) {
        ProtoWriter w = new ProtoWriter();
        switch (v) {
            case Value.StringTensorValue st -> {
                for (int d : st.shape()) w.int64(DIMS, d);
                w.int64(DATA_TYPE, ElemType.STRING.code());
                for (String x : st.data()) w.bytes(STRING_DATA, x.getBytes(StandardCharsets.UTF_8));
                w.string(NAME, name);
            }
            case Value.TensorValue tv -> {
                for (int d : tv.tensor().shape()) w.int64(DIMS, d);
                w.int64(DATA_TYPE, tv.type().code());
                w.string(NAME, name);
                w.bytes(RAW_DATA, rawBytes(tv));
            }
            default -> throw new OnnxException("only tensors encode as a TensorProto, got " + Values.describe(v));
        }
        return w.toByteArray();
    }

    /** Little-endian bytes of {@code tv} in ONNX encoding (the inverse of {@link #fromRaw}). */
    private static byte[] rawBytes(Value.TensorValue tv) {
        ElemType type = tv.type();
        Tensor t = tv.tensor();
        long bytes = t.numel() * rawSize(type);
        if (bytes > Integer.MAX_VALUE - 16) throw new OnnxException("tensor too large to encode: " + bytes + " bytes");
        byte[] out = new byte[(int) bytes];
        MemorySegment dst = MemorySegment.ofArray(out);
        switch (type) {
            case UINT8, INT16, UINT16, UINT32 -> {
                long[] v = t.toLongArray();
                for (int i = 0; i < v.length; i++) {
                    switch (rawSize(type)) {
                        case 1 -> dst.set(ValueLayout.JAVA_BYTE, i, (byte) v[i]);
                        case 2 -> dst.setAtIndex(Storage.I16, i, (short) v[i]);
                        default -> dst.setAtIndex(Storage.I32, i, (int) v[i]);
                    }
                }
            }
            default -> {
                Tensor h = t.backend().isHost() ? t.contiguous() : t.to(Backends.cpu());
                try {
                    int es = type.storage().byteSize();
                    MemorySegment.copy(h.segment(), h.offset() * es, dst, 0, bytes);
                } finally {
                    if (h != t) h.close();
                }
            }
        }
        return out;
    }

    // ------------------------------------------------------------------ external data

    /** The mapped file range (unmapped by the GC once no tensor refers to it). */
    private static MemorySegment external(Fields f, ProtoReader r, Path baseDir, String what, long expect)
            throws IOException {
        String loc = f.external.get("location");
        if (loc == null || loc.isEmpty()) throw r.error(what + ": external data without a location");
        Path file = resolveExternal(r, baseDir, loc, what);
        long offset = parseLong(r, f.external.getOrDefault("offset", "0"), what, "offset");
        long size = Files.size(file);
        long length = f.external.containsKey("length") ? parseLong(r, f.external.get("length"), what, "length") : expect;
        if (offset < 0 || length < 0 || offset > size || length > size - offset)
            throw r.error(what + ": external range offset " + offset + " length " + length + " lies outside "
                    + loc + " (" + size + " bytes)");
        if (length != expect)
            throw r.error(what + ": external data holds " + length + " bytes, its shape and type need " + expect);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            return length == 0 ? MemorySegment.NULL : ch.map(FileChannel.MapMode.READ_ONLY, offset, length, Arena.ofAuto());
        }
    }

    /** The external file for {@code loc}: relative, inside {@code baseDir} (also after resolving links). */
    static Path resolveExternal(ProtoReader r, Path baseDir, String loc, String what) throws IOException {
        if (baseDir == null) throw r.error(what + ": external data '" + loc + "' needs the model's directory");
        Path rel;
        try {
            rel = Path.of(loc);
        } catch (java.nio.file.InvalidPathException e) {
            throw r.error(what + ": invalid external data location '" + loc + "'");
        }
        if (rel.isAbsolute() || loc.startsWith("/") || loc.startsWith("\\"))
            throw r.error(what + ": external data location '" + loc + "' is absolute; only paths relative to the model are allowed");
        Path base = baseDir.toAbsolutePath().normalize();
        Path file = base.resolve(rel).normalize();
        if (!file.startsWith(base) || file.equals(base))
            throw r.error(what + ": external data location '" + loc + "' escapes the model's directory");
        if (!Files.isRegularFile(file)) throw r.error(what + ": external data file '" + loc + "' not found");
        if (!file.toRealPath().startsWith(base.toRealPath()))
            throw r.error(what + ": external data location '" + loc + "' links outside the model's directory");
        return file;
    }

    private static long parseLong(ProtoReader r, String s, String what, String key) throws KilnFormatException {
        try {
            return Long.parseLong(s.trim());
        } catch (NumberFormatException e) {
            throw r.error(what + ": external data " + key + " '" + s + "' is not a number");
        }
    }

    // ------------------------------------------------------------------ sequences and optionals

    /** A SequenceProto (elem_type 2, tensor_values 3, sequence_values 5, optional_values 7). */
    public static Value.SequenceValue decodeSequence(ProtoReader r, Path dir, ValueInfo elem) throws IOException {
        List<Value> items = new ArrayList<>();
        while (r.next()) {
            switch (r.field()) {
                case 3 -> items.add(decodeAny(r.readMessage("tensor_values[" + items.size() + "]"), dir));
                case 5 -> items.add(decodeSequence(r.readMessage("sequence_values[" + items.size() + "]"), dir,
                        elem == null ? null : elem.elem()));
                case 7 -> items.add(decodeOptional(r.readMessage("optional_values[" + items.size() + "]"), dir,
                        elem == null ? null : elem.elem()));
                case 4, 6 -> throw r.error("sparse tensor and map sequence elements are not supported");
                default -> r.skip();
            }
        }
        ElemType t = elem != null && elem.elemType() != null ? elem.elemType() : ElemType.UNDEFINED;
        if (!items.isEmpty() && items.getFirst() instanceof Value.TensorValue tv) t = tv.type();
        if (!items.isEmpty() && items.getFirst() instanceof Value.StringTensorValue) t = ElemType.STRING;
        return new Value.SequenceValue(items, t);
    }

    /** An OptionalProto (tensor_value 3, sequence_value 5, optional_value 7); empty when none is set. */
    public static Value.OptionalValue decodeOptional(ProtoReader r, Path dir, ValueInfo elem) throws IOException {
        Value v = null;
        while (r.next()) {
            switch (r.field()) {
                case 3 -> v = decodeAny(r.readMessage("tensor_value"), dir);
                case 5 -> v = decodeSequence(r.readMessage("sequence_value"), dir, elem == null ? null : elem.elem());
                case 7 -> v = decodeOptional(r.readMessage("optional_value"), dir, elem == null ? null : elem.elem());
                case 4, 6 -> throw r.error("sparse tensor and map optionals are not supported");
                default -> r.skip();
            }
        }
        return new Value.OptionalValue(v);
    }
}
