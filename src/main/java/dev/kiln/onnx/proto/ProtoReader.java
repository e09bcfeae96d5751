package dev.kiln.onnx.proto;

import dev.kiln.io.KilnFormatException;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * A protocol-buffers wire-format decoder over a byte range of a {@link MemorySegment} (a mapped
 * file or a wrapped {@code byte[]}). It reads one message: call {@link #next()} to advance to the
 * next field, then read its value with the method matching the wire type, or {@link #skip()} it.
 * <p>
 * Safety: every length is checked against the bytes left in the enclosing message before it is
 * used, varints longer than 10 bytes are refused, and nested messages (sub-readers) are limited
 * to {@link #MAX_DEPTH} levels. Every error is a {@link KilnFormatException} whose message names
 * the file and the field path, e.g. {@code "m.onnx: graph.node[3].attribute[0]: truncated ..."},
 * on one line.
 */
public final class ProtoReader {
    /** Wire types. */
    public static final int VARINT = 0, FIXED64 = 1, LEN = 2, START_GROUP = 3, END_GROUP = 4, FIXED32 = 5;
    /** Deepest message nesting accepted (ONNX nests graphs in attributes of nodes of graphs...). */
    public static final int MAX_DEPTH = 100;

    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final MemorySegment seg;
    private final String file;
    private final String path;
    private final int depth;
    private final long end;
    private long pos;
    private int field;
    private int wireType;
    private long fieldStart;

    private ProtoReader(MemorySegment seg, long start, long end, String file, String path, int depth) {
        this.seg = seg;
        this.pos = start;
        this.end = end;
        this.file = file;
        this.path = path;
        this.depth = depth;
    }

    /** A reader over the whole segment; {@code file} names it in errors. */
    public static ProtoReader of(MemorySegment seg, String file) {
        return new ProtoReader(seg, 0, seg.byteSize(), file, "", 0);
    }

    public static ProtoReader of(byte[] bytes, String file) {
        return of(MemorySegment.ofArray(bytes), file);
    }

    /** An independent reader over the rest of this message (to read ahead without consuming). */
    public ProtoReader copy() { return new ProtoReader(seg, pos, end, file, path, depth); }

    /** The field path of this message ("graph.node[2]"), for messages. */
    public String path() { return path; }

    public String file() { return file; }

    /** Bytes left in this message. */
    public long remaining() { return end - pos; }

    /**
     * Advances to the next field; false at the end of the message. Afterwards {@link #field()} and
     * {@link #wireType()} describe it.
     */
    public boolean next() throws KilnFormatException {
        if (pos >= end) return false;
        fieldStart = pos;
        long tag = readVarint();
        field = (int) (tag >>> 3);
        wireType = (int) (tag & 7);
        if (field <= 0 || (tag >>> 3) > 0x1fffffff) throw error("invalid field number " + (tag >>> 3));
        if (wireType > FIXED32) throw error("field " + field + " has invalid wire type " + wireType);
        if (wireType == END_GROUP) throw error("unexpected end-group marker for field " + field);
        return true;
    }

    public int field() { return field; }

    /**
     * The current field as it is encoded (tag, length and value), once its value has been read or
     * skipped: a slice of the underlying segment, for copying a field through unchanged.
     */
    public MemorySegment rawField() { return seg.asSlice(fieldStart, pos - fieldStart); }

    public int wireType() { return wireType; }

    // ------------------------------------------------------------------ scalars

    public long readVarint() throws KilnFormatException {
        long result = 0;
        for (int shift = 0; shift < 70; shift += 7) {
            if (pos >= end) throw error("truncated varint" + fieldSuffix());
            byte b = seg.get(ValueLayout.JAVA_BYTE, pos++);
            if (shift == 63 && (b & 0x7e) != 0) throw error("varint overflows 64 bits" + fieldSuffix());
            result |= (long) (b & 0x7f) << shift;
            if (b >= 0) return result;
        }
        throw error("varint longer than 10 bytes" + fieldSuffix());
    }

    /** An int64/int32/enum varint field value (checked wire type). */
    public long readInt64() throws KilnFormatException {
        expect(VARINT);
        return readVarint();
    }

    /** An int32/enum field: the low 32 bits, as protobuf does. */
    public int readInt32() throws KilnFormatException { return (int) readInt64(); }

    public int readFixed32() throws KilnFormatException {
        expect(FIXED32);
        return fixed32();
    }

    public long readFixed64() throws KilnFormatException {
        expect(FIXED64);
        return fixed64();
    }

    public float readFloat() throws KilnFormatException { return Float.intBitsToFloat(readFixed32()); }

    public double readDouble() throws KilnFormatException { return Double.longBitsToDouble(readFixed64()); }

    private int fixed32() throws KilnFormatException {
        need(4, "fixed32");
        int v = seg.get(I32, pos);
        pos += 4;
        return v;
    }

    private long fixed64() throws KilnFormatException {
        need(8, "fixed64");
        long v = seg.get(I64, pos);
        pos += 8;
        return v;
    }

    // ------------------------------------------------------------------ length-delimited

    /** The payload of a length-delimited field as a slice of the underlying segment (no copy). */
    public MemorySegment readBytesSegment() throws KilnFormatException {
        long n = readLength();
        MemorySegment s = seg.asSlice(pos, n);
        pos += n;
        return s;
    }

    public byte[] readBytes() throws KilnFormatException {
        MemorySegment s = readBytesSegment();
        if (s.byteSize() > Integer.MAX_VALUE - 16) throw error("bytes field " + field + " too large: " + s.byteSize());
        return s.toArray(ValueLayout.JAVA_BYTE);
    }

    public String readString() throws KilnFormatException {
        return new String(readBytes(), StandardCharsets.UTF_8);
    }

    /**
     * A reader over an embedded message; {@code name} extends the field path used in errors
     * ("node[3]"). Fails past {@link #MAX_DEPTH} levels.
     */
    public ProtoReader readMessage(String name) throws KilnFormatException {
        long n = readLength();
        if (depth + 1 > MAX_DEPTH) throw error("messages nested deeper than " + MAX_DEPTH + " levels");
        String p = path.isEmpty() ? name : path + "." + name;
        ProtoReader r = new ProtoReader(seg, pos, pos + n, file, p, depth + 1);
        pos += n;
        return r;
    }

    private long readLength() throws KilnFormatException {
        expect(LEN);
        long n = readVarint();
        if (n < 0 || n > end - pos)
            throw error("field " + field + " declares " + Long.toUnsignedString(n) + " bytes but only " + (end - pos) + " remain");
        return n;
    }

    // ------------------------------------------------------------------ repeated numbers

    /** Appends a repeated varint field, packed (wire type 2) or not (wire type 0). */
    public void readVarints(LongList out) throws KilnFormatException {
        if (wireType == VARINT) {
            out.add(readVarint());
            return;
        }
        long stop = packedEnd();
        while (pos < stop) out.add(readVarintUntil(stop));
    }

    /** Appends a repeated fixed32 field (float bits), packed or not. */
    public void readFixed32s(LongList out) throws KilnFormatException {
        if (wireType == FIXED32) {
            out.add(fixed32());
            return;
        }
        long stop = packedEnd();
        if ((stop - pos) % 4 != 0) throw error("packed fixed32 field " + field + " has " + (stop - pos) + " bytes, not a multiple of 4");
        while (pos < stop) out.add(fixed32());
    }

    /** Appends a repeated fixed64 field (double bits), packed or not. */
    public void readFixed64s(LongList out) throws KilnFormatException {
        if (wireType == FIXED64) {
            out.add(fixed64());
            return;
        }
        long stop = packedEnd();
        if ((stop - pos) % 8 != 0) throw error("packed fixed64 field " + field + " has " + (stop - pos) + " bytes, not a multiple of 8");
        while (pos < stop) out.add(fixed64());
    }

    private long packedEnd() throws KilnFormatException {
        long n = readLength();
        return pos + n;
    }

    private long readVarintUntil(long stop) throws KilnFormatException {
        long saved = end;
        if (stop > saved) throw error("packed field " + field + " overruns its message");
        long v = readVarint();
        if (pos > stop) throw error("truncated varint in packed field " + field);
        return v;
    }

    // ------------------------------------------------------------------ skipping

    /** Skips the current field's value, whatever its wire type (groups included). */
    public void skip() throws KilnFormatException { skipValue(wireType, field, 0); }

    private void skipValue(int wt, int fieldNo, int groupDepth) throws KilnFormatException {
        switch (wt) {
            case VARINT -> readVarint();
            case FIXED64 -> { need(8, "fixed64"); pos += 8; }
            case FIXED32 -> { need(4, "fixed32"); pos += 4; }
            case LEN -> {
                long n = readVarint();
                if (n < 0 || n > end - pos)
                    throw error("field " + fieldNo + " declares " + Long.toUnsignedString(n) + " bytes but only " + (end - pos) + " remain");
                pos += n;
            }
            case START_GROUP -> skipGroup(fieldNo, groupDepth + 1);
            default -> throw error("field " + fieldNo + " has invalid wire type " + wt);
        }
    }

    private void skipGroup(int groupField, int groupDepth) throws KilnFormatException {
        if (groupDepth + depth > MAX_DEPTH) throw error("groups nested deeper than " + MAX_DEPTH + " levels");
        while (true) {
            if (pos >= end) throw error("unterminated group (field " + groupField + ")");
            long tag = readVarint();
            int f = (int) (tag >>> 3), wt = (int) (tag & 7);
            if (wt == END_GROUP) {
                if (f != groupField) throw error("group " + groupField + " closed by end-group of field " + f);
                return;
            }
            skipValue(wt, f, groupDepth);
        }
    }

    // ------------------------------------------------------------------ errors

    private void expect(int wt) throws KilnFormatException {
        if (wireType != wt)
            throw error("field " + field + " has wire type " + wireType + ", expected " + wt);
    }

    private void need(long n, String what) throws KilnFormatException {
        if (end - pos < n) throw error("truncated " + what + fieldSuffix() + " (" + (end - pos) + " bytes left)");
    }

    private String fieldSuffix() { return field > 0 ? " in field " + field : ""; }

    /**
     * A format error naming the file and this message's field path. The message is made one line:
     * names from the file in it may hold control characters (escaped as \xNN) or be huge (cut).
     */
    public KilnFormatException error(String message) {
        return new KilnFormatException(file + ": " + (path.isEmpty() ? "" : path + ": ") + printable(message, 400));
    }

    /** Untrusted text for a one-line message: control characters as \xNN, at most max chars. */
    public static String printable(String s, int max) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < s.length(); i++) {
            if (sb.length() >= max) return sb.append("...").toString();
            char c = s.charAt(i);
            if (c < 0x20 || c == 0x7f) sb.append(String.format("\\x%02x", (int) c));
            else sb.append(c);
        }
        return sb.toString();
    }
}
