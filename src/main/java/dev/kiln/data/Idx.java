package dev.kiln.data;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;

import java.io.BufferedInputStream;
import java.io.ByteArrayInputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.zip.GZIPInputStream;

/**
 * Reader for the IDX format of MNIST and Fashion-MNIST, raw or gzipped (detected by the gzip magic).
 * <pre>
 * bytes 0-1  0x0000                     bytes 4..  ndim big-endian unsigned 32-bit dims
 * byte  2    type code (see {@link Type}) then     the elements, row-major, big-endian
 * byte  3    ndim
 * </pre>
 * Elements are converted to a Kiln dtype while streaming, optionally with an affine map
 * {@code v * scale + shift} (floating targets only): {@code read(f, F32, 1/255.0, 0)} gives pixels in
 * [0, 1]. Lossy integer conversions (ubyte to I8, floats to ints) are refused.
 * <p>The header is checked against the file before anything is allocated: a raw file must hold
 * exactly the declared bytes; a gzip file's trailer (uncompressed size mod 2^32) must agree with the
 * header, and the declared size must not exceed what deflate could expand the file to. So a lying
 * header gives an error naming the file, never a huge allocation. Multi-member gzip files (plain
 * concatenations of gzip streams) are therefore not accepted. Format errors are
 * {@link IllegalArgumentException}s, I/O errors {@link UncheckedIOException}s; both name the file.
 */
public final class Idx {
    private Idx() {}

    /** Deflate expands at most ~1032:1; a declared size beyond this cannot be in the file. */
    private static final long MAX_DEFLATE_RATIO = 1100;
    private static final int CHUNK = 1 << 16;
    private static final ValueLayout.OfShort BE_SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final ValueLayout.OfInt BE_INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final ValueLayout.OfFloat BE_FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final ValueLayout.OfDouble BE_DOUBLE = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    /** IDX element types with their codes, sizes and the Kiln dtype each maps to by default. */
    public enum Type {
        UBYTE(0x08, 1, DType.I32), BYTE(0x09, 1, DType.I8), SHORT(0x0B, 2, DType.I32),
        INT(0x0C, 4, DType.I32), FLOAT(0x0D, 4, DType.F32), DOUBLE(0x0E, 8, DType.F64);

        public final int code;
        public final int size;
        /** The lossless default dtype (ubyte and short widen to I32: Kiln has no U8/I16). */
        public final DType natural;

        Type(int code, int size, DType natural) {
            this.code = code;
            this.size = size;
            this.natural = natural;
        }

        public boolean isInteger() { return this != FLOAT && this != DOUBLE; }

        static Type of(int code, String name) {
            for (Type t : values()) if (t.code == code) return t;
            throw new IllegalArgumentException(String.format("idx: %s: unknown element type code 0x%02x "
                    + "(expected 0x08 ubyte, 0x09 byte, 0x0B short, 0x0C int, 0x0D float or 0x0E double)", name, code));
        }
    }

    /** A parsed header: element type, dims, and the header's length in bytes. */
    public record Header(Type type, int[] dims, int headerBytes) {
        public long numel() { return Shape.numel(dims); }
        public long dataBytes() { return numel() * type.size; }
        @Override public String toString() { return type + Arrays.toString(dims); }
    }

    // ---------------------------------------------------------------- public API

    /** Reads a file with each type's natural dtype ({@link Type#natural}). */
    public static Tensor read(Path file) { return read(file, null, 1, 0); }

    /** Reads a file converted to dtype (null: natural dtype). */
    public static Tensor read(Path file, DType dtype) { return read(file, dtype, 1, 0); }

    /** Reads a file converted to dtype, mapping each value v to {@code v * scale + shift}. */
    public static Tensor read(Path file, DType dtype, double scale, double shift) {
        String name = file.toString();
        try {
            long size = Files.size(file);
            long isize = gzipTrailer(file, size);
            try (InputStream in = Files.newInputStream(file)) {
                return read(in, size, isize, name, dtype, scale, shift);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("idx: cannot read " + name + ": " + e.getMessage(), e);
        }
    }

    /** Reads IDX file contents held in memory (e.g. a class-path resource); name is used in errors. */
    public static Tensor read(byte[] bytes, String name, DType dtype, double scale, double shift) {
        long isize = -1;
        int n = bytes.length;
        if (n >= 18 && isGzip(bytes[0], bytes[1]))
            isize = MemorySegment.ofArray(bytes).get(Storage.I32, n - 4) & 0xffffffffL;
        try {
            return read(new ByteArrayInputStream(bytes), n, isize, name, dtype, scale, shift);
        } catch (IOException e) {
            throw new UncheckedIOException("idx: cannot read " + name + ": " + e.getMessage(), e);
        }
    }

    /** Reads only the header of a file. */
    public static Header header(Path file) {
        try (InputStream in = open(Files.newInputStream(file))) {
            return readHeader(new DataInputStream(in), file.toString());
        } catch (IOException e) {
            throw new UncheckedIOException("idx: cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    // ---------------------------------------------------------------- reading

    private static Tensor read(InputStream raw, long size, long isize, String name, DType dtype,
                               double scale, double shift) throws IOException {
        InputStream in = open(raw);
        boolean gzip = in instanceof GZIPInputStream;
        DataInputStream data = new DataInputStream(in);
        Header h = readHeader(data, name);
        DType target = dtype == null ? h.type.natural : dtype;
        checkConversion(h.type, target, scale, shift, name);
        checkSize(h, size, gzip, isize, name);
        Tensor out = Tensor.zeros(target, h.dims);
        try {
            decode(data, h, out, scale, shift, name);
            if (data.read() != -1)
                throw new IllegalArgumentException("idx: " + name + ": data continues past the " + h.dataBytes()
                        + " bytes declared by header " + h);
            return out;
        } catch (RuntimeException | IOException e) {
            out.close();
            throw e;
        }
    }

    private static InputStream open(InputStream raw) throws IOException {
        BufferedInputStream b = new BufferedInputStream(raw, CHUNK);
        b.mark(2);
        int b0 = b.read(), b1 = b.read();
        b.reset();
        return isGzip((byte) b0, (byte) b1) ? new GZIPInputStream(b, CHUNK) : b;
    }

    private static boolean isGzip(byte b0, byte b1) { return b0 == (byte) 0x1f && b1 == (byte) 0x8b; }

    /** The gzip trailer's ISIZE (uncompressed length mod 2^32), or -1 when the file is not gzip. */
    private static long gzipTrailer(Path file, long size) throws IOException {
        if (size < 18) return -1;
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "r")) {
            if (!isGzip(f.readByte(), f.readByte())) return -1;
            f.seek(size - 4);
            return Integer.reverseBytes(f.readInt()) & 0xffffffffL;
        }
    }

    private static Header readHeader(DataInputStream in, String name) throws IOException {
        try {
            int zero = in.readUnsignedShort();
            int code = in.readUnsignedByte();
            int ndim = in.readUnsignedByte();
            if (zero != 0)
                throw new IllegalArgumentException(String.format("idx: %s is not an IDX file (first bytes 0x%04x, expected 0x0000)", name, zero));
            Type type = Type.of(code, name);
            int[] dims = new int[ndim];
            for (int i = 0; i < ndim; i++) {
                long d = in.readInt() & 0xffffffffL;
                if (d > Integer.MAX_VALUE)
                    throw new IllegalArgumentException("idx: " + name + ": dimension " + i + " is " + d + ", beyond the supported 2^31-1");
                dims[i] = (int) d;
            }
            return new Header(type, dims, 4 + 4 * ndim);
        } catch (EOFException e) {
            throw new IllegalArgumentException("idx: " + name + ": truncated header", e);
        }
    }

    private static void checkConversion(Type src, DType dst, double scale, double shift, String name) {
        String why = null;
        if (dst.isFloating()) return;
        if (scale != 1 || shift != 0) why = "scale/shift need a floating dtype";
        else if (dst == DType.BOOL || !src.isInteger()) why = "the conversion would lose values";
        else if (dst == DType.I8 && src != Type.BYTE) why = "values do not fit int8";
        if (why != null)
            throw new IllegalArgumentException("idx: " + name + ": cannot read " + src.name().toLowerCase()
                    + " data as " + dst.pyName() + ": " + why);
    }

    /** Rejects headers that declare more (or, for raw files, other) data than the file can hold. */
    private static void checkSize(Header h, long size, boolean gzip, long isize, String name) {
        long bytes;
        try {
            long n = 1;
            for (int d : h.dims) n = Math.multiplyExact(n, d);
            bytes = Math.multiplyExact(n, (long) h.type.size);
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException("idx: " + name + ": header " + h + " declares an impossible size");
        }
        long total = bytes + h.headerBytes;
        if (!gzip) {
            if (total > size)
                throw new IllegalArgumentException("idx: " + name + ": truncated: header " + h + " declares " + bytes
                        + " bytes of data but the file holds only " + (size - h.headerBytes));
            return;
        }
        if (total > size * MAX_DEFLATE_RATIO + 1024)
            throw new IllegalArgumentException("idx: " + name + ": header " + h + " declares " + total
                    + " bytes, more than a gzip file of " + size + " bytes can hold");
        if (isize != (total & 0xffffffffL))
            throw new IllegalArgumentException("idx: " + name + ": header " + h + " declares " + total
                    + " bytes but the gzip trailer records " + isize + " (mod 2^32): file truncated or header wrong");
    }

    // ---------------------------------------------------------------- decoding

    private static void decode(DataInputStream in, Header h, Tensor out, double scale, double shift,
                               String name) throws IOException {
        int es = h.type.size;
        byte[] buf = new byte[CHUNK];
        MemorySegment src = MemorySegment.ofArray(buf);
        long remaining = h.dataBytes(), index = 0;
        while (remaining > 0) {
            int len = (int) Math.min(CHUNK, remaining);
            try {
                in.readFully(buf, 0, len);
            } catch (EOFException e) {
                throw new IllegalArgumentException("idx: " + name + ": truncated: header " + h + " declares "
                        + h.dataBytes() + " bytes of data but the stream ends after " + (h.dataBytes() - remaining) + "+", e);
            }
            int n = len / es;
            decodeChunk(h.type, src, n, out, index, scale, shift);
            index += n;
            remaining -= len;
        }
    }

    private static void decodeChunk(Type type, MemorySegment src, int n, Tensor out, long at,
                                    double scale, double shift) {
        MemorySegment dst = out.segment();
        DType t = out.dtype();
        if (type == Type.UBYTE && t == DType.F32) {
            float s = (float) scale, b = (float) shift;
            for (int i = 0; i < n; i++)
                dst.setAtIndex(Storage.F32, at + i, (src.get(ValueLayout.JAVA_BYTE, i) & 0xff) * s + b);
        } else if (t.isFloating()) {
            Storage st = out.storage();
            for (int i = 0; i < n; i++) st.setDouble(t, at + i, element(type, src, i) * scale + shift);
        } else {
            Storage st = out.storage();
            for (int i = 0; i < n; i++) st.setLong(t, at + i, (long) element(type, src, i));
        }
    }

    /** Element i of a big-endian chunk (every IDX integer type is exact in a double). */
    private static double element(Type type, MemorySegment src, int i) {
        return switch (type) {
            case UBYTE -> src.get(ValueLayout.JAVA_BYTE, i) & 0xff;
            case BYTE -> src.get(ValueLayout.JAVA_BYTE, i);
            case SHORT -> src.getAtIndex(BE_SHORT, i);
            case INT -> src.getAtIndex(BE_INT, i);
            case FLOAT -> src.getAtIndex(BE_FLOAT, i);
            case DOUBLE -> src.getAtIndex(BE_DOUBLE, i);
        };
    }
}
