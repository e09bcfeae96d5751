package dev.kiln.io;

import dev.kiln.tensor.DType;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The header of a safetensors file: an 8-byte little-endian length n, then n bytes of UTF-8 JSON
 * <pre>{"__metadata__": {"k": "v"}, "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}, ...}</pre>
 * then the data buffer; offsets are relative to the buffer. Validation follows the reference
 * implementation: n at most {@value #MAX_HEADER_BYTES} and within the file, the JSON an object,
 * every tensor's byte range matching its dtype and shape, and the ranges (sorted by offset) tiling
 * the buffer exactly: no gap, no overlap, nothing left over. Every error names the file.
 */
final class SafetensorsHeader {
    static final long MAX_HEADER_BYTES = 100L << 20;
    static final String METADATA_KEY = "__metadata__";

    /** One tensor's entry; begin/end are offsets into the data buffer. */
    record Entry(String name, DType dtype, int[] shape, long begin, long end) {
        long bytes() { return end - begin; }
    }

    final List<Entry> entries;
    final Map<String, String> metadata;
    /** File offset of the data buffer (8 + header length). */
    final long dataStart;

    private SafetensorsHeader(List<Entry> entries, Map<String, String> metadata, long dataStart) {
        this.entries = entries;
        this.metadata = metadata;
        this.dataStart = dataStart;
    }

    /** The safetensors name of a dtype ("F32", "BF16", "BOOL", ...): the same as the enum's. */
    static String dtypeName(DType t) { return t.name(); }

    static DType dtypeOf(String name) {
        for (DType t : DType.values()) if (t.name().equals(name)) return t;
        return null;
    }

    // ---------------------------------------------------------------- reading

    static SafetensorsHeader read(FileChannel ch, String file) throws IOException {
        long size = ch.size();
        if (size < 8) throw bad(file, "file of " + size + " bytes is too small for the 8-byte header length");
        ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        readFully(ch, lenBuf, 0, file);
        long n = lenBuf.getLong(0);
        if (n < 2 || n > MAX_HEADER_BYTES || n > size - 8)
            throw bad(file, "header length " + Long.toUnsignedString(n) + " is invalid (file size " + size
                    + ", limit " + MAX_HEADER_BYTES + ")");
        ByteBuffer json = ByteBuffer.allocate((int) n);
        readFully(ch, json, 8, file);
        Object root = Json.parse(utf8(json.array(), file), "safetensors: " + file, "header JSON");
        if (!(root instanceof Map<?, ?> map)) throw bad(file, "header JSON is not an object");
        return parse(map, size - 8 - n, 8 + n, file);
    }

    private static String utf8(byte[] bytes, String file) {
        try {
            return StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            throw bad(file, "header is not valid UTF-8");
        }
    }

    static void readFully(FileChannel ch, ByteBuffer dst, long position, String file) throws IOException {
        long p = position;
        while (dst.hasRemaining()) {
            int r = ch.read(dst, p);
            if (r < 0) throw new EOFException("safetensors: " + file + ": unexpected end of file at byte " + p);
            p += r;
        }
    }

    private static SafetensorsHeader parse(Map<?, ?> root, long bufferSize, long dataStart, String file) {
        List<Entry> entries = new ArrayList<>();
        Map<String, String> metadata = Map.of();
        for (Map.Entry<?, ?> e : root.entrySet()) {
            String name = (String) e.getKey();
            if (name.equals(METADATA_KEY)) metadata = metadata(e.getValue(), file);
            else entries.add(entry(name, e.getValue(), file));
        }
        checkTiling(entries, bufferSize, file);
        return new SafetensorsHeader(Collections.unmodifiableList(entries), metadata, dataStart);
    }

    private static Map<String, String> metadata(Object v, String file) {
        if (!(v instanceof Map<?, ?> m)) throw bad(file, METADATA_KEY + " is not an object");
        Map<String, String> out = new LinkedHashMap<>();
        for (Map.Entry<?, ?> e : m.entrySet()) {
            if (!(e.getValue() instanceof String s))
                throw bad(file, METADATA_KEY + " value of \"" + e.getKey() + "\" is not a string");
            out.put((String) e.getKey(), s);
        }
        return Collections.unmodifiableMap(out);
    }

    private static Entry entry(String name, Object v, String file) {
        if (!(v instanceof Map<?, ?> m)) throw bad(file, "tensor '" + name + "': entry is not an object");
        for (Object k : m.keySet())
            if (!k.equals("dtype") && !k.equals("shape") && !k.equals("data_offsets"))
                throw bad(file, "tensor '" + name + "': unknown field \"" + k + "\"");
        if (!(m.get("dtype") instanceof String dt)) throw bad(file, "tensor '" + name + "': dtype missing or not a string");
        DType dtype = dtypeOf(dt);
        if (dtype == null)
            throw bad(file, "tensor '" + name + "': unsupported dtype \"" + dt + "\" (Kiln reads "
                    + Arrays.toString(DType.values()) + ")");
        long[] shape = longs(m.get("shape"), -1, name, "shape", file);
        long[] offs = longs(m.get("data_offsets"), 2, name, "data_offsets", file);
        int[] dims = new int[shape.length];
        long numel = 1;
        for (int i = 0; i < shape.length; i++) {
            if (shape[i] > Integer.MAX_VALUE) throw bad(file, "tensor '" + name + "': dimension " + shape[i] + " too large");
            dims[i] = (int) shape[i];
            numel = mulCapped(numel, shape[i]);
        }
        if (offs[0] > offs[1]) throw bad(file, "tensor '" + name + "': data_offsets [" + offs[0] + ", " + offs[1] + "] are reversed");
        long want = mulCapped(numel, dtype.byteSize());
        if (want != offs[1] - offs[0])
            throw bad(file, "tensor '" + name + "': " + dt + " " + Arrays.toString(dims) + " needs " + want
                    + " bytes but data_offsets [" + offs[0] + ", " + offs[1] + "] span " + (offs[1] - offs[0]));
        return new Entry(name, dtype, dims, offs[0], offs[1]);
    }

    /** a * b, saturating at Long.MAX_VALUE (such a size never matches a real range). */
    private static long mulCapped(long a, long b) {
        try {
            return Math.multiplyExact(a, b);
        } catch (ArithmeticException e) {
            return Long.MAX_VALUE;
        }
    }

    /** A JSON array of non-negative integers (of the given length unless -1). */
    private static long[] longs(Object v, int len, String name, String field, String file) {
        if (!(v instanceof List<?> list) || (len >= 0 && list.size() != len))
            throw bad(file, "tensor '" + name + "': " + field + " must be an array" + (len >= 0 ? " of " + len + " integers" : " of integers"));
        long[] out = new long[list.size()];
        for (int i = 0; i < out.length; i++) {
            if (!(list.get(i) instanceof Long x) || x < 0)
                throw bad(file, "tensor '" + name + "': " + field + " holds " + list.get(i) + ", not a non-negative integer");
            out[i] = x;
        }
        return out;
    }

    /** The byte ranges, in offset order, must cover [0, bufferSize) exactly once. */
    private static void checkTiling(List<Entry> entries, long bufferSize, String file) {
        List<Entry> sorted = new ArrayList<>(entries);
        sorted.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
        long at = 0;
        String prev = null;
        for (Entry e : sorted) {
            if (e.begin < at)
                throw bad(file, "tensor '" + e.name + "' [" + e.begin + ", " + e.end + ") overlaps tensor '" + prev + "' (ends at " + at + ")");
            if (e.begin > at)
                throw bad(file, "tensor '" + e.name + "' starts at " + e.begin + ", leaving a gap after byte " + at);
            if (e.end > bufferSize)
                throw bad(file, "tensor '" + e.name + "' ends at " + e.end + ", past the " + bufferSize + "-byte data buffer");
            at = e.end;
            prev = e.name;
        }
        if (at != bufferSize)
            throw bad(file, "data buffer holds " + bufferSize + " bytes but the tensors cover " + at);
    }

    static IllegalArgumentException bad(String file, String what) {
        return new IllegalArgumentException("safetensors: " + file + ": " + oneLine(what));
    }

    /** Untrusted text (tensor names, JSON) for a one-line error: control characters as \\xNN, at most 400 chars. */
    static String oneLine(String s) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < s.length(); i++) {
            if (sb.length() >= 400) return sb.append("...").toString();
            char c = s.charAt(i);
            if (c < 0x20 || c == 0x7f) sb.append(String.format("\\x%02x", (int) c));
            else sb.append(c);
        }
        return sb.toString();
    }

    // ---------------------------------------------------------------- writing

    /** The header bytes (length prefix included), padded with spaces to a multiple of 8; metadata in {@link Safetensors#stableOrder} order. */
    static byte[] encode(List<Entry> entries, Map<String, String> metadata) {
        StringBuilder sb = new StringBuilder("{");
        if (metadata != null && !metadata.isEmpty()) {
            sb.append(Json.quote(METADATA_KEY)).append(":{");
            boolean first = true;
            for (Map.Entry<String, String> e : Safetensors.stableOrder(metadata).entrySet()) {
                if (!first) sb.append(',');
                first = false;
                sb.append(Json.quote(e.getKey())).append(':').append(Json.quote(e.getValue()));
            }
            sb.append('}');
            if (!entries.isEmpty()) sb.append(',');
        }
        for (int i = 0; i < entries.size(); i++) {
            Entry e = entries.get(i);
            if (i > 0) sb.append(',');
            sb.append(Json.quote(e.name)).append(":{\"dtype\":\"").append(dtypeName(e.dtype))
                    .append("\",\"shape\":[");
            for (int d = 0; d < e.shape.length; d++) sb.append(d > 0 ? "," : "").append(e.shape[d]);
            sb.append("],\"data_offsets\":[").append(e.begin).append(',').append(e.end).append("]}");
        }
        sb.append('}');
        byte[] json = sb.toString().getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) & ~7;
        ByteBuffer out = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(padded).put(json);
        while (out.hasRemaining()) out.put((byte) ' ');
        return out.array();
    }
}
