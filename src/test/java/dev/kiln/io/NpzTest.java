package dev.kiln.io;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.FileOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import java.util.zip.ZipOutputStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** .npz write/read in both modes, member order, determinism, corruption and atomicity. */
class NpzTest {
    @TempDir Path dir;

    private static Map<String, Tensor> sample() {
        Map<String, Tensor> m = new LinkedHashMap<>();
        long seed = 10;
        for (DType t : DType.values()) m.put("w_" + t.name().toLowerCase(), NpyRoundTripTest.random(t, seed++, 45, 65));
        m.put("scalar", Tensor.scalar(2.5, DType.F64));
        m.put("empty", Tensor.zeros(DType.I32, 0, 3));
        m.put("zeta", Tensor.zeros(DType.F32, 3));      // order is insertion order, not alphabetical
        m.put("alpha", NpyRoundTripTest.random(DType.F32, 3, 6, 8).t()); // non-contiguous
        m.put("dir/nested.name", Tensor.arange(4));
        return m;
    }

    private static void closeAll(Map<String, Tensor> m) { m.values().forEach(Tensor::close); }

    @Test
    void roundTripsStoredAndCompressed() throws Exception {
        Map<String, Tensor> in = sample();
        try {
            for (boolean compressed : new boolean[]{false, true}) {
                Path p = dir.resolve(compressed ? "c.npz" : "s.npz");
                Npz.write(p, in, compressed);
                try (ZipFile z = new ZipFile(p.toFile())) {
                    List<String> names = new ArrayList<>();
                    z.stream().forEach(e -> {
                        names.add(e.getName());
                        assertEquals(compressed ? ZipEntry.DEFLATED : ZipEntry.STORED, e.getMethod(), e.getName());
                    });
                    assertEquals(in.keySet().stream().map(k -> k + ".npy").toList(), names);
                }
                Map<String, Tensor> out = Npz.read(p);
                try {
                    assertEquals(List.copyOf(in.keySet()), List.copyOf(out.keySet()));
                    for (String k : in.keySet()) NpyRoundTripTest.assertSameBits(in.get(k), out.get(k), (compressed ? "deflated " : "stored ") + k);
                } finally {
                    closeAll(out);
                }
            }
            assertTrue(Files.size(dir.resolve("c.npz")) < Files.size(dir.resolve("s.npz")));
        } finally {
            closeAll(in);
        }
    }

    @Test
    void outputIsDeterministicAndAnEmptyArchiveWorks() throws Exception {
        Map<String, Tensor> in = sample();
        try {
            Npz.write(dir.resolve("a.npz"), in, true);
            Npz.write(dir.resolve("b.npz"), in, true);
            assertArrayEquals(Files.readAllBytes(dir.resolve("a.npz")), Files.readAllBytes(dir.resolve("b.npz")));
        } finally {
            closeAll(in);
        }
        Npz.write(dir.resolve("e.npz"), Map.of(), false);
        assertTrue(Npz.read(dir.resolve("e.npz")).isEmpty());
    }

    @Test
    void storedMemberCrcIsVerified() throws Exception {
        Path p = dir.resolve("s.npz");
        try (Tensor x = Tensor.arange(0, 64, 1, DType.F32)) { Npz.write(p, Map.of("x", x), false); }
        byte[] b = Files.readAllBytes(p);
        // the member's data starts after its local header (30 + name) and the 128-byte .npy header
        int dataStart = 30 + "x.npy".length() + 128;
        b[dataStart + 40] ^= 0x10;
        Files.write(p, b);
        String msg = assertThrows(KilnFormatException.class, () -> Npz.read(p)).getMessage();
        assertEquals(p + "[x.npy]: CRC-32 mismatch (corrupt data)", msg);
    }

    @Test
    void corruptArchives() throws Exception {
        Path notZip = dir.resolve("n.npz");
        Files.writeString(notZip, "definitely not a zip file");
        assertTrue(assertThrows(KilnFormatException.class, () -> Npz.read(notZip)).getMessage().startsWith(notZip + ": not a valid .npz (zip) file"));

        Path other = dir.resolve("o.npz");
        try (ZipOutputStream z = new ZipOutputStream(new FileOutputStream(other.toFile()))) {
            z.putNextEntry(new ZipEntry("readme.txt"));
            z.write("hi".getBytes());
            z.closeEntry();
        }
        assertEquals(other + "[readme.txt]: member is not a .npy array", assertThrows(KilnFormatException.class, () -> Npz.read(other)).getMessage());

        // a member whose .npy data is cut short inside a valid zip
        Path cut = dir.resolve("t.npz");
        byte[] npy = NpyErrorTest.npy(NpyErrorTest.dict("<f4", "(100,)"), 40);
        try (ZipOutputStream z = new ZipOutputStream(new FileOutputStream(cut.toFile()))) {
            z.putNextEntry(new ZipEntry("a.npy"));
            z.write(npy);
            z.closeEntry();
        }
        assertEquals(cut + "[a.npy]: truncated data: expected 400 bytes, found 40", assertThrows(KilnFormatException.class, () -> Npz.read(cut)).getMessage());

        // flipped bits inside deflated data
        Path def = dir.resolve("d.npz");
        try (Tensor x = NpyRoundTripTest.random(DType.F32, 5, 5000)) { Npz.write(def, Map.of("x", x), true); }
        byte[] b = Files.readAllBytes(def);
        for (int i = 60; i < 200; i += 7) b[i] ^= 0x5a;
        Files.write(def, b);
        KilnFormatException e = assertThrows(KilnFormatException.class, () -> Npz.read(def));
        assertTrue(e.getMessage().startsWith(def + "[x.npy]: "), e.getMessage());

        // the file ends in the middle of the archive
        Path trunc = dir.resolve("tr.npz");
        Files.write(trunc, java.util.Arrays.copyOf(Files.readAllBytes(dir.resolve("t.npz")), 50));
        assertTrue(assertThrows(KilnFormatException.class, () -> Npz.read(trunc)).getMessage().startsWith(trunc + ": "));
    }

    @Test
    void failedWriteKeepsTheOldArchive() throws Exception {
        Path p = dir.resolve("keep.npz");
        try (Tensor a = Tensor.arange(3)) { Npz.write(p, Map.of("a", a), true); }
        byte[] before = Files.readAllBytes(p);
        Tensor dead = Tensor.arange(3);
        dead.close();
        Map<String, Tensor> m = new LinkedHashMap<>();
        try (Tensor ok = Tensor.arange(5)) {
            m.put("ok", ok);
            m.put("dead", dead);
            assertThrows(IllegalStateException.class, () -> Npz.write(p, m, false));
        }
        assertArrayEquals(before, Files.readAllBytes(p));
        try (var files = Files.list(dir)) { assertEquals(1, files.count(), "a temporary file was left behind"); }
        try (Tensor one = Tensor.arange(1)) {
            assertThrows(IllegalArgumentException.class, () -> Npz.write(p, Map.of("", one), false));
        }
    }
}
