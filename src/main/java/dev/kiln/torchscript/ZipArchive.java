package dev.kiln.torchscript;

import dev.kiln.io.KilnFormatException;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.CRC32;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;

/**
 * A read-only, memory-mapped zip file, parsed by hand so every number in it is checked before use:
 * the end record and central directory lie inside the file, at most {@link #MAX_ENTRIES} entries,
 * every entry's data (found through its local header) fits in the file, names are relative with no
 * ".." part and no control characters, stored entries are not shorter than declared, deflated entries declare no more than
 * deflate's 1032:1 ratio allows (zip bombs) and inflate to exactly their declared size and CRC.
 * Zip64 end records and extra fields are read (torch writes them for large archives).
 */
final class ZipArchive implements AutoCloseable {
    static final int MAX_ENTRIES = 1 << 20;
    /** Largest deflated entry Kiln inflates (into a Java array). */
    static final long MAX_INFLATED = Integer.MAX_VALUE - 16;
    private static final long MAX_RATIO = 1100;

    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final int EOCD = 0x06054b50, ZIP64_LOCATOR = 0x07064b50, ZIP64_EOCD = 0x06064b50;
    private static final int CENTRAL = 0x02014b50, LOCAL = 0x04034b50;

    /** One member: its data starts at dataOffset in the file. */
    record Entry(String name, int method, int flags, long crc, long compressedSize, long size, long dataOffset) {}

    private final String file;
    private final Arena arena;
    private final MemorySegment all;
    private final Map<String, Entry> entries;

    private ZipArchive(String file, Arena arena, MemorySegment all, Map<String, Entry> entries) {
        this.file = file;
        this.arena = arena;
        this.all = all;
        this.entries = entries;
    }

    static ZipArchive open(Path path) throws KilnFormatException {
        String name = path.toString();
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            MemorySegment all = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
            return new ZipArchive(name, arena, all, new Parser(name, all).entries());
        } catch (IOException e) {
            arena.close();
            if (e instanceof KilnFormatException k) throw k;
            throw new KilnFormatException(name + ": cannot read: " + e.getMessage(), e);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    /** Entries by name, in central-directory order. */
    Map<String, Entry> entries() { return entries; }

    /**
     * An entry's bytes: a slice of the mapping for a stored entry (valid until close), else the
     * inflated bytes in a heap segment.
     */
    MemorySegment bytes(Entry e) throws KilnFormatException {
        checkReadable(e);
        MemorySegment raw = all.asSlice(e.dataOffset(), e.compressedSize());
        if (e.method() == 0) return raw.asSlice(0, e.size());
        return MemorySegment.ofArray(inflate(e, raw));
    }

    /** An entry's bytes copied into an array, CRC checked. */
    byte[] read(Entry e) throws KilnFormatException {
        checkReadable(e);
        if (e.size() > MAX_INFLATED) throw fail(e, "entry of " + e.size() + " bytes is too large to read into memory");
        MemorySegment raw = all.asSlice(e.dataOffset(), e.compressedSize());
        byte[] out = e.method() == 0 ? raw.asSlice(0, e.size()).toArray(ValueLayout.JAVA_BYTE) : inflate(e, raw);
        CRC32 crc = new CRC32();
        crc.update(out);
        if (crc.getValue() != e.crc()) throw fail(e, "CRC mismatch: the entry is corrupt");
        return out;
    }

    private void checkReadable(Entry e) throws KilnFormatException {
        if ((e.flags() & 1) != 0) throw fail(e, "encrypted entries are not supported");
        if (e.method() != 0 && e.method() != 8) throw fail(e, "compression method " + e.method() + " is not supported (stored or deflate only)");
    }

    private byte[] inflate(Entry e, MemorySegment raw) throws KilnFormatException {
        if (e.size() > MAX_INFLATED) throw fail(e, "deflated entry of " + e.size() + " bytes is too large to inflate");
        byte[] out = new byte[(int) e.size()];
        Inflater inf = new Inflater(true);
        try {
            inf.setInput(raw.asByteBuffer());
            int n = 0;
            while (n < out.length && !inf.finished()) {
                int got = inf.inflate(out, n, out.length - n);
                if (got == 0 && (inf.needsInput() || inf.needsDictionary())) break;
                n += got;
            }
            if (n < out.length) throw fail(e, "deflated data ends after " + n + " of its declared " + e.size() + " bytes");
            if (!inf.finished() && inf.inflate(new byte[1]) > 0) throw fail(e, "deflated data is longer than its declared " + e.size() + " bytes");
            return out;
        } catch (DataFormatException ex) {
            throw fail(e, "corrupt deflate data: " + ex.getMessage());
        } finally {
            inf.end();
        }
    }

    private KilnFormatException fail(Entry e, String msg) { return new KilnFormatException(file + ": " + e.name() + ": " + msg); }

    /** Unmaps the file; slices from {@link #bytes} become unusable. Idempotent. */
    @Override
    public void close() {
        if (arena.scope().isAlive()) arena.close();
    }

    // ------------------------------------------------------------------ parsing

    /** Reads the end record and the central directory, checking every offset. */
    private static final class Parser {
        private final String file;
        private final MemorySegment all;
        private final long size;

        Parser(String file, MemorySegment all) {
            this.file = file;
            this.all = all;
            this.size = all.byteSize();
        }

        private KilnFormatException fail(String msg) { return new KilnFormatException(file + ": " + msg); }

        private int u16(long at) { return all.get(U16, at) & 0xffff; }
        private long u32(long at) { return all.get(U32, at) & 0xffffffffL; }
        private long u64(long at) { return all.get(U64, at); }

        Map<String, Entry> entries() throws KilnFormatException {
            long eocd = findEnd();
            long count = u16(eocd + 10), cdSize = u32(eocd + 12), cdOffset = u32(eocd + 16);
            long locator = eocd - 20;
            if (locator >= 0 && all.get(U32, locator) == ZIP64_LOCATOR) {
                long rec = u64(locator + 8);
                if (rec < 0 || rec > locator - 56 || all.get(U32, rec) != ZIP64_EOCD) throw fail("corrupt zip64 end record");
                count = u64(rec + 32);
                cdSize = u64(rec + 40);
                cdOffset = u64(rec + 48);
            }
            if (count < 0 || count > MAX_ENTRIES) throw fail("zip declares " + count + " entries (limit " + MAX_ENTRIES + ")");
            if (cdOffset < 0 || cdSize < 0 || cdOffset > size || cdSize > size - cdOffset)
                throw fail("zip central directory (offset " + cdOffset + ", " + cdSize + " bytes) lies outside the " + size + "-byte file");
            Map<String, Entry> out = new LinkedHashMap<>();
            long at = cdOffset, end = cdOffset + cdSize;
            for (long i = 0; i < count; i++) {
                if (at + 46 > end || all.get(U32, at) != CENTRAL) throw fail("corrupt zip central directory at entry " + i);
                Entry e = central(at, end);
                if (out.put(e.name(), e) != null) throw fail("duplicate zip entry " + e.name());
                at += 46L + u16(at + 28) + u16(at + 30) + u16(at + 32);
            }
            return Collections.unmodifiableMap(out);
        }

        private long findEnd() throws KilnFormatException {
            if (size < 22) throw fail("truncated zip archive (" + size + " bytes)");
            long stop = Math.max(0, size - 22 - 65535);
            for (long p = size - 22; p >= stop; p--) {
                if (all.get(U32, p) == EOCD && p + 22 + u16(p + 20) <= size) return p;
            }
            throw fail("truncated or damaged zip archive (no end-of-central-directory record in its last 64 KiB)");
        }

        private Entry central(long at, long end) throws KilnFormatException {
            int flags = u16(at + 8), method = u16(at + 10);
            long crc = u32(at + 16), comp = u32(at + 20), usize = u32(at + 24), local = u32(at + 42);
            int nameLen = u16(at + 28), extraLen = u16(at + 30);
            if (at + 46 + nameLen + extraLen > end) throw fail("corrupt zip central directory entry at byte " + at);
            String name = name(all.asSlice(at + 46, nameLen).toArray(ValueLayout.JAVA_BYTE));
            long[] z64 = zip64(at + 46 + nameLen, extraLen, usize, comp, local);
            usize = z64[0];
            comp = z64[1];
            local = z64[2];
            String where = file + ": " + name + ": ";
            if (local < 0 || local > size - 30 || all.get(U32, local) != LOCAL)
                throw new KilnFormatException(where + "local header at byte " + local + " is missing (file of " + size + " bytes)");
            long data = local + 30 + u16(local + 26) + u16(local + 28);
            if (comp < 0 || usize < 0 || data > size || comp > size - data)
                throw new KilnFormatException(where + "declares " + comp + " bytes at byte " + data + " but the file has only " + size + " bytes");
            if (method == 0 && comp < usize)
                throw new KilnFormatException(where + "stored entry declares " + usize + " bytes but holds " + comp);
            if (method == 8 && usize > comp * MAX_RATIO + 1024)
                throw new KilnFormatException(where + "declares " + usize + " bytes from " + comp + " deflated bytes (a ratio no real deflate stream has: zip bomb?)");
            return new Entry(name, method, flags, crc, comp, usize, data);
        }

        /** Sizes and offset, replaced from the zip64 extra field where they are 0xFFFFFFFF. */
        private long[] zip64(long extra, int len, long usize, long comp, long local) throws KilnFormatException {
            long[] v = {usize, comp, local};
            long p = extra, end = extra + len;
            while (p + 4 <= end) {
                int id = u16(p), n = u16(p + 2);
                if (p + 4 + n > end) throw fail("corrupt zip extra field");
                if (id == 1) {
                    long q = p + 4;
                    for (int i = 0; i < 3; i++) {
                        if (v[i] != 0xffffffffL) continue;
                        if (q + 8 > p + 4 + n) throw fail("corrupt zip64 extra field");
                        v[i] = u64(q);
                        q += 8;
                    }
                }
                p += 4 + n;
            }
            return v;
        }

        /** A member name, refused when absolute or with a ".." part. */
        private String name(byte[] raw) throws KilnFormatException {
            String n = new String(raw, StandardCharsets.UTF_8);
            boolean bad = n.isEmpty() || n.startsWith("/") || n.indexOf('\\') >= 0;
            for (String part : n.split("/")) bad |= part.equals("..");
            if (bad) throw fail("refused zip entry name '" + printable(n) + "' (absolute or with '..')");
            for (char c : n.toCharArray())
                if (c < 0x20 || c == 0x7f) throw fail("refused zip entry name '" + printable(n) + "' (control characters)");
            return n;
        }
    }

    /** Untrusted text for a one-line error: control characters as '?', at most 120 chars. */
    static String printable(String s) {
        StringBuilder sb = new StringBuilder();
        for (char c : s.toCharArray()) {
            if (sb.length() > 120) return sb.append("...").toString();
            sb.append(c < 0x20 || c == 0x7f ? '?' : c);
        }
        return sb.toString();
    }
}
