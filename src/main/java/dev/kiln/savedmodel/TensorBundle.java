package dev.kiln.savedmodel;

import dev.kiln.io.KilnFormatException;
import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.OnnxTensors;
import dev.kiln.onnx.Value;
import dev.kiln.onnx.proto.ProtoReader;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.CRC32C;

/**
 * A TensorFlow checkpoint in the TensorBundle format ({@code PREFIX.index} + {@code
 * PREFIX.data-NNNNN-of-NNNNN}), as SavedModels keep their variables.
 * <p>
 * The index is a LevelDB-format table ("SSTable"): a 48-byte footer (metaindex and index block
 * handles, padding, magic {@code 0xdb4775248b80fb57}) points at an index block whose entries point at
 * data blocks; a block is a run of prefix-compressed entries (shared key bytes, new key bytes, value
 * length, all varints), an array of restart offsets and their count, followed by a one-byte
 * compression type (only "none" is used by TensorBundle and accepted here) and a masked CRC32C of
 * block and type. The entry under the empty key is the {@code BundleHeaderProto} (shard count,
 * endianness); every other key names a tensor whose value is a {@code BundleEntryProto} (dtype,
 * shape, shard, offset, size, masked CRC32C of the bytes).
 * <p>
 * Every handle, length and count is checked against the file before use, and every CRC is checked:
 * a truncated or corrupted file gives one {@link KilnFormatException} naming the file. Tensor bytes
 * are used in place from a read-only mapping of the data shard (see {@link OnnxTensors#fromRaw}).
 */
public final class TensorBundle {
    private static final long MAGIC = 0xdb4775248b80fb57L;
    private static final int FOOTER = 48;
    /** Entries past this are refused (a hostile index could claim billions). */
    static final int MAX_ENTRIES = 1 << 20;

    /** One {@code BundleEntryProto}. {@code crc} is the masked CRC32C TensorFlow stores. */
    public record Entry(String key, int dtype, long[] shape, int shard, long offset, long size, int crc, boolean sliced) {}

    private final Path prefix;
    private final int shards;
    private final Map<String, Entry> entries;
    private final MemorySegment[] shardMaps;

    private TensorBundle(Path prefix, int shards, Map<String, Entry> entries) {
        this.prefix = prefix;
        this.shards = shards;
        this.entries = entries;
        this.shardMaps = new MemorySegment[shards];
    }

    /** Opens {@code PREFIX.index} (e.g. {@code dir/variables/variables}); data shards are mapped on first read. */
    public static TensorBundle open(Path prefix) throws IOException {
        Path index = prefix.resolveSibling(prefix.getFileName() + ".index");
        if (!Files.isRegularFile(index)) throw new NoSuchFileException(index.toString(), null, "checkpoint index not found");
        byte[] bytes = Files.readAllBytes(index);
        String file = index.toString();
        Map<String, Entry> entries = new LinkedHashMap<>();
        int[] header = {-1};
        readTable(bytes, file, (key, value) -> {
            if (key.isEmpty()) header[0] = header(value, file);
            else {
                if (entries.size() >= MAX_ENTRIES) throw new KilnFormatException(file + ": more than " + MAX_ENTRIES + " entries");
                entries.put(key, entry(key, value, file));
            }
        });
        if (header[0] < 0) throw new KilnFormatException(file + ": no bundle header (empty key)");
        for (Entry e : entries.values())
            if (e.shard < 0 || e.shard >= header[0])
                throw new KilnFormatException(file + ": entry '" + ProtoReader.printable(e.key, 80) + "' in shard " + e.shard + " of " + header[0]);
        return new TensorBundle(prefix, header[0], Collections.unmodifiableMap(entries));
    }

    /** The tensors in the checkpoint by key, in key order. */
    public Map<String, Entry> entries() { return entries; }

    /** The bytes of all tensors (parameter bytes). */
    public long totalBytes() {
        long n = 0;
        for (Entry e : entries.values()) n += e.size;
        return n;
    }

    /**
     * The tensor stored under key, checked (size, CRC32C) and used in place from the data shard's
     * mapping; the caller owns the returned tensor.
     */
    public Value.TensorValue read(String key) throws IOException {
        Entry e = entries.get(key);
        if (e == null) throw new KilnFormatException(prefix + ".index: no tensor '" + ProtoReader.printable(key, 120) + "'");
        String what = prefix + ".index: tensor '" + ProtoReader.printable(key, 120) + "'";
        if (e.sliced) throw new KilnFormatException(what + " is stored in slices (partitioned variables are not supported)");
        ElemType type = TfTensors.elemType(e.dtype);
        if (type == null) throw new KilnFormatException(what + " is " + TfTensors.name(e.dtype) + ", not a numeric tensor");
        int[] shape = TfTensors.checkedShape(e.shape, what);
        long n = 1;
        for (int d : shape) n *= d;
        if (n * OnnxTensors.rawSize(type) != e.size)
            throw new KilnFormatException(what + ": " + e.size + " bytes stored for shape " + java.util.Arrays.toString(shape) + " of " + TfTensors.name(e.dtype));
        MemorySegment shard = shard(e.shard);
        if (e.offset < 0 || e.size < 0 || e.offset > shard.byteSize() - e.size)
            throw new KilnFormatException(what + ": bytes [" + e.offset + ", +" + e.size + ") past the end of " + dataFile(e.shard).getFileName()
                    + " (" + shard.byteSize() + " bytes)");
        MemorySegment bytes = shard.asSlice(e.offset, e.size);
        int crc = crc32c(bytes);
        if (mask(crc) != e.crc) throw new KilnFormatException(what + ": CRC32C mismatch (the data file is corrupt)");
        return OnnxTensors.fromRaw(bytes, type, shape);
    }

    private Path dataFile(int shard) {
        return prefix.resolveSibling(String.format("%s.data-%05d-of-%05d", prefix.getFileName(), shard, shards));
    }

    private synchronized MemorySegment shard(int i) throws IOException {
        if (shardMaps[i] == null) {
            Path p = dataFile(i);
            try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ)) {
                long size = ch.size();
                // an automatic arena: tensors used in place keep the mapping alive; the GC unmaps it after
                shardMaps[i] = size == 0 ? MemorySegment.NULL
                        : ch.map(FileChannel.MapMode.READ_ONLY, 0, size, Arena.ofAuto());
            }
        }
        return shardMaps[i];
    }

    // ------------------------------------------------------------------ the SSTable

    interface EntrySink { void accept(String key, MemorySegment value) throws KilnFormatException; }

    /** Walks every key/value of a LevelDB-format table held in bytes, in order. */
    static void readTable(byte[] bytes, String file, EntrySink sink) throws KilnFormatException {
        MemorySegment seg = MemorySegment.ofArray(bytes);
        if (bytes.length < FOOTER) throw new KilnFormatException(file + ": " + bytes.length + " bytes, too short for a table footer (truncated?)");
        long magic = seg.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), bytes.length - 8);
        if (magic != MAGIC) throw new KilnFormatException(file + ": not a TensorFlow checkpoint index (bad table magic; truncated?)");
        long[] pos = {bytes.length - FOOTER};
        long footerEnd = bytes.length - 8;
        varint(seg, pos, footerEnd, file);      // metaindex handle: unused
        varint(seg, pos, footerEnd, file);
        long indexOff = varint(seg, pos, footerEnd, file), indexSize = varint(seg, pos, footerEnd, file);
        MemorySegment index = block(seg, indexOff, indexSize, file, "index block");
        walkBlock(index, file, "index block", (k, handle) -> {
            long[] p = {0};
            long off = varint(handle, p, handle.byteSize(), file), size = varint(handle, p, handle.byteSize(), file);
            MemorySegment data = block(seg, off, size, file, "data block at " + off);
            walkBlock(data, file, "data block at " + off, sink);
        });
    }

    /** The contents of the block at a handle, after checking bounds, compression type and CRC. */
    private static MemorySegment block(MemorySegment file, long off, long size, String name, String what) throws KilnFormatException {
        long limit = file.byteSize() - FOOTER;
        if (off < 0 || size < 0 || off > limit || size > limit - off - 5)
            throw new KilnFormatException(name + ": " + what + " [" + off + ", +" + size + ") lies outside the file (truncated?)");
        MemorySegment contents = file.asSlice(off, size);
        byte type = file.get(ValueLayout.JAVA_BYTE, off + size);
        if (type != 0) throw new KilnFormatException(name + ": " + what + " is compressed (type " + type + "); only uncompressed tables are supported");
        int stored = file.get(ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), off + size + 1);
        CRC32C c = new CRC32C();
        c.update(contents.asByteBuffer());
        c.update(0);
        if (mask((int) c.getValue()) != stored) throw new KilnFormatException(name + ": " + what + ": CRC32C mismatch (the index file is corrupt)");
        return contents;
    }

    private static void walkBlock(MemorySegment b, String file, String what, EntrySink sink) throws KilnFormatException {
        long n = b.byteSize();
        if (n < 4) throw new KilnFormatException(file + ": " + what + " too short");
        long restarts = Integer.toUnsignedLong(b.get(ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), n - 4));
        if (restarts > (n - 4) / 4) throw new KilnFormatException(file + ": " + what + ": " + restarts + " restart points do not fit");
        long end = n - 4 - 4 * restarts;
        long[] pos = {0};
        byte[] key = new byte[0];
        while (pos[0] < end) {
            long shared = varint(b, pos, end, file), fresh = varint(b, pos, end, file), vlen = varint(b, pos, end, file);
            if (shared > key.length || fresh > end - pos[0] || vlen > end - pos[0] - fresh)
                throw new KilnFormatException(file + ": " + what + ": entry at " + pos[0] + " runs past the block");
            byte[] k = new byte[(int) (shared + fresh)];
            System.arraycopy(key, 0, k, 0, (int) shared);
            MemorySegment.copy(b, ValueLayout.JAVA_BYTE, pos[0], k, (int) shared, (int) fresh);
            pos[0] += fresh;
            MemorySegment value = b.asSlice(pos[0], vlen);
            pos[0] += vlen;
            key = k;
            sink.accept(new String(k, java.nio.charset.StandardCharsets.UTF_8), value);
        }
    }

    static long varint(MemorySegment s, long[] pos, long end, String file) throws KilnFormatException {
        long v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (pos[0] >= end) throw new KilnFormatException(file + ": truncated varint in the table");
            byte b = s.get(ValueLayout.JAVA_BYTE, pos[0]++);
            v |= (long) (b & 0x7f) << shift;
            if (b >= 0) {
                if (v < 0 || v > Integer.MAX_VALUE * 16L) throw new KilnFormatException(file + ": table varint out of range");
                return v;
            }
        }
        throw new KilnFormatException(file + ": varint longer than 10 bytes in the table");
    }

    // ------------------------------------------------------------------ the protos

    private static int header(MemorySegment value, String file) throws KilnFormatException {
        ProtoReader r = ProtoReader.of(value, file + " (bundle header)");
        int shards = 1;
        long endianness = 0;
        while (r.next()) {
            switch (r.field()) {
                case 1 -> shards = r.readInt32();
                case 2 -> endianness = r.readVarint();
                default -> r.skip();
            }
        }
        if (endianness != 0) throw new KilnFormatException(file + ": a big-endian checkpoint (not supported)");
        if (shards < 1 || shards > 100_000) throw new KilnFormatException(file + ": " + shards + " shards");
        return shards;
    }

    private static Entry entry(String key, MemorySegment value, String file) throws KilnFormatException {
        ProtoReader r = ProtoReader.of(value, file + " (entry '" + ProtoReader.printable(key, 80) + "')");
        int dtype = 0, shard = 0, crc = 0;
        long[] shape = new long[0];
        long offset = 0, size = 0;
        boolean sliced = false;
        while (r.next()) {
            switch (r.field()) {
                case 1 -> dtype = r.readInt32();
                case 2 -> shape = TfProtoReader.shape(r.readMessage("shape"));
                case 3 -> shard = r.readInt32();
                case 4 -> offset = r.readInt64();
                case 5 -> size = r.readInt64();
                case 6 -> crc = r.readFixed32();
                case 7 -> { sliced = true; r.skip(); }
                default -> r.skip();
            }
        }
        return new Entry(key, dtype, shape, shard, offset, size, crc, sliced);
    }

    // ------------------------------------------------------------------ CRC32C as LevelDB stores it

    static int crc32c(MemorySegment bytes) {
        CRC32C c = new CRC32C();
        long n = bytes.byteSize();
        for (long at = 0; at < n; at += Integer.MAX_VALUE / 2) {   // asByteBuffer is limited to 2 GB
            c.update(bytes.asSlice(at, Math.min(n - at, Integer.MAX_VALUE / 2)).asByteBuffer());
        }
        return (int) c.getValue();
    }

    /** LevelDB's CRC mask: rotate right by 15 bits and add a constant. */
    static int mask(int crc) { return ((crc >>> 15) | (crc << 17)) + 0xa282ead8; }
}
