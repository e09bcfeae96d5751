package dev.kiln.security;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/**
 * Byte-level builders for the hostile files of {@link MaliciousFilesTest}: pickles opcode by
 * opcode, zip archives with patched central-directory fields, and .npy headers. No Python.
 */
final class HostileBytes {
    private HostileBytes() {}

    // pickle opcodes (CPython's Lib/pickle.py)
    static final int MARK = '(', STOP = '.', POP = '0', NONE = 'N', REDUCE = 'R', BUILD = 'b', APPEND = 'a';
    static final int EMPTY_DICT = '}', EMPTY_LIST = ']', EMPTY_TUPLE = ')', SETITEM = 's', TUPLE = 't', OBJ = 'o';
    static final int BINPERSID = 'Q', NEWOBJ = 0x81, NEWOBJ_EX = 0x92, TUPLE1 = 0x85, NEWFALSE = 0x89;
    static final int STACK_GLOBAL = 0x93, MEMOIZE = 0x94;

    /** A pickle written opcode by opcode. */
    static final class Pickle {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();

        Pickle op(int op) { out.write(op); return this; }

        Pickle proto(int v) { return op(0x80).op(v); }

        /** GLOBAL: "c module\nname\n". */
        Pickle global(String module, String name) { return op('c').text(module + "\n" + name + "\n"); }

        /** INST: "i module\nname\n", arguments from the last MARK. */
        Pickle inst(String module, String name) { return op('i').text(module + "\n" + name + "\n"); }

        /** A str: SHORT_BINUNICODE or BINUNICODE. */
        Pickle str(String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            if (b.length < 256) op(0x8c).op(b.length);
            else op('X').le32(b.length);
            out.writeBytes(b);
            return this;
        }

        Pickle int32(int v) { return op('J').le32(v); }

        /** BINGET of a memo index below 256. */
        Pickle get(int index) { return op('h').op(index); }

        private Pickle text(String s) {
            out.writeBytes(s.getBytes(StandardCharsets.UTF_8));
            return this;
        }

        private Pickle le32(int v) {
            for (int i = 0; i < 4; i++) out.write(v >>> (8 * i));
            return this;
        }

        byte[] bytes() { return out.toByteArray(); }
    }

    /** Zip archives built with java.util.zip, then patched field by field. */
    static final class Zip {
        private final ZipOutputStream zip;

        private Zip(ZipOutputStream zip) { this.zip = zip; }

        interface Body {
            void add(Zip z) throws IOException;
        }

        static byte[] build(Body body) {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            try (ZipOutputStream z = new ZipOutputStream(bytes)) {
                body.add(new Zip(z));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return bytes.toByteArray();
        }

        Zip stored(String name, byte[] data) throws IOException {
            ZipEntry e = new ZipEntry(name);
            e.setMethod(ZipEntry.STORED);
            e.setSize(data.length);
            e.setCompressedSize(data.length);
            CRC32 crc = new CRC32();
            crc.update(data);
            e.setCrc(crc.getValue());
            zip.putNextEntry(e);
            zip.write(data);
            zip.closeEntry();
            return this;
        }

        Zip deflated(String name, byte[] data) throws IOException {
            ZipEntry e = new ZipEntry(name);
            e.setMethod(ZipEntry.DEFLATED);
            zip.putNextEntry(e);
            zip.write(data);
            zip.closeEntry();
            return this;
        }

        /** Sets the uncompressed size a member's central-directory record declares. */
        static byte[] setCentralSize(byte[] zip, String name, long size) { return setCentralField(zip, name, 24, size); }

        /** Sets a 4-byte field (offset from the record's signature) of a member's central-directory record. */
        static byte[] setCentralField(byte[] zip, String name, int offset, long value) {
            byte[] out = zip.clone();
            ByteBuffer b = ByteBuffer.wrap(out).order(ByteOrder.LITTLE_ENDIAN);
            byte[] n = name.getBytes(StandardCharsets.UTF_8);
            for (int at = out.length - 46; at >= 0; at--) {
                if (b.getInt(at) != 0x02014b50 || (b.getShort(at + 28) & 0xffff) != n.length) continue;
                if (!new String(out, at + 46, n.length, StandardCharsets.UTF_8).equals(name)) continue;
                b.putInt(at + offset, (int) value);
                return out;
            }
            throw new IllegalArgumentException("no central-directory record for " + name);
        }
    }

    /** A version 1.0 .npy file: magic, the header dict padded to 64 bytes, then dataBytes zero bytes. */
    static byte[] npyHeader(String dict, int dataBytes) {
        int total = (10 + dict.length() + 1 + 63) / 64 * 64;
        ByteBuffer b = ByteBuffer.allocate(total + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.put(new byte[]{(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0}).putShort((short) (total - 10));
        b.put(dict.getBytes(StandardCharsets.ISO_8859_1));
        while (b.position() < total - 1) b.put((byte) ' ');
        b.put((byte) '\n');
        return b.array();
    }
}
