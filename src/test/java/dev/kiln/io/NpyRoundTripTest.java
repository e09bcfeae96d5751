package dev.kiln.io;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Write-then-read of every dtype and layout; values compared bit for bit. */
class NpyRoundTripTest {
    @TempDir Path dir;

    static final int[][] SHAPES = {{}, {0, 3}, {1}, {7}, {1025}, {45, 65}, {2, 3, 4}};

    /** Seeded random values in [-2, 2] (integers: the dtype's range; bool: 0/1), plus specials for floats. */
    static Tensor random(DType t, long seed, int... shape) {
        Generator g = new Generator(seed);
        Tensor x = Tensor.zeros(t, shape);
        long n = x.numel();
        for (long i = 0; i < n; i++) {
            switch (t) {
                case I8 -> x.storage().setLong(t, i, g.nextInt(256) - 128);
                case I32 -> x.storage().setLong(t, i, (int) g.nextLong(1L << 32));
                case I64 -> x.storage().setLong(t, i, g.nextLong(Long.MAX_VALUE) * (g.nextInt(2) == 0 ? 1 : -1));
                case BOOL -> x.storage().setLong(t, i, g.nextInt(2));
                default -> x.storage().setDouble(t, i, 4 * g.nextUniform() - 2);
            }
        }
        if (t.isFloating() && n >= 5) {
            double[] special = {Double.NaN, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY, -0.0, 1e-40};
            for (int i = 0; i < special.length; i++) x.storage().setDouble(t, i * (n / 5), special[i]);
        }
        return x;
    }

    /** Same dtype, shape and raw bytes for every logical element. */
    static void assertSameBits(Tensor want, Tensor got, String what) {
        assertEquals(want.dtype(), got.dtype(), what + " dtype");
        assertArrayEquals(want.shape(), got.shape(), what + " shape");
        int es = want.dtype().byteSize();
        for (long i = 0; i < want.numel(); i++)
            for (int b = 0; b < es; b++) {
                byte w = want.segment().get(ValueLayout.JAVA_BYTE, want.storageIndex(i) * es + b);
                byte g = got.segment().get(ValueLayout.JAVA_BYTE, got.storageIndex(i) * es + b);
                if (w != g) throw new AssertionError(what + ": element " + i + " differs: " + want.getFlat(i) + " vs " + got.getFlat(i));
            }
    }

    @Test
    void everyDtypeAndShapeRoundTripsThroughAFile() throws Exception {
        long seed = 1;
        for (DType t : DType.values()) {
            for (int[] shape : SHAPES) {
                Path p = dir.resolve(t + "_" + shape.length + ".npy");
                try (Tensor x = random(t, seed++, shape)) {
                    Npy.write(p, x);
                    try (Tensor y = Npy.read(p)) {
                        assertSameBits(x, y, t + " " + java.util.Arrays.toString(shape));
                    }
                }
            }
        }
        try (var files = Files.list(dir)) {
            assertTrue(files.noneMatch(f -> f.getFileName().toString().endsWith(".tmp")), "temporary files left behind");
        }
    }

    @Test
    void nonContiguousTensorsAreWrittenByLogicalValue() throws Exception {
        for (DType t : DType.values()) {
            try (Tensor base = random(t, 99, 6, 8);
                 Tensor tr = base.t();
                 Tensor stepped = base.slice(1, -7, 8, 3);
                 Tensor sel = base.select(1, 5);
                 Tensor row = base.narrow(0, 2, 1);
                 Tensor expanded = row.expand(4, 8);
                 Tensor perm3 = random(t, 7, 2, 3, 4).permute(2, 0, 1)) {
                for (Tensor v : List.of(tr, stepped, sel, expanded, perm3)) {
                    Path p = dir.resolve("v.npy");
                    Npy.write(p, v);
                    try (Tensor y = Npy.read(p)) {
                        assertTrue(y.isContiguous());
                        assertSameBits(v, y, t + " view " + java.util.Arrays.toString(v.shape()));
                    }
                }
            }
        }
    }

    @Test
    void fortranOrderWritesColumnMajorAndReadsBack() throws Exception {
        try (Tensor x = Tensor.arange(0, 24, 1, DType.F32).reshape(2, 3, 4);
             Tensor xt = x.transpose(0, 2)) {
            Path p = dir.resolve("f.npy");
            Npy.write(p, x, true);
            byte[] bytes = Files.readAllBytes(p);
            String header = new String(bytes, 10, 118, StandardCharsets.ISO_8859_1);
            assertTrue(header.contains("'fortran_order': True"), header);
            assertTrue(header.contains("'shape': (2, 3, 4)"), header);
            ByteBuffer data = ByteBuffer.wrap(bytes, 128, bytes.length - 128).order(java.nio.ByteOrder.LITTLE_ENDIAN);
            // column-major: file element k walks dim 0 fastest: [0,0,0], [1,0,0], [0,1,0], ...
            assertEquals(0f, data.getFloat(128));
            assertEquals(12f, data.getFloat(132), "second stored element must be x[1,0,0]");
            assertEquals(4f, data.getFloat(136), "third stored element must be x[0,1,0]");
            try (Tensor y = Npy.read(p)) { assertSameBits(x, y, "fortran 3-d"); }
            // a non-contiguous tensor written in Fortran order
            Npy.write(p, xt, true);
            try (Tensor y = Npy.read(p)) { assertSameBits(xt, y, "fortran of transposed view"); }
            // Fortran order is meaningless for rank <= 1: written as C order
            try (Tensor v = Tensor.arange(5)) {
                Npy.write(p, v, true);
                assertTrue(new String(Files.readAllBytes(p), StandardCharsets.ISO_8859_1).contains("'fortran_order': False"));
            }
        }
    }

    @Test
    void headerIsVersion1PaddedTo64BytesEndingInNewline() throws Exception {
        for (int[] shape : SHAPES) {
            try (Tensor x = Tensor.zeros(DType.F64, shape)) {
                ByteArrayOutputStream out = new ByteArrayOutputStream();
                Npy.write(out, x);
                byte[] b = out.toByteArray();
                int hlen = (b[8] & 0xff) | (b[9] & 0xff) << 8;
                assertEquals(1, b[6]);
                assertEquals(0, (10 + hlen) % 64);
                assertEquals('\n', b[10 + hlen - 1]);
                assertEquals(10 + hlen + x.numel() * 8, b.length);
                String h = new String(b, 10, hlen, StandardCharsets.ISO_8859_1);
                String dims = shape.length == 0 ? "()" : shape.length == 1 ? "(" + shape[0] + ",)"
                        : java.util.Arrays.toString(shape).replace('[', '(').replace(']', ')');
                assertTrue(h.startsWith("{'descr': '<f8', 'fortran_order': False, 'shape': " + dims + ", }"), h);
            }
        }
    }

    @Test
    void longHeaderSwitchesToVersion2() throws Exception {
        String descr = "x".repeat(70_000);
        byte[] h = NpyHeader.encode(descr, false, new int[]{3});
        assertEquals(2, h[6]);
        long len = ByteBuffer.wrap(h, 8, 4).order(java.nio.ByteOrder.LITTLE_ENDIAN).getInt();
        assertEquals(h.length, 12 + len);
        assertEquals(0, h.length % 64);
        // it parses back far enough to reject the made-up dtype by name
        KilnFormatException e = org.junit.jupiter.api.Assertions.assertThrows(KilnFormatException.class,
                () -> Npy.read(ByteBuffer.wrap(h), "long.npy"));
        assertTrue(e.getMessage().startsWith("long.npy: unsupported dtype 'xxx"), e.getMessage().substring(0, 60));
    }

    @Test
    void arraysWrittenBackToBackAreReadInSequence() throws Exception {
        try (Tensor a = random(DType.F32, 1, 3, 5); Tensor b = random(DType.I64, 2, 4); Tensor c = random(DType.BF16, 3)) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            for (Tensor t : List.of(a, b, c)) Npy.write(out, t);
            byte[] bytes = out.toByteArray();
            try (InputStream in = new ByteArrayInputStream(bytes)) {
                for (Tensor t : List.of(a, b, c))
                    try (Tensor y = Npy.read(in, "seq")) { assertSameBits(t, y, "stream " + t.dtype()); }
            }
            ByteBuffer buf = ByteBuffer.wrap(bytes);
            for (Tensor t : List.of(a, b, c))
                try (Tensor y = Npy.read(buf, "seq")) { assertSameBits(t, y, "buffer " + t.dtype()); }
            assertEquals(0, buf.remaining());
        }
    }

    @Test
    void bf16IsWrittenAsV2WithRawBits() throws Exception {
        try (Tensor x = Tensor.fromDoubles(DType.BF16, new double[]{1.0, -2.5, 3.0e38}, 3)) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            Npy.write(out, x);
            byte[] b = out.toByteArray();
            assertTrue(new String(b, 10, 40, StandardCharsets.ISO_8859_1).startsWith("{'descr': '<V2'"));
            ByteBuffer data = ByteBuffer.wrap(b, b.length - 6, 6).order(java.nio.ByteOrder.LITTLE_ENDIAN);
            assertEquals((short) 0x3f80, data.getShort());  // 1.0
            assertEquals((short) 0xc020, data.getShort());  // -2.5
            assertEquals(DType.floatToBf16(3.0e38f), data.getShort());
        }
    }

    @Test
    void readersHonourCurrentScope() throws Exception {
        Path p = dir.resolve("s.npy");
        try (Tensor x = random(DType.F32, 5, 4, 4)) { Npy.write(p, x, true); }
        long before = dev.kiln.tensor.Storage.liveBytes();
        try (dev.kiln.tensor.Scope s = dev.kiln.tensor.Scope.open()) {
            Tensor y = Npy.read(p);
            assertEquals(16, y.numel());
        }
        assertTrue(dev.kiln.tensor.Storage.liveBytes() <= before, "read inside a scope leaked memory");
    }
}
