package dev.kiln.io;

import dev.kiln.backend.Backends;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Tensor;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.zip.CRC32;

/**
 * NumPy {@code .npy} reader and writer, written from the format specification (no library).
 *
 * <p><b>Reading</b> accepts header versions 1.0, 2.0 and 3.0 and the descrs listed in
 * {@link NpyDescr}: float16/32/64, int8/32/64, bool and bfloat16, little- or big-endian
 * (big-endian data is byte-swapped on load). The result is always a new contiguous C-order tensor
 * on the CPU: a {@code fortran_order: True} array is read as the transposed layout and copied into
 * C order (so element {@code [i,j,k]} is the same as in NumPy). The header is parsed by a small
 * strict literal parser, never evaluated. Before any allocation the announced data size is checked
 * against the bytes available (file size, buffer remaining); from a stream of unknown length, data
 * over 64 MiB is buffered in chunks as it arrives, so a lying header never causes a huge allocation.
 * Extra bytes after the data are ignored (as NumPy does); reading from a stream or buffer consumes
 * exactly one array, so several arrays saved back to back can be read in sequence.
 * Every error is a {@link KilnFormatException} whose message starts with the file name.
 *
 * <p><b>Writing</b> produces a version 1.0 header (2.0 when the header exceeds 64 KiB), padded so
 * the data is 64-byte aligned, little-endian data, C order by default or Fortran order on request.
 * Non-contiguous tensors (transposed, sliced, expanded) are written by their logical values.
 * Writes to a path are atomic (temporary file in the same directory, then rename).
 *
 * <p><b>bfloat16</b>: NumPy has no bfloat16. Kiln writes BF16 as descr {@code '<V2'} with the raw
 * 2-byte bf16 bit patterns, which is exactly what {@code np.save} produces for an
 * {@code ml_dtypes.bfloat16} array (the type used by JAX). The file is lossless; plain NumPy loads
 * it as a 2-byte void array, which {@code arr.view(ml_dtypes.bfloat16)} (or, without ml_dtypes,
 * {@code (arr.view('<u2').astype('<u4') << 16).view('<f4')}) turns back into numbers.
 * On read, {@code V2} and the descr {@code 'bfloat16'} (written by some tools with the ml_dtypes
 * type name) load as BF16; note that any other 2-byte void data would also be read as bf16.
 */
public final class Npy {
    private Npy() {}

    /** From a stream of unknown length, data larger than this is buffered before allocating. */
    private static final long DIRECT_LIMIT = 64L << 20;
    private static final int BUFFER_CHUNK = 16 << 20;
    private static final long IO_CHUNK = 1L << 30;

    // ------------------------------------------------------------------ reading

    /** Reads a .npy file. */
    public static Tensor read(Path path) throws IOException {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            return read(ch, ch.size(), path.toString());
        }
    }

    /** Reads one array from in (not closed); name is used in error messages. */
    public static Tensor read(InputStream in, String name) throws IOException {
        return read(Channels.newChannel(in), -1, name);
    }

    /** Reads one array from buf's position, advancing the position past it. */
    public static Tensor read(ByteBuffer buf, String name) throws IOException {
        return read(new BufferChannel(buf), buf.remaining(), name);
    }

    /** @param size bytes available in ch, or -1 if unknown */
    static Tensor read(ReadableByteChannel ch, long size, String name) throws IOException {
        return read(ch, size, name, DIRECT_LIMIT, BUFFER_CHUNK);
    }

    /** As above; directLimit and chunk are parameters so tests can exercise the buffered path. */
    static Tensor read(ReadableByteChannel ch, long size, String name, long directLimit, int chunk) throws IOException {
        NpyHeader h = NpyHeader.read(ch, size, name);
        long need = h.dataBytes(name);
        if (size >= 0 && size - h.bytes() < need) throw truncated(name, need, size - h.bytes());
        DType dt = h.descr().dtype();
        int[] stored = h.fortranOrder() ? reversed(h.shape()) : h.shape();
        Tensor raw = size >= 0 || need <= directLimit ? readDirect(ch, dt, stored, need, name) : readBuffered(ch, dt, stored, need, name, chunk);
        try {
            if (h.descr().bigEndian()) swapBytes(raw.segment(), dt.byteSize(), raw.numel());
            if (dt == DType.BOOL) normalizeBool(raw.segment(), need);
            return h.fortranOrder() ? toCOrder(raw) : raw;
        } catch (RuntimeException e) {
            raw.close();
            throw e;
        }
    }

    private static Tensor readDirect(ReadableByteChannel ch, DType dt, int[] shape, long need, String name) throws IOException {
        Tensor t = Tensor.empty(Backends.cpu(), dt, shape);
        long got;
        try {
            got = fill(ch, t.segment(), need);
        } catch (IOException | RuntimeException e) {
            t.close();
            throw e;
        }
        if (got < need) {
            t.close();
            throw truncated(name, need, got);
        }
        return t;
    }

    /** Stream of unknown length: collect the bytes first, so the allocation follows real data. */
    private static Tensor readBuffered(ReadableByteChannel ch, DType dt, int[] shape, long need, String name, int chunk) throws IOException {
        List<byte[]> chunks = new ArrayList<>();
        long got = 0;
        while (got < need) {
            ByteBuffer bb = ByteBuffer.allocate((int) Math.min(chunk, need - got));
            while (bb.hasRemaining() && ch.read(bb) >= 0) { /* keep reading */ }
            got += bb.position();
            chunks.add(bb.array());
            if (bb.hasRemaining()) throw truncated(name, need, got);
        }
        Tensor t = Tensor.empty(Backends.cpu(), dt, shape);
        long off = 0;
        for (byte[] c : chunks) {
            MemorySegment.copy(c, 0, t.segment(), ValueLayout.JAVA_BYTE, off, c.length);
            off += c.length;
        }
        return t;
    }

    /** Reads up to n bytes into the start of seg; returns the count (less than n only at EOF). */
    private static long fill(ReadableByteChannel ch, MemorySegment seg, long n) throws IOException {
        long got = 0;
        while (got < n) {
            ByteBuffer bb = seg.asSlice(got, Math.min(IO_CHUNK, n - got)).asByteBuffer();
            while (bb.hasRemaining()) {
                if (ch.read(bb) < 0) return got + bb.position();
            }
            got += bb.capacity();
        }
        return got;
    }

    private static KilnFormatException truncated(String name, long need, long got) {
        return new KilnFormatException(name + ": truncated data: expected " + need + " bytes, found " + Math.max(got, 0));
    }

    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED;
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED;
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED;

    /** Reverses the bytes of each of the n elements of the given size (big-endian file data). */
    private static void swapBytes(MemorySegment seg, int size, long n) {
        switch (size) {
            case 2 -> { for (long i = 0; i < n; i++) seg.setAtIndex(U16, i, Short.reverseBytes(seg.getAtIndex(U16, i))); }
            case 4 -> { for (long i = 0; i < n; i++) seg.setAtIndex(U32, i, Integer.reverseBytes(seg.getAtIndex(U32, i))); }
            case 8 -> { for (long i = 0; i < n; i++) seg.setAtIndex(U64, i, Long.reverseBytes(seg.getAtIndex(U64, i))); }
            default -> { }
        }
    }

    /** NumPy bools are 0/1 bytes; anything else non-zero becomes 1. */
    private static void normalizeBool(MemorySegment seg, long n) {
        for (long i = 0; i < n; i++)
            if ((seg.get(ValueLayout.JAVA_BYTE, i) & 0xff) > 1) seg.set(ValueLayout.JAVA_BYTE, i, (byte) 1);
    }

    /** raw holds a Fortran-order array as the C-order array of reversed shape: transpose and copy. */
    private static Tensor toCOrder(Tensor raw) {
        if (raw.dim() <= 1) return raw;
        int[] perm = new int[raw.dim()];
        for (int i = 0; i < perm.length; i++) perm[i] = perm.length - 1 - i;
        try (Tensor view = raw.permute(perm)) {
            return view.contiguous();
        } finally {
            raw.close();
        }
    }

    private static int[] reversed(int[] s) {
        int[] r = new int[s.length];
        for (int i = 0; i < s.length; i++) r[i] = s[s.length - 1 - i];
        return r;
    }

    // ------------------------------------------------------------------ writing

    /** Writes t as a C-order .npy file, atomically. */
    public static void write(Path path, Tensor t) throws IOException {
        write(path, t, false);
    }

    /** Writes t as a .npy file in C or Fortran order, atomically. */
    public static void write(Path path, Tensor t, boolean fortranOrder) throws IOException {
        Objects.requireNonNull(t, "tensor");
        AtomicWrite.write(path, ch -> {
            try (Encoded e = Encoded.of(t, fortranOrder)) {
                e.writeTo(ch);
            }
        });
    }

    /** Writes t in C order to out (which stays open). */
    public static void write(OutputStream out, Tensor t) throws IOException {
        write(out, t, false);
    }

    /** Writes t in C or Fortran order to out (which stays open). */
    public static void write(OutputStream out, Tensor t, boolean fortranOrder) throws IOException {
        Objects.requireNonNull(t, "tensor");
        try (Encoded e = Encoded.of(t, fortranOrder)) {
            e.writeTo(Channels.newChannel(out));
        }
    }

    /** A tensor ready to write: its header and its data laid out contiguously in file order. */
    static final class Encoded implements AutoCloseable {
        private final byte[] header;
        private final Tensor data;

        private Encoded(byte[] header, Tensor data) {
            this.header = header;
            this.data = data;
        }

        static Encoded of(Tensor t, boolean fortranOrder) {
            boolean fortran = fortranOrder && t.dim() > 1;
            byte[] header = NpyHeader.encode(NpyDescr.of(t.dtype()), fortran, t.shape());
            if (!fortran) return new Encoded(header, t.contiguous());
            int[] perm = new int[t.dim()];
            for (int i = 0; i < perm.length; i++) perm[i] = perm.length - 1 - i;
            try (Tensor view = t.permute(perm)) {
                return new Encoded(header, view.contiguous());
            }
        }

        long size() { return header.length + dataBytes(); }

        private long dataBytes() { return data.numel() * data.dtype().byteSize(); }

        private MemorySegment bytes() {
            return data.segment().asSlice(data.offset() * data.dtype().byteSize(), dataBytes());
        }

        long crc32() {
            CRC32 crc = new CRC32();
            crc.update(header);
            MemorySegment b = bytes();
            for (long off = 0; off < b.byteSize(); off += IO_CHUNK)
                crc.update(b.asSlice(off, Math.min(IO_CHUNK, b.byteSize() - off)).asByteBuffer());
            return crc.getValue();
        }

        void writeTo(WritableByteChannel ch) throws IOException {
            writeAll(ch, ByteBuffer.wrap(header));
            MemorySegment b = bytes();
            for (long off = 0; off < b.byteSize(); off += IO_CHUNK)
                writeAll(ch, b.asSlice(off, Math.min(IO_CHUNK, b.byteSize() - off)).asByteBuffer());
        }

        @Override public void close() { data.close(); }
    }

    private static void writeAll(WritableByteChannel ch, ByteBuffer bb) throws IOException {
        while (bb.hasRemaining()) ch.write(bb);
    }

    /** A read-only channel over a ByteBuffer that advances the buffer's position. */
    private static final class BufferChannel implements ReadableByteChannel {
        private final ByteBuffer src;

        BufferChannel(ByteBuffer src) { this.src = src; }

        @Override
        public int read(ByteBuffer dst) {
            if (!src.hasRemaining()) return dst.hasRemaining() ? -1 : 0;
            int n = Math.min(dst.remaining(), src.remaining());
            dst.put(src.slice(src.position(), n));
            src.position(src.position() + n);
            return n;
        }

        @Override public boolean isOpen() { return true; }
        @Override public void close() { }
    }
}
