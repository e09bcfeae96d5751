package dev.kiln.io;

import dev.kiln.data.MemoryCheck;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.net.URISyntaxException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/** safetensors: round trips of every dtype and of views, the committed fixtures, mmap, corrupt files. */
class SafetensorsTest {
    @TempDir Path dir;

    static Path fixture(String name) {
        try {
            return Path.of(SafetensorsTest.class.getResource("/safetensors/" + name).toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Random values in [-2, 2] (integers: the dtype's range edges too), seeded. */
    static Tensor random(Generator g, DType t, int... shape) {
        Tensor x = Tensor.zeros(t, shape);
        long n = x.numel();
        for (long i = 0; i < n; i++) {
            switch (t) {
                case I64 -> x.storage().setLong(t, i, i % 3 == 0 ? Long.MIN_VALUE + i : g.nextLong(Long.MAX_VALUE) - g.nextLong(Long.MAX_VALUE));
                case I32 -> x.storage().setLong(t, i, g.nextLong(1L << 32) + Integer.MIN_VALUE);
                case I8 -> x.storage().setLong(t, i, g.nextInt(256) - 128);
                case BOOL -> x.storage().setLong(t, i, g.nextInt(2));
                default -> x.storage().setDouble(t, i, 4 * g.nextUniform() - 2);
            }
        }
        return x;
    }

    /** Bytes of a tensor's elements in row-major order. */
    static byte[] bytes(Tensor t) {
        try (Tensor c = t.contiguous()) {
            long es = t.dtype().byteSize();
            return c.segment().asSlice(c.offset() * es, c.numel() * es).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
        }
    }

    static void assertSameTensor(Tensor want, Tensor got, String name) {
        assertEquals(want.dtype(), got.dtype(), name);
        assertArrayEquals(want.shape(), got.shape(), name);
        assertArrayEquals(bytes(want), bytes(got), name + ": bytes");
    }

    // ---------------------------------------------------------------- round trips

    @Test
    void roundTripEveryDtypeAndShape() {
        Generator g = new Generator(11);
        int[][] shapes = {{}, {1}, {7}, {0, 3}, {45, 65}, {1025}, {2, 3, 4}};
        Map<String, Tensor> in = new LinkedHashMap<>();
        for (DType t : DType.values())
            for (int[] s : shapes) in.put(t.name().toLowerCase() + "_" + java.util.Arrays.toString(s), random(g, t, s));
        Path f = dir.resolve("all.safetensors");
        long before = Storage.liveBytes();
        Safetensors.write(f, in, Map.of("epoch", "3"));
        MemoryCheck.assertNoGrowth(before, "write frees its temporaries");
        try (Safetensors.Contents c = Safetensors.read(f); SafetensorsFile m = Safetensors.map(f)) {
            assertEquals(List.copyOf(in.keySet()), List.copyOf(c.tensors().keySet()), "file order is insertion order");
            assertEquals(Map.of("epoch", "3"), c.metadata());
            assertEquals(Map.of("epoch", "3"), m.metadata());
            for (String name : in.keySet()) {
                assertSameTensor(in.get(name), c.get(name), name);
                assertSameTensor(in.get(name), m.get(name), name + " (mapped)");
            }
        }
        in.values().forEach(Tensor::close);
        MemoryCheck.assertNoGrowth(before, "closing the contents frees the tensors");
    }

    @Test
    void unorderedMetadataIsWrittenSortedSoFilesAreByteIdentical() throws IOException {
        Map<String, String> hashed = new java.util.HashMap<>();
        for (String k : List.of("model", "epoch", "format", "architecture", "seed", "lr", "a", "zeta")) hashed.put(k, k + "-value");
        TreeMap<String, String> sorted = new TreeMap<>(hashed);
        assertNotEquals(List.copyOf(sorted.keySet()), List.copyOf(hashed.keySet()), "precondition: HashMap order is not sorted");
        try (Tensor t = random(new Generator(2), DType.F32, 3, 5)) {
            Safetensors.write(dir.resolve("hashed.safetensors"), Map.of("w", t), hashed);
            Safetensors.write(dir.resolve("sorted.safetensors"), Map.of("w", t), sorted);
            Safetensors.write(dir.resolve("mapof.safetensors"), Map.of("w", t), Map.copyOf(hashed));
        }
        byte[] want = Files.readAllBytes(dir.resolve("sorted.safetensors"));
        assertArrayEquals(want, Files.readAllBytes(dir.resolve("hashed.safetensors")), "HashMap metadata is written sorted");
        assertArrayEquals(want, Files.readAllBytes(dir.resolve("mapof.safetensors")), "Map.of metadata is written sorted");
        try (Safetensors.Contents c = Safetensors.read(dir.resolve("hashed.safetensors"))) {
            assertEquals(List.copyOf(sorted.keySet()), List.copyOf(c.metadata().keySet()));
        }
    }

    @Test
    void roundTripNonContiguousViews() {
        Generator g = new Generator(5);
        try (Tensor base = random(g, DType.F32, 45, 65);
             Tensor b16 = random(g, DType.BF16, 6, 8);
             Tensor ints = random(g, DType.I64, 5, 1);
             Tensor tr = base.t();
             Tensor sliced = base.slice(1, 3, 60, 4);
             Tensor row = base.select(0, 7);
             Tensor bTr = b16.t();
             Tensor expanded = ints.expand(5, 9)) {
            assertFalse(tr.isContiguous() || sliced.isContiguous() || bTr.isContiguous() || expanded.isContiguous());
            Map<String, Tensor> in = new TreeMap<>(Map.of("transposed", tr, "sliced", sliced, "row", row,
                    "bf16_t", bTr, "expanded", expanded));
            Path f = dir.resolve("views.safetensors");
            Safetensors.write(f, in);
            try (Safetensors.Contents c = Safetensors.read(f)) {
                assertEquals(List.of("bf16_t", "expanded", "row", "sliced", "transposed"), List.copyOf(c.tensors().keySet()));
                assertTrue(c.metadata().isEmpty());
                for (var e : in.entrySet()) assertSameTensor(e.getValue(), c.get(e.getKey()), e.getKey());
                // spot-check values against the source by index, not only bytes against bytes
                assertEquals(base.getDouble(9, 2), c.get("transposed").getDouble(2, 9));
                assertEquals(base.getDouble(2, 3 + 4 * 5), c.get("sliced").getDouble(2, 5));
                assertEquals(ints.getLong(3, 0), c.get("expanded").getLong(3, 8));
            }
        }
    }

    @Test
    void metadataWithEscapesAndUnicode() {
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("quote\"key", "back\\slash \n\t\b\f \u0001 end");
        meta.put("unicode", "température ✓ \uD83D\uDE00");
        meta.put("empty", "");
        Path f = dir.resolve("meta.safetensors");
        try (Tensor t = Tensor.fromArray(new float[]{1, 2}, 2)) {
            Safetensors.write(f, Map.of("näme/é", t), meta);
        }
        try (Safetensors.Contents c = Safetensors.read(f)) {
            assertEquals(meta, c.metadata());
            assertEquals(List.copyOf(meta.keySet()), List.copyOf(c.metadata().keySet()));
            assertArrayEquals(new float[]{1, 2}, c.get("näme/é").toFloatArray());
        }
    }

    @Test
    void headerIsPaddedToEightBytes() throws IOException {
        Path f = dir.resolve("pad.safetensors");
        try (Tensor t = Tensor.fromArray(new double[]{1}, 1)) {
            Safetensors.write(f, Map.of("x", t));
        }
        byte[] b = Files.readAllBytes(f);
        long n = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        assertEquals(0, n % 8);
        assertEquals(8 + n + 8, b.length);
        String json = new String(b, 8, (int) n, StandardCharsets.UTF_8);
        assertEquals("{\"x\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", json.strip());
    }

    // ---------------------------------------------------------------- fixtures

    @Test
    void readsTheAllDtypesFixture() {
        for (boolean mapped : new boolean[]{false, true}) {
            Path f = fixture("all_dtypes.safetensors");
            try (AutoCloseableMap c = open(f, mapped)) {
                Map<String, Tensor> t = c.tensors();
                // data order of the reference layout: dtype size descending, then name
                assertEquals(List.of("f64", "i64", "empty", "f32", "i32", "scalar", "bf16", "f16", "bool", "i8"), List.copyOf(t.keySet()));
                assertEquals(Map.of("format", "pt", "source", "tools/make_safetensors_fixtures.py"), c.metadata());
                assertArrayEquals(new double[]{1e300, -0.1, 3.141592653589793}, t.get("f64").toDoubleArray());
                assertArrayEquals(new long[]{Long.MIN_VALUE, Long.MAX_VALUE, (1L << 53) + 1}, t.get("i64").toLongArray());
                assertArrayEquals(new int[]{2, 3}, t.get("f32").shape());
                assertArrayEquals(new float[]{0.5f, -1.25f, 3f, 0.001f, -7.75f, 1e20f}, t.get("f32").toFloatArray());
                assertArrayEquals(new int[]{Integer.MIN_VALUE, Integer.MAX_VALUE, 0, -7}, t.get("i32").toIntArray());
                assertEquals(0, t.get("scalar").dim());
                assertEquals(42.0, t.get("scalar").item());
                assertArrayEquals(new int[]{0, 3}, t.get("empty").shape());
                assertEquals(DType.BF16, t.get("bf16").dtype());
                assertArrayEquals(new double[]{1, -2.5, 0.15625, 65280}, t.get("bf16").toDoubleArray());
                assertEquals(DType.F16, t.get("f16").dtype());
                assertArrayEquals(new double[]{0.5, -65504, Math.pow(2, -14), 1 + Math.pow(2, -10)}, t.get("f16").toDoubleArray());
                assertEquals(DType.BOOL, t.get("bool").dtype());
                assertArrayEquals(new long[]{1, 0, 1}, t.get("bool").toLongArray());
                assertArrayEquals(new long[]{-128, -1, 0, 1, 127}, t.get("i8").toLongArray());
            }
        }
    }

    @Test
    void readsTheEscapesFixture() {
        try (Safetensors.Contents c = Safetensors.read(fixture("names_and_escapes.safetensors"))) {
            assertEquals(List.of("emb/é", "layer.0.weight", "we\"ird"), List.copyOf(c.tensors().keySet()));
            assertEquals("quote \" backslash \\ newline \n tab \t", c.metadata().get("note"));
            assertEquals("température ✓ \uD83D\uDE00", c.metadata().get("unicode"));
            assertArrayEquals(new float[]{1, 2, 3, 4}, c.get("layer.0.weight").toFloatArray());
            assertArrayEquals(new float[]{-1}, c.get("emb/é").toFloatArray());
            assertArrayEquals(new int[]{7}, c.get("we\"ird").toIntArray());
            assertThrows(IllegalArgumentException.class, () -> c.get("nope"));
        }
    }

    @Test
    void writerReproducesTheFixturesByteForByte() throws IOException {
        for (String name : new String[]{"all_dtypes.safetensors", "names_and_escapes.safetensors"}) {
            Path src = fixture(name);
            Path copy = dir.resolve(name);
            try (Safetensors.Contents c = Safetensors.read(src)) {
                Safetensors.write(copy, c.tensors(), c.metadata());
            }
            assertArrayEquals(Files.readAllBytes(src), Files.readAllBytes(copy), name);
        }
    }

    /** read() and map() results behind one interface, for tests that check both. */
    private record AutoCloseableMap(Map<String, Tensor> tensors, Map<String, String> metadata, AutoCloseable owner)
            implements AutoCloseable {
        @Override public void close() {
            try { owner.close(); } catch (Exception e) { throw new RuntimeException(e); }
        }
    }

    private static AutoCloseableMap open(Path f, boolean mapped) {
        if (mapped) {
            SafetensorsFile m = Safetensors.map(f);
            return new AutoCloseableMap(m.tensors(), m.metadata(), m);
        }
        Safetensors.Contents c = Safetensors.read(f);
        return new AutoCloseableMap(c.tensors(), c.metadata(), c);
    }

    // ---------------------------------------------------------------- mmap lifetime

    @Test
    void mappedTensorsLiveUntilTheFileCloses() {
        Path f = fixture("all_dtypes.safetensors");
        SafetensorsFile m = Safetensors.map(f);
        assertTrue(m.isOpen());
        Tensor f32 = m.get("f32");
        Tensor copy = f32.clone(); // an owned copy outlives the mapping
        Tensor view = f32.t();     // a view does not
        assertEquals(-1.25, view.getDouble(1, 0));
        assertThrows(RuntimeException.class, () -> f32.setDouble(1.0, 0, 0), "mapping is read-only");
        m.close();
        assertFalse(m.isOpen());
        assertThrows(IllegalStateException.class, () -> f32.getDouble(0, 0), "unmapped: an exception, not a crash");
        assertThrows(IllegalStateException.class, () -> view.getDouble(0, 0));
        assertArrayEquals(new float[]{0.5f, -1.25f, 3f, 0.001f, -7.75f, 1e20f}, copy.toFloatArray());
        copy.close();
        view.close();
        m.close(); // idempotent
    }

    // ---------------------------------------------------------------- atomic write

    @Test
    void writeReplacesAtomicallyAndLeavesNoTempFile() throws IOException {
        Path f = dir.resolve("model.safetensors");
        try (Tensor a = Tensor.fromArray(new float[]{1}, 1); Tensor b = Tensor.fromArray(new float[]{2, 3}, 2)) {
            Safetensors.write(f, Map.of("a", a));
            Safetensors.write(f, Map.of("b", b));
            try (Safetensors.Contents c = Safetensors.read(f)) {
                assertEquals(List.of("b"), List.copyOf(c.tensors().keySet()));
            }
            Tensor closed = Tensor.fromArray(new float[]{4}, 1);
            closed.close();
            Map<String, Tensor> bad = new LinkedHashMap<>();
            bad.put("a", a);
            bad.put("gone", closed);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Safetensors.write(f, bad));
            assertTrue(e.getMessage().contains("'gone' is closed") && e.getMessage().contains(f.toString()), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> Safetensors.write(f, Map.of("__metadata__", a)));
        }
        try (Safetensors.Contents c = Safetensors.read(f)) {
            assertArrayEquals(new float[]{2, 3}, c.get("b").toFloatArray(), "a failed write leaves the old file");
        }
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of(f), files.toList(), "no temporary files left");
        }
        UncheckedIOException io = assertThrows(UncheckedIOException.class,
                () -> Safetensors.write(dir.resolve("no/such/dir/x.safetensors"), Map.of()));
        assertTrue(io.getMessage().contains("no/such/dir"), io.getMessage());
    }

    // ---------------------------------------------------------------- corrupt files

    /** A file with the given header JSON (unpadded) and buffer size. */
    private Path file(String name, String json, int bufferBytes) throws IOException {
        byte[] j = json.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + j.length + bufferBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(j.length).put(j);
        Path p = dir.resolve(name);
        Files.write(p, b.array());
        return p;
    }

    private static String tensor(String name, String dtype, String shape, long begin, long end) {
        return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" + begin + "," + end + "]}";
    }

    private void assertRejected(Path f, String... fragments) {
        long before = Storage.liveBytes();
        for (boolean mapped : new boolean[]{false, true}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> { if (mapped) Safetensors.map(f).close(); else Safetensors.read(f).close(); });
            assertTrue(e.getMessage().contains(f.toString()), "names the file: " + e.getMessage());
            for (String s : fragments) assertTrue(e.getMessage().contains(s), "mentions '" + s + "': " + e.getMessage());
        }
        MemoryCheck.assertNoGrowth(before, "rejected file");
    }

    @Test
    void rejectsBadHeaderLengths() throws IOException {
        Path tiny = dir.resolve("tiny");
        Files.write(tiny, new byte[]{1, 2, 3});
        assertRejected(tiny, "too small");
        Path past = dir.resolve("past");
        Files.write(past, ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(9).put("{}".getBytes()).array());
        assertRejected(past, "header length 9");
        Path huge = dir.resolve("huge");
        Files.write(huge, ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(200L << 20).array());
        assertRejected(huge, "header length");
        Path negative = dir.resolve("negative");
        Files.write(negative, ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(-8).array());
        assertRejected(negative, "header length 18446744073709551608");
    }

    @Test
    void rejectsBadJson() throws IOException {
        assertRejected(file("notjson", "hello!!!", 0), "bad header JSON");
        assertRejected(file("array", "[1,2]", 0), "not an object");
        assertRejected(file("trailing", "{} x", 0), "after the JSON value");
        assertRejected(file("dup", "{" + tensor("a", "F32", "[1]", 0, 4) + "," + tensor("a", "F32", "[1]", 4, 8) + "}", 8), "duplicate key");
        Path utf = dir.resolve("utf");
        Files.write(utf, ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN).putLong(4).put(new byte[]{'{', (byte) 0xC3, '}', ' '}).array());
        assertRejected(utf, "UTF-8");
    }

    @Test
    void rejectsBadEntries() throws IOException {
        assertRejected(file("u8", "{" + tensor("pixels", "U8", "[4]", 0, 4) + "}", 4), "'pixels'", "\"U8\"");
        assertRejected(file("size", "{" + tensor("w", "F32", "[2,3]", 0, 20) + "}", 20), "'w'", "needs 24 bytes");
        assertRejected(file("reversed", "{" + tensor("w", "I8", "[0]", 4, 0) + "}", 4), "reversed");
        assertRejected(file("past", "{" + tensor("w", "F32", "[4]", 0, 16) + "}", 8), "past the 8-byte data buffer");
        assertRejected(file("overlap", "{" + tensor("a", "F32", "[2]", 0, 8) + "," + tensor("b", "F32", "[2]", 4, 12) + "}", 12),
                "'b'", "overlaps tensor 'a'");
        assertRejected(file("gap", "{" + tensor("a", "F32", "[1]", 0, 4) + "," + tensor("b", "F32", "[1]", 8, 12) + "}", 12), "gap");
        assertRejected(file("leftover", "{" + tensor("a", "F32", "[1]", 0, 4) + "}", 12), "holds 12 bytes but the tensors cover 4");
        assertRejected(file("negdim", "{" + tensor("a", "F32", "[-1]", 0, 4) + "}", 4), "non-negative");
        assertRejected(file("fracdim", "{" + tensor("a", "F32", "[1.5]", 0, 4) + "}", 4), "non-negative integer");
        assertRejected(file("bigdim", "{" + tensor("a", "I8", "[4294967296]", 0, 4) + "}", 4), "too large");
        assertRejected(file("overflow", "{" + tensor("a", "F64", "[2147483647,2147483647,2147483647]", 0, 8) + "}", 8), "needs");
        assertRejected(file("nooffsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4), "data_offsets");
        assertRejected(file("extra", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4), "unknown field");
        assertRejected(file("meta", "{\"__metadata__\":{\"k\":1}}", 0), "not a string");
        assertRejected(file("notobj", "{\"a\":[]}", 0), "'a'");
        // a valid header over a file cut short: caught before anything is read or allocated
        Path cut = file("cut", "{" + tensor("w", "F32", "[1000000]", 0, 4_000_000) + "}", 100);
        assertRejected(cut, "past the 100-byte data buffer");
    }

    @Test
    void missingFileIsAnIoErrorNamingIt() {
        Path f = dir.resolve("absent.safetensors");
        UncheckedIOException e = assertThrows(UncheckedIOException.class, () -> Safetensors.read(f));
        assertTrue(e.getMessage().contains(f.toString()));
        assertThrows(UncheckedIOException.class, () -> Safetensors.map(f));
    }

    @Test
    void emptyFileWithOnlyMetadata() throws IOException {
        Path f = dir.resolve("meta-only.safetensors");
        Safetensors.write(f, Map.of(), Map.of("k", "v"));
        try (Safetensors.Contents c = Safetensors.read(f)) {
            assertTrue(c.tensors().isEmpty());
            assertEquals(Map.of("k", "v"), c.metadata());
        }
        try (SafetensorsFile m = Safetensors.map(f)) {
            assertTrue(m.tensors().isEmpty());
        }
    }

    // ---------------------------------------------------------------- the JSON parser itself

    @Test
    void jsonParserAcceptsStrictJson() {
        Object v = Json.parse(" {\"a\": [1, -0, 2.5, -1e3, true, false, null, {}, []], \"b\": \"\\u00e9\\ud83d\\ude00\\/\"} ", "t");
        Map<?, ?> m = (Map<?, ?>) v;
        List<Object> a = new ArrayList<>((List<?>) m.get("a"));
        assertEquals(List.of(1L, 0L, 2.5, -1000.0, true, false), a.subList(0, 6));
        assertNull(a.get(6));
        assertEquals(Map.of(), a.get(7));
        assertEquals(List.of(), a.get(8));
        assertEquals("é\uD83D\uDE00/", m.get("b"));
        assertEquals(Long.MAX_VALUE, Json.parse("9223372036854775807", "t"));
    }

    @Test
    void jsonParserRejectsEverythingElse() {
        String[] bad = {"{\"a\":1,}", "[1,]", "01", "{'a':1}", "\"tab\there\"", "nul", "{\"a\" 1}", "[1 2]",
                "9223372036854775808", "\"\\x\"", "\"\\u12\"", "-", "1.", ".5", "1e", "{", "", "NaN", "+1",
                "[".repeat(40) + "]".repeat(40)};
        for (String s : bad) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Json.parse(s, "src", "header JSON"), s);
            assertTrue(e.getMessage().startsWith("src: bad header JSON at character"), e.getMessage());
        }
    }

    @Test
    void quoteRoundTrips() {
        String s = "a\"b\\c\nd\te\u0001f\bg\fh é \uD83D\uDE00";
        assertEquals(s, Json.parse(Json.quote(s), "q"));
    }

    @Test
    void mappedSegmentIsTheFileItself() throws IOException {
        Path f = dir.resolve("m.safetensors");
        try (Tensor t = Tensor.fromArray(new int[]{1, 2, 3}, 3)) {
            Safetensors.write(f, Map.of("t", t));
        }
        long before = Storage.liveBytes();
        try (SafetensorsFile m = Safetensors.map(f)) {
            MemorySegment seg = m.get("t").segment();
            assertEquals(12, seg.byteSize());
            assertTrue(seg.isMapped(), "a view of the mapping, not a copy");
            assertEquals(before, Storage.liveBytes(), "mapping allocates no tensor memory");
            assertArrayEquals(new int[]{1, 2, 3}, m.get("t").toIntArray());
        }
    }
}
