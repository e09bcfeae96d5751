package dev.kiln.io;

import dev.kiln.backend.Backends;
import dev.kiln.io.SafetensorsHeader.Entry;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The safetensors format (Hugging Face): an 8-byte little-endian header length, a JSON header
 * naming each tensor's dtype, shape and byte range, then the raw little-endian data. Kiln reads and
 * writes F32, F64, BF16, F16, I8, I32, I64 and BOOL (the same names in the file).
 * <ul>
 * <li>{@link #write} writes tensors in the map's iteration order (pass a TreeMap for sorted names)
 *     atomically: a temporary file in the target's directory, fsync, then rename over the target.
 *     Non-contiguous tensors are written as their contiguous copy.</li>
 * <li>{@link #read} copies every tensor into memory Kiln owns; the file is closed on return.</li>
 * <li>{@link #map} memory-maps the file instead (no copy; read-only tensors that stay valid until
 *     the returned {@link SafetensorsFile} is closed).</li>
 * </ul>
 * The header is validated before any tensor memory is allocated (see {@link SafetensorsHeader}).
 * Format errors are {@link IllegalArgumentException}s, I/O errors {@link UncheckedIOException}s;
 * both name the file.
 */
public final class Safetensors {
    private Safetensors() {}

    /** Writes at most this many bytes per channel call (ByteBuffers are int-indexed). */
    private static final long IO_CHUNK = 1L << 30;

    /**
     * Tensors in file order and the file's metadata. Closing it closes the tensors; a view taken
     * from one (e.g. {@code detach()}) keeps that tensor's memory alive past the close.
     */
    public record Contents(Map<String, Tensor> tensors, Map<String, String> metadata) implements AutoCloseable {
        public Tensor get(String name) {
            Tensor t = tensors.get(name);
            if (t == null) throw new IllegalArgumentException("safetensors: no tensor named '" + name + "'; names: " + tensors.keySet());
            return t;
        }

        @Override
        public void close() {
            for (Tensor t : tensors.values()) t.close();
        }
    }

    // ---------------------------------------------------------------- writing

    public static void write(Path file, Map<String, Tensor> tensors) { write(file, tensors, Map.of()); }

    /**
     * A copy of metadata in the order a file gets it: the map's own order when it has one (a
     * {@link java.util.SequencedMap} such as LinkedHashMap), otherwise sorted by key, so a
     * {@code Map.of(...)} or HashMap, whose order can change from one JVM run to the next, still
     * gives byte-identical files.
     */
    public static java.util.LinkedHashMap<String, String> stableOrder(Map<String, String> metadata) {
        if (metadata == null) return new java.util.LinkedHashMap<>();
        return new java.util.LinkedHashMap<>(metadata instanceof java.util.SequencedMap<String, String> ? metadata : new java.util.TreeMap<>(metadata));
    }

    /** Writes tensors and string metadata (in {@link #stableOrder} order) to file, atomically replacing any existing file. */
    public static void write(Path file, Map<String, Tensor> tensors, Map<String, String> metadata) {
        List<Tensor> data = new ArrayList<>();
        try {
            if (metadata != null)
                metadata.forEach((k, v) -> {
                    if (k == null || v == null)
                        throw new IllegalArgumentException("safetensors: " + file + ": metadata " + k + "=" + v + " has a null");
                });
            List<Entry> entries = layout(file, tensors, data);
            byte[] header = SafetensorsHeader.encode(entries, metadata);
            AtomicWrite.write(file, ch -> {
                writeFully(ch, ByteBuffer.wrap(header));
                for (Tensor t : data) writeTensor(ch, t);
            });
        } catch (IOException e) {
            throw new UncheckedIOException("safetensors: cannot write " + file + ": " + e.getMessage(), e);
        } finally {
            for (Tensor t : data) t.close();
        }
    }

    /** Entries with consecutive offsets; fills data with a contiguous reference per tensor. */
    private static List<Entry> layout(Path file, Map<String, Tensor> tensors, List<Tensor> data) {
        List<Entry> entries = new ArrayList<>();
        long at = 0;
        for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
            String name = e.getKey();
            Tensor t = e.getValue();
            if (name == null || name.isEmpty() || name.equals(SafetensorsHeader.METADATA_KEY))
                throw new IllegalArgumentException("safetensors: " + file + ": invalid tensor name '" + name + "'");
            if (t == null || t.isClosed())
                throw new IllegalArgumentException("safetensors: " + file + ": tensor '" + name + "' is " + (t == null ? "null" : "closed"));
            long bytes = t.numel() * t.dtype().byteSize();
            entries.add(new Entry(name, t.dtype(), t.shape(), at, at + bytes));
            data.add(Scope.escape(t.contiguous()));
            at += bytes;
        }
        return entries;
    }

    private static void writeTensor(FileChannel ch, Tensor t) throws IOException {
        long es = t.dtype().byteSize();
        MemorySegment seg = t.segment().asSlice(t.offset() * es, t.numel() * es);
        for (long p = 0; p < seg.byteSize(); p += IO_CHUNK)
            writeFully(ch, seg.asSlice(p, Math.min(IO_CHUNK, seg.byteSize() - p)).asByteBuffer());
    }

    private static void writeFully(FileChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) ch.write(b);
    }

    // ---------------------------------------------------------------- reading

    /** Reads every tensor into owned CPU memory. */
    public static Contents read(Path file) {
        String name = file.toString();
        Map<String, Tensor> out = new LinkedHashMap<>();
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            SafetensorsHeader h = SafetensorsHeader.read(ch, name);
            for (Entry e : h.entries) {
                Tensor t = Scope.escape(Tensor.empty(Backends.cpu(), e.dtype(), e.shape()));
                out.put(e.name(), t);
                readInto(ch, t.segment(), h.dataStart + e.begin(), name);
            }
            return new Contents(Collections.unmodifiableMap(out), h.metadata);
        } catch (IOException e) {
            out.values().forEach(Tensor::close);
            throw new UncheckedIOException("safetensors: cannot read " + name + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            out.values().forEach(Tensor::close);
            throw e;
        }
    }

    private static void readInto(FileChannel ch, MemorySegment dst, long position, String file) throws IOException {
        for (long p = 0; p < dst.byteSize(); p += IO_CHUNK) {
            ByteBuffer b = dst.asSlice(p, Math.min(IO_CHUNK, dst.byteSize() - p)).asByteBuffer();
            SafetensorsHeader.readFully(ch, b, position + p, file);
        }
    }

    /** Memory-maps the file: tensors are read-only views of the mapping, valid until it is closed. */
    public static SafetensorsFile map(Path file) { return SafetensorsFile.open(file); }
}
