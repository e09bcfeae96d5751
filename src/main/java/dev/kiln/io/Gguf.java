package dev.kiln.io;

import dev.kiln.backend.Backends;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A GGUF file (llama.cpp's format, version 2 or 3), memory-mapped read-only and parsed with
 * bounds: the metadata (integers as Long, floats as Double, booleans, strings, arrays as lists),
 * the tensor infos, and each tensor's bytes as a slice of the mapping. F32 tensors are used in
 * place; F16 and BF16 are converted to float; Q8_0 and Q4_0 blocks are handed out raw (see
 * {@link #blocks}). Every count, length and offset is checked against the file before it is used:
 * a truncated or inconsistent file is a one-line {@link KilnFormatException} naming the file and
 * what is wrong. Nothing in the file is executed.
 */
public final class Gguf implements AutoCloseable {
    public static final int F32 = 0, F16 = 1, Q4_0 = 2, Q8_0 = 8, BF16 = 30;
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final long MAX_COUNT = 1 << 24, MAX_STRING = 1 << 26;

    /** A tensor's name, dims (ne[0] first: the fastest-varying), ggml type and byte range in the file. */
    public record TensorInfo(String name, long[] dims, int type, long offset, long bytes) {
        /** The dims in row-major order (ne reversed), e.g. [out, in] for a linear weight. */
        public int[] shape() {
            int[] s = new int[dims.length];
            for (int i = 0; i < dims.length; i++) s[i] = (int) dims[dims.length - 1 - i];
            return s;
        }

        public long elements() {
            long n = 1;
            for (long d : dims) n *= d;
            return n;
        }
    }

    private final Path file;
    private final Arena arena;
    private final MemorySegment all;
    private final Map<String, Object> metadata;
    private final Map<String, TensorInfo> tensors;

    private Gguf(Path file, Arena arena, MemorySegment all, Map<String, Object> metadata, Map<String, TensorInfo> tensors) {
        this.file = file;
        this.arena = arena;
        this.all = all;
        this.metadata = metadata;
        this.tensors = tensors;
    }

    /** Maps and parses a GGUF file. */
    public static Gguf open(Path file) throws IOException {
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            MemorySegment all = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
            Cursor c = new Cursor(file, all);
            if (all.byteSize() < 24 || c.u32() != 0x46554747) throw new KilnFormatException(file + ": not a GGUF file (no GGUF magic)");
            int version = c.u32();
            if (version != 2 && version != 3) throw new KilnFormatException(file + ": GGUF version " + version + " (Kiln reads 2 and 3)");
            long nTensors = c.count("tensor count"), nMeta = c.count("metadata count");
            Map<String, Object> meta = new LinkedHashMap<>();
            for (long i = 0; i < nMeta; i++) {
                String key = c.name("metadata key");
                meta.put(key, c.value(c.u32(), key));
            }
            long alignment = meta.get("general.alignment") instanceof Long a ? a : 32;
            if (alignment <= 0 || alignment > 1 << 20 || Long.bitCount(alignment) != 1)
                throw new KilnFormatException(file + ": general.alignment " + alignment + " is not a power of two");
            List<String> names = new ArrayList<>();
            List<long[]> dims = new ArrayList<>();
            List<long[]> typeOffset = new ArrayList<>();
            for (long i = 0; i < nTensors; i++) {
                String name = c.name("tensor name");
                int nd = c.u32();
                if (nd < 1 || nd > 4) throw new KilnFormatException(file + ": tensor " + name + " has " + nd + " dims (1..4)");
                long[] d = new long[nd];
                for (int k = 0; k < nd; k++) {
                    d[k] = c.u64();
                    if (d[k] < 1 || d[k] > Integer.MAX_VALUE) throw new KilnFormatException(file + ": tensor " + name + " has dim " + d[k]);
                }
                names.add(name);
                dims.add(d);
                typeOffset.add(new long[] {c.u32(), c.u64()});
            }
            long dataStart = (c.pos + alignment - 1) / alignment * alignment;
            Map<String, TensorInfo> infos = new LinkedHashMap<>();
            for (int i = 0; i < names.size(); i++) {
                long[] d = dims.get(i);
                int type = (int) typeOffset.get(i)[0];
                long elements = 1;
                for (long x : d) {
                    elements = Math.multiplyExact(elements, x);
                    if (elements > 1L << 40) throw new KilnFormatException(file + ": tensor " + names.get(i) + " is too large");
                }
                long bytes = switch (type) {
                    case F32 -> elements * 4;
                    case F16, BF16 -> elements * 2;
                    case Q8_0, Q4_0 -> {
                        if (d[0] % 32 != 0) throw new KilnFormatException(file + ": tensor " + names.get(i) + " (type " + type + ") has ne[0] " + d[0] + ", not a multiple of 32");
                        yield elements / 32 * (type == Q8_0 ? 34 : 18);
                    }
                    default -> throw new KilnFormatException(file + ": tensor " + names.get(i) + " has ggml type " + type
                            + " (Kiln reads F32, F16, BF16, Q8_0 and Q4_0)");
                };
                long off = typeOffset.get(i)[1];
                if (off < 0 || off % alignment != 0 || dataStart + off + bytes > all.byteSize() || dataStart + off + bytes < 0)
                    throw new KilnFormatException(file + ": tensor " + names.get(i) + " at data offset " + off + " (" + bytes
                            + " bytes) is misaligned or runs past the end of the file (" + all.byteSize() + " bytes)");
                if (infos.put(names.get(i), new TensorInfo(names.get(i), d, type, dataStart + off, bytes)) != null)
                    throw new KilnFormatException(file + ": tensor " + names.get(i) + " appears twice");
            }
            return new Gguf(file, arena, all, meta, infos);
        } catch (KilnFormatException e) {
            arena.close();
            throw e;
        } catch (IOException | RuntimeException e) {
            arena.close();
            throw new KilnFormatException(file + ": " + (e.getMessage() == null ? e.toString() : e.getMessage()), e);
        }
    }

    public Path file() { return file; }

    public Map<String, Object> metadata() { return metadata; }

    public Map<String, TensorInfo> tensors() { return tensors; }

    /** The tensor info, or a one-line error naming the file and the tensor. */
    public TensorInfo info(String name) throws KilnFormatException {
        TensorInfo t = tensors.get(name);
        if (t == null) throw new KilnFormatException(file + ": no tensor " + name);
        return t;
    }

    /** The raw bytes of a tensor (a read-only slice of the mapping): Q8_0 / Q4_0 blocks. */
    public MemorySegment blocks(TensorInfo t) { return all.asSlice(t.offset(), t.bytes()); }

    /**
     * The tensor as float32, shape {@link TensorInfo#shape()}: F32 as a read-only view of the
     * mapping, F16 / BF16 / Q8_0 / Q4_0 converted into a new tensor.
     */
    public Tensor f32(TensorInfo t) {
        int[] shape = t.shape();
        if (t.type() == F32) {
            Storage st = Storage.wrap(Backends.cpu(), all.asSlice(t.offset(), t.bytes()));
            return Scope.escape(Tensor.of(st, DType.F32, shape, Shape.contiguousStrides(shape), 0));
        }
        float[] v = new float[Math.toIntExact(t.elements())];
        MemorySegment s = blocks(t);
        switch (t.type()) {
            case F16 -> { for (int i = 0; i < v.length; i++) v[i] = Float.float16ToFloat(s.get(U16, 2L * i)); }
            case BF16 -> { for (int i = 0; i < v.length; i++) v[i] = DType.bf16ToFloat(s.get(U16, 2L * i)); }
            case Q8_0, Q4_0 -> {
                int per = t.type() == Q8_0 ? 34 : 18;
                for (int b = 0; b < v.length / 32; b++) {
                    long at = (long) b * per;
                    float d = scale(s, at);
                    for (int j = 0; j < 32; j++) {
                        int q = t.type() == Q8_0 ? s.get(ValueLayout.JAVA_BYTE, at + 2 + j)
                                : ((s.get(ValueLayout.JAVA_BYTE, at + 2 + (j & 15)) & 0xff) >> (j < 16 ? 0 : 4) & 15) - 8;
                        v[b * 32 + j] = d * q;
                    }
                }
            }
            default -> throw new IllegalStateException("unreachable");
        }
        return Tensor.fromArray(v, shape);
    }

    /** The f16 scale at the start of a Q8_0 / Q4_0 block. */
    public static float scale(MemorySegment blocks, long at) {
        return Float.float16ToFloat(blocks.get(U16, at));
    }

    /** A value from the file made safe for a one-line message: control characters as '?', at most 80 characters. */
    public static String printable(Object v) {
        String t = String.valueOf(v).replaceAll("[\\p{Cntrl}]", "?");
        return t.length() > 80 ? t.substring(0, 77) + "..." : t;
    }

    /** Unmaps the file (its F32 views become unusable). */
    @Override public void close() { if (arena.scope().isAlive()) arena.close(); }

    /** A bounded little-endian reader over the mapping. */
    private static final class Cursor {
        final Path file;
        final MemorySegment seg;
        long pos;

        Cursor(Path file, MemorySegment seg) {
            this.file = file;
            this.seg = seg;
        }

        private void need(long n, String what) throws KilnFormatException {
            if (n < 0 || pos + n > seg.byteSize()) throw new KilnFormatException(file + ": truncated GGUF file (" + what + " at byte " + pos + ")");
        }

        int u32() throws KilnFormatException {
            need(4, "a 32-bit value");
            int v = seg.get(U32, pos);
            pos += 4;
            return v;
        }

        long u64() throws KilnFormatException {
            need(8, "a 64-bit value");
            long v = seg.get(U64, pos);
            pos += 8;
            return v;
        }

        long count(String what) throws KilnFormatException {
            long n = u64();
            if (n < 0 || n > MAX_COUNT) throw new KilnFormatException(file + ": " + what + " " + n + " is out of range");
            return n;
        }

        String string() throws KilnFormatException {
            long n = u64();
            if (n < 0 || n > MAX_STRING) throw new KilnFormatException(file + ": string length " + n + " at byte " + (pos - 8) + " is out of range");
            need(n, "a string");
            byte[] b = seg.asSlice(pos, n).toArray(ValueLayout.JAVA_BYTE);
            pos += n;
            return new String(b, StandardCharsets.UTF_8);
        }

        /** A metadata key or tensor name: at most 1024 bytes, no control characters (they end up in messages). */
        String name(String what) throws KilnFormatException {
            long at = pos;
            String v = string();
            if (v.length() > 1024 || v.chars().anyMatch(ch -> ch < 0x20 || ch == 0x7f))
                throw new KilnFormatException(file + ": the " + what + " at byte " + at + " is longer than 1024 bytes or has control characters");
            return v;
        }

        Object value(int type, String key) throws KilnFormatException {
            return switch (type) {
                case 0 -> { need(1, key); yield (long) (seg.get(ValueLayout.JAVA_BYTE, pos++) & 0xff); }
                case 1 -> { need(1, key); yield (long) seg.get(ValueLayout.JAVA_BYTE, pos++); }
                case 2 -> { need(2, key); long v = seg.get(U16, pos) & 0xffff; pos += 2; yield v; }
                case 3 -> { need(2, key); long v = seg.get(U16, pos); pos += 2; yield v; }
                case 4 -> u32() & 0xffffffffL;
                case 5 -> (long) u32();
                case 6 -> (double) Float.intBitsToFloat(u32());
                case 7 -> { need(1, key); yield seg.get(ValueLayout.JAVA_BYTE, pos++) != 0; }
                case 8 -> string();
                case 9 -> {
                    int et = u32();
                    long n = count("array " + key + " length");
                    if (et == 9) throw new KilnFormatException(file + ": nested arrays in " + key + " are not supported");
                    List<Object> out = new ArrayList<>((int) Math.min(n, 1 << 16));
                    for (long i = 0; i < n; i++) out.add(value(et, key));
                    yield out;
                }
                case 10 -> u64();
                case 11 -> u64();
                case 12 -> Double.longBitsToDouble(u64());
                default -> throw new KilnFormatException(file + ": metadata " + key + " has value type " + type);
            };
        }
    }
}
