package dev.kiln.io;

import dev.kiln.tensor.Shape;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.ReadableByteChannel;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The .npy header: magic {@code \x93NUMPY}, version (1.0: 2-byte length, latin-1; 2.0: 4-byte
 * length; 3.0: 4-byte length, UTF-8), then a Python dict literal with exactly the keys descr,
 * fortran_order and shape, padded with spaces and a newline so the data starts 64-byte aligned.
 *
 * @param bytes total header size in bytes (magic to end of padding): the data offset
 */
record NpyHeader(NpyDescr descr, boolean fortranOrder, int[] shape, int major, long bytes) {
    private static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};
    private static final int MAX_HEADER = 1 << 20;
    private static final int MAX_RANK = 64;
    private static final Set<String> KEYS = Set.of("descr", "fortran_order", "shape");

    /** Bytes of array data the header announces. */
    long dataBytes(String name) throws KilnFormatException {
        try {
            long n = descr.dtype().byteSize();
            for (int d : shape) n = Math.multiplyExact(n, (long) d);
            return n;
        } catch (ArithmeticException e) {
            throw new KilnFormatException(name + ": bad header: shape " + Shape.str(shape) + " is too large");
        }
    }

    /**
     * Reads and validates a header from ch.
     * @param size bytes available from the start of the header, or -1 if unknown
     */
    static NpyHeader read(ReadableByteChannel ch, long size, String name) throws IOException {
        ByteBuffer pre = readExactly(ch, 8, name, "header");
        for (int i = 0; i < MAGIC.length; i++)
            if (pre.get(i) != MAGIC[i]) throw new KilnFormatException(name + ": not a .npy file (bad magic bytes)");
        int major = pre.get(6), minor = pre.get(7);
        if (major < 1 || major > 3 || minor != 0)
            throw new KilnFormatException(name + ": unsupported .npy format version " + major + "." + minor);
        int lenBytes = major == 1 ? 2 : 4;
        ByteBuffer lb = readExactly(ch, lenBytes, name, "header").order(ByteOrder.LITTLE_ENDIAN);
        long len = major == 1 ? Short.toUnsignedInt(lb.getShort(0)) : Integer.toUnsignedLong(lb.getInt(0));
        long total = 8 + lenBytes + len;
        if (len > MAX_HEADER) throw new KilnFormatException(name + ": bad header: header length " + len + " exceeds " + MAX_HEADER + " bytes");
        if (size >= 0 && total > size)
            throw new KilnFormatException(name + ": truncated header: expected " + total + " bytes, found " + size);
        ByteBuffer hb = readExactly(ch, (int) len, name, "header");
        String text = new String(hb.array(), 0, (int) len, major == 3 ? StandardCharsets.UTF_8 : StandardCharsets.ISO_8859_1);
        return parse(text, major, total, name);
    }

    private static NpyHeader parse(String text, int major, long total, String name) throws KilnFormatException {
        try {
            return parseDict(text, major, total, name);
        } catch (KilnFormatException e) { // messages quote header text, which may hold control characters
            throw new KilnFormatException(SafetensorsHeader.oneLine(e.getMessage()), e);
        }
    }

    private static NpyHeader parseDict(String text, int major, long total, String name) throws KilnFormatException {
        if (!(PyLiteral.parse(text, name) instanceof Map<?, ?> m))
            throw new KilnFormatException(name + ": bad header: not a dict: " + text.strip());
        for (String k : KEYS)
            if (!m.containsKey(k)) throw new KilnFormatException(name + ": bad header: missing key '" + k + "' in " + text.strip());
        for (Object k : m.keySet())
            if (!KEYS.contains(k)) throw new KilnFormatException(name + ": bad header: unexpected key '" + k + "'");
        NpyDescr descr = NpyDescr.parse(m.get("descr"), name);
        if (!(m.get("fortran_order") instanceof Boolean fortran))
            throw new KilnFormatException(name + ": bad header: 'fortran_order' must be True or False, got " + m.get("fortran_order"));
        return new NpyHeader(descr, fortran, shape(m.get("shape"), name), major, total);
    }

    private static int[] shape(Object v, String name) throws KilnFormatException {
        if (!(v instanceof PyLiteral.Tuple(List<Object> items)))
            throw new KilnFormatException(name + ": bad header: 'shape' must be a tuple, got " + v);
        if (items.size() > MAX_RANK) throw new KilnFormatException(name + ": bad header: rank " + items.size() + " exceeds " + MAX_RANK);
        int[] shape = new int[items.size()];
        for (int i = 0; i < shape.length; i++) {
            if (!(items.get(i) instanceof Long d) || d < 0 || d > Integer.MAX_VALUE)
                throw new KilnFormatException(name + ": bad header: invalid dimension " + items.get(i) + " in shape " + items);
            shape[i] = (int) (long) d;
        }
        return shape;
    }

    /** Encodes a version 1.0 header (2.0 if it does not fit), padded to a multiple of 64 bytes. */
    static byte[] encode(String descr, boolean fortranOrder, int[] shape) {
        StringBuilder dims = new StringBuilder("(");
        for (int i = 0; i < shape.length; i++) dims.append(i > 0 ? ", " : "").append(shape[i]);
        dims.append(shape.length == 1 ? ",)" : ")");
        String dict = "{'descr': '" + descr + "', 'fortran_order': " + (fortranOrder ? "True" : "False")
                + ", 'shape': " + dims + ", }";
        int prefix = 10;
        if (pad(prefix, dict.length()) - prefix > 0xffff) prefix = 12;
        int total = pad(prefix, dict.length());
        byte[] out = new byte[total];
        System.arraycopy(MAGIC, 0, out, 0, MAGIC.length);
        out[6] = (byte) (prefix == 10 ? 1 : 2);
        ByteBuffer bb = ByteBuffer.wrap(out).order(ByteOrder.LITTLE_ENDIAN);
        if (prefix == 10) bb.putShort(8, (short) (total - prefix));
        else bb.putInt(8, total - prefix);
        byte[] text = dict.getBytes(StandardCharsets.ISO_8859_1);
        System.arraycopy(text, 0, out, prefix, text.length);
        for (int i = prefix + text.length; i < total - 1; i++) out[i] = ' ';
        out[total - 1] = '\n';
        return out;
    }

    /** Total header size: prefix + dict + newline, rounded up to 64. */
    private static int pad(int prefix, int dictLen) {
        int raw = prefix + dictLen + 1;
        return (raw + 63) / 64 * 64;
    }

    /** Reads exactly n bytes or fails with a truncation error naming the file. */
    static ByteBuffer readExactly(ReadableByteChannel ch, int n, String name, String what) throws IOException {
        ByteBuffer bb = ByteBuffer.allocate(n);
        while (bb.hasRemaining()) {
            if (ch.read(bb) < 0)
                throw new KilnFormatException(name + ": truncated " + what + ": expected at least " + n + " more bytes, found " + bb.position());
        }
        return bb;
    }
}
