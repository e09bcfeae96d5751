package dev.kiln.io;

import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Reads every fixture written by real NumPy (tools/make_npy_fixtures.py) and checks its values. */
class NpyFixtureTest {
    private static final List<Fixtures.Entry> ALL = Fixtures.manifest();

    @Test
    void manifestCoversTheFormatFeatures() {
        Set<String> descrs = ALL.stream().map(Fixtures.Entry::descr).collect(Collectors.toCollection(TreeSet::new));
        for (String d : List.of("<f2", "<f4", "<f8", "|i1", "<i4", "<i8", "|b1", ">f2", ">f4", ">f8", ">i4", ">i8", "<V2", "|V2", "<c8", "|O"))
            assertTrue(descrs.contains(d), "no fixture with descr " + d);
        assertTrue(ALL.stream().anyMatch(e -> e.fortran() && e.shape().length == 3));
        assertTrue(ALL.stream().anyMatch(e -> e.shape().length == 0));
        assertTrue(ALL.stream().anyMatch(e -> e.shape().length == 2 && e.shape()[0] == 0));
        assertTrue(ALL.stream().anyMatch(e -> e.version().equals("2.0")));
        assertTrue(ALL.stream().anyMatch(e -> e.version().equals("3.0")));
        // every fixture file on disk is in the manifest (so none goes untested)
        try (var files = Files.list(Fixtures.dir())) {
            Set<String> listed = ALL.stream().map(Fixtures.Entry::file).collect(Collectors.toSet());
            files.map(p -> p.getFileName().toString()).filter(n -> !n.equals("MANIFEST.txt"))
                    .forEach(n -> assertTrue(listed.contains(n), n + " not in MANIFEST.txt"));
        } catch (java.io.IOException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void readsEveryNpyFixtureFromPath() throws Exception {
        int n = 0;
        for (Fixtures.Entry e : ALL) {
            if (!e.member().equals("-") || e.formula().equals("error")) continue;
            try (Tensor t = Npy.read(Fixtures.dir().resolve(e.file()))) {
                Fixtures.check(e, t);
            }
            n++;
        }
        assertTrue(n >= 20, "only " + n + " fixtures read");
    }

    @Test
    void readsEveryNpyFixtureFromStreamAndBuffer() throws Exception {
        for (Fixtures.Entry e : ALL) {
            if (!e.member().equals("-") || e.formula().equals("error")) continue;
            Path p = Fixtures.dir().resolve(e.file());
            try (InputStream in = Files.newInputStream(p); Tensor t = Npy.read(in, e.file())) {
                Fixtures.check(e, t);
                assertEquals(-1, in.read(), e + ": stream read past the array or stopped short");
            }
            ByteBuffer buf = ByteBuffer.wrap(Files.readAllBytes(p));
            try (Tensor t = Npy.read(buf, e.file())) {
                Fixtures.check(e, t);
                assertFalse(buf.hasRemaining(), e + ": buffer position not advanced to the end");
            }
        }
    }

    @Test
    void unsupportedDtypesAreRefusedNamingFileAndDtype() {
        int n = 0;
        for (Fixtures.Entry e : ALL) {
            if (!e.formula().equals("error")) continue;
            Path p = Fixtures.dir().resolve(e.file());
            KilnFormatException ex = assertThrows(KilnFormatException.class, () -> Npy.read(p));
            assertTrue(ex.getMessage().startsWith(p.toString() + ": unsupported dtype '" + e.descr() + "'"), ex.getMessage());
            n++;
        }
        assertEquals(4, n);
    }

    @Test
    void complexAndObjectErrorsSayWhatTheyAre() {
        Path c = Fixtures.dir().resolve("complex64.npy"), o = Fixtures.dir().resolve("object.npy");
        assertTrue(assertThrows(KilnFormatException.class, () -> Npy.read(c)).getMessage().contains("complex"));
        assertTrue(assertThrows(KilnFormatException.class, () -> Npy.read(o)).getMessage().contains("Python objects"));
    }

    @Test
    void readsStoredAndCompressedNpz() throws Exception {
        for (String file : List.of("stored.npz", "compressed.npz")) {
            List<Fixtures.Entry> members = ALL.stream().filter(e -> e.file().equals(file)).toList();
            Map<String, Tensor> m = Npz.read(Fixtures.dir().resolve(file));
            try {
                assertEquals(members.stream().map(Fixtures.Entry::member).toList(), List.copyOf(m.keySet()), file + " member order");
                for (Fixtures.Entry e : members) Fixtures.check(e, m.get(e.member()));
            } finally {
                m.values().forEach(Tensor::close);
            }
        }
    }

    @Test
    void kilnWritesTheSameBytesAsNumpy() throws Exception {
        // For native-order C and Fortran arrays, Kiln's writer should reproduce NumPy's file exactly.
        int n = 0;
        Path tmp = Files.createTempDirectory("kiln-npy");
        try {
            for (Fixtures.Entry e : ALL) {
                if (!e.member().equals("-") || e.formula().equals("error") || e.descr().startsWith(">")
                        || !e.version().equals("1.0") || e.descr().equals("|V2")) continue;
                Path src = Fixtures.dir().resolve(e.file()), out = tmp.resolve(e.file());
                try (Tensor t = Npy.read(src)) {
                    Npy.write(out, t, e.fortran());
                }
                assertEquals(java.util.HexFormat.of().formatHex(Files.readAllBytes(src)),
                        java.util.HexFormat.of().formatHex(Files.readAllBytes(out)), e.file());
                n++;
            }
        } finally {
            try (var s = Files.list(tmp)) { for (Path p : s.toList()) Files.delete(p); }
            Files.delete(tmp);
        }
        assertTrue(n >= 12, "only " + n + " compared");
    }
}
