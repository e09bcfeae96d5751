package dev.kiln.data;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.zip.GZIPOutputStream;

import static org.junit.jupiter.api.Assertions.*;

/** IDX parsing: every type code, raw and gzip, conversions, and corrupt or lying files. */
class IdxTest {
    @TempDir Path dir;

    /** IDX bytes built by hand: header (big-endian dims) then the payload. */
    static byte[] idx(int code, int[] dims, byte[] payload) {
        ByteBuffer b = ByteBuffer.allocate(4 + 4 * dims.length + payload.length); // big-endian by default
        b.put((byte) 0).put((byte) 0).put((byte) code).put((byte) dims.length);
        for (int d : dims) b.putInt(d);
        b.put(payload);
        return b.array();
    }

    static byte[] gzip(byte[] data) {
        try {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            try (GZIPOutputStream g = new GZIPOutputStream(out)) {
                g.write(data);
            }
            return out.toByteArray();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    Path write(String name, byte[] bytes) throws IOException {
        Path p = dir.resolve(name);
        Files.write(p, bytes);
        return p;
    }

    static byte[] bytes(int... v) {
        byte[] b = new byte[v.length];
        for (int i = 0; i < v.length; i++) b[i] = (byte) v[i];
        return b;
    }

    @Test
    void ubyteRawReadsUnsignedIntoI32() throws IOException {
        Path f = write("u8", idx(0x08, new int[]{2, 3}, bytes(0, 1, 127, 128, 200, 255)));
        try (Tensor t = Idx.read(f)) {
            assertEquals(DType.I32, t.dtype());
            assertArrayEquals(new int[]{2, 3}, t.shape());
            assertArrayEquals(new int[]{0, 1, 127, 128, 200, 255}, t.toIntArray());
        }
        Idx.Header h = Idx.header(f);
        assertEquals(Idx.Type.UBYTE, h.type());
        assertArrayEquals(new int[]{2, 3}, h.dims());
        assertEquals(12, h.headerBytes());
    }

    @Test
    void ubyteGzipScaledToF32() throws IOException {
        Path f = write("u8.gz", gzip(idx(0x08, new int[]{4}, bytes(0, 51, 128, 255))));
        try (Tensor t = Idx.read(f, DType.F32, 1 / 255.0, 0)) {
            assertEquals(DType.F32, t.dtype());
            float[] v = t.toFloatArray();
            double[] want = {0, 0.2, 128 / 255.0, 1};
            for (int i = 0; i < 4; i++) assertEquals(want[i], v[i], 1e-6);
        }
        try (Tensor t = Idx.read(f, DType.F32, 2, -1)) {
            assertArrayEquals(new float[]{-1, 101, 255, 509}, t.toFloatArray());
        }
        try (Tensor t = Idx.read(f, DType.I64)) {
            assertArrayEquals(new long[]{0, 51, 128, 255}, t.toLongArray());
        }
    }

    @Test
    void signedByteToI8() throws IOException {
        Path f = write("i8", idx(0x09, new int[]{4}, bytes(-128, -5, 0, 127)));
        try (Tensor t = Idx.read(f)) {
            assertEquals(DType.I8, t.dtype());
            assertArrayEquals(new long[]{-128, -5, 0, 127}, t.toLongArray());
        }
        try (Tensor t = Idx.read(f, DType.F64, 0.5, 0)) {
            assertArrayEquals(new double[]{-64, -2.5, 0, 63.5}, t.toDoubleArray());
        }
    }

    @Test
    void shortIntFloatDoubleAreBigEndian() throws IOException {
        ByteBuffer s = ByteBuffer.allocate(6).putShort((short) -300).putShort((short) 32767).putShort((short) 1);
        try (Tensor t = Idx.read(write("i16", idx(0x0B, new int[]{3}, s.array())))) {
            assertEquals(DType.I32, t.dtype());
            assertArrayEquals(new int[]{-300, 32767, 1}, t.toIntArray());
        }
        ByteBuffer i = ByteBuffer.allocate(12).putInt(Integer.MIN_VALUE).putInt(123456789).putInt(-1);
        Path fi = write("i32.gz", gzip(idx(0x0C, new int[]{3, 1}, i.array())));
        try (Tensor t = Idx.read(fi); Tensor l = Idx.read(fi, DType.I64)) {
            assertArrayEquals(new int[]{3, 1}, t.shape());
            assertArrayEquals(new int[]{Integer.MIN_VALUE, 123456789, -1}, t.toIntArray());
            assertArrayEquals(new long[]{Integer.MIN_VALUE, 123456789, -1}, l.toLongArray());
        }
        ByteBuffer f = ByteBuffer.allocate(12).putFloat(1.5f).putFloat(-2.25f).putFloat(3.4e38f);
        try (Tensor t = Idx.read(write("f32", idx(0x0D, new int[]{3}, f.array())))) {
            assertEquals(DType.F32, t.dtype());
            assertArrayEquals(new float[]{1.5f, -2.25f, 3.4e38f}, t.toFloatArray());
        }
        ByteBuffer d = ByteBuffer.allocate(16).putDouble(1e300).putDouble(-0.1);
        try (Tensor t = Idx.read(write("f64", idx(0x0E, new int[]{1, 2}, d.array())))) {
            assertEquals(DType.F64, t.dtype());
            assertArrayEquals(new double[]{1e300, -0.1}, t.toDoubleArray());
        }
    }

    @Test
    void largeGzipFileSpanningManyChunks() throws IOException {
        int n = 200_003; // several 64 KiB read chunks and a partial one
        byte[] payload = new byte[n];
        for (int i = 0; i < n; i++) payload[i] = (byte) (i * 31 + 7);
        Path f = write("big.gz", gzip(idx(0x08, new int[]{n}, payload)));
        int[] want = new int[n];
        for (int i = 0; i < n; i++) want[i] = payload[i] & 0xff;
        try (Tensor t = Idx.read(f)) {
            assertArrayEquals(want, t.toIntArray());
        }
    }

    @Test
    void readsInMemoryBytes() {
        byte[] gz = gzip(idx(0x08, new int[]{2}, bytes(9, 250)));
        try (Tensor t = Idx.read(gz, "mem.gz", null, 1, 0)) {
            assertArrayEquals(new int[]{9, 250}, t.toIntArray());
        }
        byte[] raw = idx(0x08, new int[]{2}, bytes(9, 250));
        try (Tensor t = Idx.read(raw, "mem", DType.F32, 1, 0.5)) {
            assertArrayEquals(new float[]{9.5f, 250.5f}, t.toFloatArray());
        }
    }

    @Test
    void truncatedRawFileNamesTheFile() throws IOException {
        byte[] full = idx(0x08, new int[]{10}, new byte[10]);
        Path f = write("short-raw", Arrays.copyOf(full, full.length - 3));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Idx.read(f));
        assertTrue(e.getMessage().contains(f.toString()) && e.getMessage().contains("truncated"), e.getMessage());
    }

    @Test
    void truncatedGzipFileNamesTheFile() throws IOException {
        byte[] payload = new byte[5000];
        for (int i = 0; i < payload.length; i++) payload[i] = (byte) (i * i);
        byte[] gz = gzip(idx(0x08, new int[]{5000}, payload));
        Path f = write("short.gz", Arrays.copyOf(gz, gz.length / 2));
        RuntimeException e = assertThrows(RuntimeException.class, () -> Idx.read(f));
        assertTrue(e.getMessage().contains(f.toString()), e.getMessage());
    }

    @Test
    void truncatedHeader() throws IOException {
        Path empty = write("empty", new byte[0]);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Idx.read(empty));
        assertTrue(e.getMessage().contains(empty.toString()) && e.getMessage().contains("header"), e.getMessage());
        Path half = write("half", Arrays.copyOf(idx(0x08, new int[]{3, 3}, new byte[9]), 7));
        assertThrows(IllegalArgumentException.class, () -> Idx.read(half));
    }

    @Test
    void lyingDimsRawFailWithoutAllocating() throws IOException {
        Path f = write("liar", idx(0x0D, new int[]{60000, 1_000_000}, new byte[64]));
        long before = Storage.liveBytes();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Idx.read(f));
        assertTrue(e.getMessage().contains(f.toString()) && e.getMessage().contains("[60000, 1000000]"), e.getMessage());
        MemoryCheck.assertNoGrowth(before, "rejected header");
    }

    @Test
    void lyingDimsGzipFailWithoutAllocating() throws IOException {
        // the real MNIST header on a 50 kB file (incompressible, so within deflate's ratio): the trailer contradicts it
        byte[] noise = new byte[50_000];
        new java.util.Random(1).nextBytes(noise);
        Path f = write("liar.gz", gzip(idx(0x08, new int[]{60000, 28, 28}, noise)));
        long before = Storage.liveBytes();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Idx.read(f));
        assertTrue(e.getMessage().contains(f.toString()) && e.getMessage().contains("gzip trailer"), e.getMessage());
        // a lie that agrees with the trailer mod 2^32 (16 * (2^28 + 1) = 2^32 + 16): caught by the size bound
        byte[] real = gzip(idx(0x08, new int[]{16, 1}, new byte[16]));
        byte[] lie = gzip(idx(0x08, new int[]{16, (1 << 28) + 1}, new byte[16]));
        assertArrayEquals(Arrays.copyOfRange(real, real.length - 4, real.length), Arrays.copyOfRange(lie, lie.length - 4, lie.length));
        Path f2 = write("liar2.gz", lie);
        e = assertThrows(IllegalArgumentException.class, () -> Idx.read(f2));
        assertTrue(e.getMessage().contains(f2.toString()) && e.getMessage().contains("more than a gzip file"), e.getMessage());
        MemoryCheck.assertNoGrowth(before, "rejected header");
    }

    @Test
    void trailingDataRejected() throws IOException {
        byte[] good = idx(0x08, new int[]{2}, bytes(1, 2));
        Path f = write("trailing", Arrays.copyOf(good, good.length + 1));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Idx.read(f));
        assertTrue(e.getMessage().contains("past the 2 bytes"), e.getMessage());
        Path g = write("trailing.gz", gzip(Arrays.copyOf(good, good.length + 5)));
        assertThrows(IllegalArgumentException.class, () -> Idx.read(g));
    }

    @Test
    void badMagicAndUnknownCode() throws IOException {
        Path png = write("x.png", bytes(0x89, 'P', 'N', 'G', 0, 0, 0, 0));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Idx.read(png));
        assertTrue(e.getMessage().contains("not an IDX file") && e.getMessage().contains(png.toString()), e.getMessage());
        Path odd = write("odd", idx(0x0A, new int[]{1}, bytes(1)));
        e = assertThrows(IllegalArgumentException.class, () -> Idx.read(odd));
        assertTrue(e.getMessage().contains("0x0a") && e.getMessage().contains(odd.toString()), e.getMessage());
    }

    @Test
    void hugeDimensionRejected() throws IOException {
        byte[] b = idx(0x08, new int[]{1}, new byte[0]);
        b[4] = (byte) 0x80; // dim 0 = 2^31 + ...
        Path f = write("hugedim", b);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Idx.read(f));
        assertTrue(e.getMessage().contains("beyond"), e.getMessage());
    }

    @Test
    void lossyConversionsRefused() throws IOException {
        Path u8 = write("u8", idx(0x08, new int[]{1}, bytes(200)));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Idx.read(u8, DType.I8)).getMessage().contains("int8"));
        assertThrows(IllegalArgumentException.class, () -> Idx.read(u8, DType.BOOL));
        assertThrows(IllegalArgumentException.class, () -> Idx.read(u8, DType.I32, 2, 0));
        Path f32 = write("f32", idx(0x0D, new int[]{1}, ByteBuffer.allocate(4).putFloat(1.5f).array()));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Idx.read(f32, DType.I64));
        assertTrue(e.getMessage().contains(f32.toString()) && e.getMessage().contains("float"), e.getMessage());
    }

    @Test
    void missingFileIsUncheckedIo() {
        Path f = dir.resolve("nope.gz");
        UncheckedIOException e = assertThrows(UncheckedIOException.class, () -> Idx.read(f));
        assertTrue(e.getMessage().contains(f.toString()));
    }
}
