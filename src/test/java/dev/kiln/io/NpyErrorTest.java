package dev.kiln.io;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Corrupt, truncated, lying and hostile .npy files: each gives a clear error naming the file. */
class NpyErrorTest {
    @TempDir Path dir;

    /** A .npy file with the given header dict text (version 1.0) and data bytes. */
    static byte[] npy(String dict, int dataBytes) {
        return npy(dict, dataBytes, 1);
    }

    static byte[] npy(String dict, int dataBytes, int major) {
        byte[] text = (dict + "\n").getBytes(StandardCharsets.ISO_8859_1);
        int prefix = major == 1 ? 10 : 12;
        ByteBuffer b = ByteBuffer.allocate(prefix + text.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.put(new byte[]{(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', (byte) major, 0});
        if (major == 1) b.putShort((short) text.length); else b.putInt(text.length);
        b.put(text);
        for (int i = 0; i < dataBytes; i++) b.put((byte) i);
        return b.array();
    }

    static String dict(String descr, String shape) {
        return "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
    }

    private Path file(String name, byte[] bytes) throws Exception {
        Path p = dir.resolve(name);
        Files.write(p, bytes);
        return p;
    }

    private String errorOf(String name, byte[] bytes) throws Exception {
        Path p = file(name, bytes);
        String msg = assertThrows(KilnFormatException.class, () -> Npy.read(p)).getMessage();
        assertTrue(msg.startsWith(p + ": "), "error does not name the file: " + msg);
        // the stream and buffer readers report the same problem under the given name
        String s = assertThrows(KilnFormatException.class, () -> Npy.read(new ByteArrayInputStream(bytes), name)).getMessage();
        String b = assertThrows(KilnFormatException.class, () -> Npy.read(ByteBuffer.wrap(bytes), name)).getMessage();
        assertTrue(s.startsWith(name + ": "), s);
        assertTrue(b.startsWith(name + ": "), b);
        return msg.substring(p.toString().length() + 2);
    }

    @Test
    void truncatedDataSaysHowMuchWasExpectedAndFound() throws Exception {
        byte[] ok = npy(dict("<f4", "(3, 4)"), 48);
        byte[] cut = java.util.Arrays.copyOf(ok, ok.length - 36);
        assertEquals("truncated data: expected 48 bytes, found 12", errorOf("x.npy", cut));
        String s = assertThrows(KilnFormatException.class, () -> Npy.read(new ByteArrayInputStream(cut), "x.npy")).getMessage();
        assertEquals("x.npy: truncated data: expected 48 bytes, found 12", s);
    }

    @Test
    void truncatedHeaderAndShortFiles() throws Exception {
        byte[] ok = npy(dict("<f4", "(3, 4)"), 48);
        assertTrue(errorOf("h.npy", java.util.Arrays.copyOf(ok, 40)).startsWith("truncated header"));
        assertTrue(errorOf("p.npy", java.util.Arrays.copyOf(ok, 5)).startsWith("truncated header"));
        assertTrue(errorOf("e.npy", new byte[0]).startsWith("truncated header"));
    }

    @Test
    void badMagicAndUnknownVersion() throws Exception {
        assertEquals("not a .npy file (bad magic bytes)", errorOf("m.npy", "PK\u0003\u0004 this is a zip".getBytes(StandardCharsets.ISO_8859_1)));
        byte[] v4 = npy(dict("<f4", "(2,)"), 8);
        v4[6] = 4;
        assertEquals("unsupported .npy format version 4.0", errorOf("v.npy", v4));
    }

    @Test
    void lyingHeaderNeverCausesAHugeAllocation() throws Exception {
        long before = Storage.liveBytes();
        // 8e15 bytes announced, 16 present: refused before allocating, from a file, a buffer and a stream
        byte[] lie = npy(dict("<f8", "(100000, 100000, 100000)"), 16);
        assertEquals("truncated data: expected 8000000000000000 bytes, found 16", errorOf("lie.npy", lie));
        // a shape whose byte size overflows a long
        byte[] huge = npy(dict("<i8", "(2147483647, 2147483647, 2147483647, 2147483647)"), 0);
        assertTrue(errorOf("huge.npy", huge).contains("is too large"));
        assertTrue(Storage.liveBytes() <= before + 1024, "memory was allocated for a lying header");
        // a header-length field larger than the file
        byte[] longHeader = npy(dict("<f4", "(2,)"), 8);
        longHeader[8] = (byte) 0xff;
        longHeader[9] = (byte) 0xff;
        assertTrue(errorOf("hl.npy", longHeader).startsWith("truncated header: expected 65545 bytes"));
    }

    @Test
    void headerIsNeverEvaluated() throws Exception {
        String evil = "{'descr': __import__('os').system('touch /tmp/kiln-pwned'), 'fortran_order': False, 'shape': (1,), }";
        String msg = errorOf("evil.npy", npy(evil, 4));
        assertTrue(msg.startsWith("bad header: unsupported token '__import__'"), msg);
        assertTrue(errorOf("lambda.npy", npy("{'descr': (lambda: '<f4')(), 'fortran_order': False, 'shape': (1,)}", 4)).startsWith("bad header"));
        assertTrue(errorOf("expr.npy", npy(dict("<f4", "(1 + 1,)"), 8)).startsWith("bad header"));
    }

    @Test
    void malformedHeaders() throws Exception {
        assertTrue(errorOf("k1.npy", npy("{'descr': '<f4', 'shape': (1,), }", 4)).startsWith("bad header: missing key 'fortran_order'"));
        assertTrue(errorOf("k2.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 1}", 4))
                .startsWith("bad header: unexpected key 'extra'"));
        assertTrue(errorOf("k3.npy", npy("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", 4))
                .contains("duplicate key 'descr'"));
        assertTrue(errorOf("f.npy", npy("{'descr': '<f4', 'fortran_order': 'no', 'shape': (1,)}", 4)).contains("'fortran_order' must be True or False"));
        assertTrue(errorOf("s1.npy", npy(dict("<f4", "[3, 4]"), 48)).contains("'shape' must be a tuple"));
        assertTrue(errorOf("s2.npy", npy(dict("<f4", "(3)"), 12)).contains("'shape' must be a tuple"));
        assertTrue(errorOf("s3.npy", npy(dict("<f4", "(-3,)"), 12)).contains("invalid dimension -3"));
        assertTrue(errorOf("s4.npy", npy(dict("<f4", "(3.5,)"), 12)).contains("only integers"));
        assertTrue(errorOf("s5.npy", npy(dict("<f4", "(4294967296,)"), 12)).contains("invalid dimension 4294967296"));
        assertTrue(errorOf("d.npy", npy("[1, 2]", 4)).startsWith("bad header: not a dict"));
        assertTrue(errorOf("u.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,", 4)).startsWith("bad header"));
        assertTrue(errorOf("q.npy", npy("{'descr': '<f4, 'fortran_order': False, 'shape': (1,)}", 4)).startsWith("bad header"));
        assertTrue(errorOf("t.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} junk", 4)).startsWith("bad header"));
        assertTrue(errorOf("st.npy", npy("{'descr': [('a', '<f4'), ('b', '<i4')], 'fortran_order': False, 'shape': (1,)}", 8))
                .startsWith("unsupported dtype: structured arrays"));
    }

    @Test
    void unsupportedDtypesNameTheDtype() throws Exception {
        assertTrue(errorOf("c.npy", npy(dict("<c16", "(1,)"), 16)).startsWith("unsupported dtype '<c16' (complex)"));
        assertTrue(errorOf("u.npy", npy(dict("|u1", "(1,)"), 1)).startsWith("unsupported dtype '|u1' (unsigned integer)"));
        assertTrue(errorOf("i2.npy", npy(dict("<i2", "(1,)"), 2)).startsWith("unsupported dtype '<i2' (int16)"));
        assertTrue(errorOf("v.npy", npy(dict("|V4", "(1,)"), 4)).startsWith("unsupported dtype '|V4'"));
        assertTrue(errorOf("m.npy", npy(dict("<M8[ns]", "(1,)"), 8)).startsWith("unsupported dtype '<M8[ns]' (datetime)"));
    }

    @Test
    void lenientWhereNumpyIs() throws Exception {
        // Python 2 long suffixes, double quotes, no trailing comma, a descr without byte order, trailing bytes
        byte[] b = npy("{\"descr\": \"f4\", \"fortran_order\": False, \"shape\": (2L, 1L)}", 8 + 5);
        try (Tensor t = Npy.read(ByteBuffer.wrap(b), "py2.npy")) {
            assertArrayEquals(new int[]{2, 1}, t.shape());
            assertEquals(DType.F32, t.dtype());
        }
        // the ml_dtypes type name for bfloat16; '=' byte order
        for (String d : new String[]{"bfloat16", "=f4", "<i1"}) {
            try (Tensor t = Npy.read(ByteBuffer.wrap(npy(dict(d, "(3,)"), 12)), d)) { assertEquals(3, t.numel()); }
        }
        // version 2.0 header, hand-made
        try (Tensor t = Npy.read(ByteBuffer.wrap(npy(dict("<i4", "(2, 2)"), 16, 2)), "v2")) {
            assertEquals(0x03020100, t.getLong(0, 0));
        }
        // bools other than 0/1 become true (1)
        byte[] bools = npy(dict("|b1", "(4,)"), 4);
        bools[bools.length - 1] = (byte) 0xff;
        try (Tensor t = Npy.read(ByteBuffer.wrap(bools), "b")) {
            assertArrayEquals(new long[]{0, 1, 1, 1}, t.toLongArray());
            assertEquals(1, t.segment().get(java.lang.foreign.ValueLayout.JAVA_BYTE, 3));
        }
    }

    @Test
    void missingFileAndMissingDirectory() {
        assertThrows(NoSuchFileException.class, () -> Npy.read(dir.resolve("nope.npy")));
        try (Tensor t = Tensor.zeros(2)) {
            assertThrows(NoSuchFileException.class, () -> Npy.write(dir.resolve("no/such/dir/x.npy"), t));
        }
    }

    @Test
    void failedWriteKeepsTheOldFileAndLeavesNoTemporaryFile() throws Exception {
        Path p = dir.resolve("keep.npy");
        try (Tensor good = Tensor.arange(6)) { Npy.write(p, good); }
        byte[] before = Files.readAllBytes(p);
        Tensor closed = Tensor.arange(8);
        closed.close();
        assertThrows(IllegalStateException.class, () -> Npy.write(p, closed));
        assertArrayEquals(before, Files.readAllBytes(p));
        try (var files = Files.list(dir)) { assertEquals(1, files.count(), "a temporary file was left behind"); }
    }

    @Test
    void streamOfUnknownLengthWithLyingHeaderIsBufferedNotAllocated() throws Exception {
        // 800 MB announced (above the direct-allocation limit), 100 bytes present
        byte[] lie = npy(dict("<f8", "(100000000,)"), 100);
        long before = Storage.liveBytes();
        String msg = assertThrows(KilnFormatException.class, () -> Npy.read(new ByteArrayInputStream(lie), "s.npy")).getMessage();
        assertEquals("s.npy: truncated data: expected 800000000 bytes, found 100", msg);
        assertTrue(Storage.liveBytes() <= before + 1024);
        // the buffered path itself (limit and chunk lowered so a small array takes it, in several chunks)
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (Tensor x = Tensor.arange(0, 1000, 1, DType.F32).reshape(10, 100)) { Npy.write(out, x, true); }
        byte[] bytes = out.toByteArray();
        try (Tensor y = Npy.read(java.nio.channels.Channels.newChannel(new ByteArrayInputStream(bytes)), -1, "b", 0, 1000)) {
            assertArrayEquals(new int[]{10, 100}, y.shape());
            for (int i = 0; i < 1000; i++) assertEquals(i, y.getFlat(i));
        }
        byte[] cut = java.util.Arrays.copyOf(bytes, bytes.length - 1);
        assertEquals("b: truncated data: expected 4000 bytes, found 3999", assertThrows(KilnFormatException.class,
                () -> Npy.read(java.nio.channels.Channels.newChannel(new ByteArrayInputStream(cut)), -1, "b", 0, 1000)).getMessage());
    }
}
