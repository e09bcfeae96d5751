package dev.kiln.pickle;

import dev.kiln.io.KilnFormatException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.math.BigInteger;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The pickle VM: Python-written pickles of plain values in protocols 2, 4 and 5, hostile pickles
 * (tools/make_pickle_fixtures.py) refused with the global named, bounds on nesting, cycles, lengths,
 * and every truncation or random corruption of a valid pickle giving a one-line KilnFormatException.
 */
class UnpicklerTest {
    static Path fixture(String name) {
        try {
            return Path.of(UnpicklerTest.class.getResource("/torch/" + name).toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    static byte[] bytes(String name) {
        try {
            return Files.readAllBytes(fixture(name));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static Object load(byte[] data) throws KilnFormatException {
        return Unpickler.load("t.pkl", data, Globals.torch(), null);
    }

    static KilnFormatException refused(byte[] data) {
        KilnFormatException e = assertThrows(KilnFormatException.class, () -> load(data));
        assertTrue(e.getMessage().startsWith("t.pkl: "), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
        return e;
    }

    @ParameterizedTest
    @ValueSource(ints = {2, 4, 5})
    void pythonValuesInEveryProtocol(int protocol) throws Exception {
        Map<?, ?> v = (Map<?, ?>) load(bytes("values_p" + protocol + ".pkl"));
        assertEquals(List.of(0L, 1L, -1L, 255L, 256L, 65535L, 65536L, (long) Integer.MIN_VALUE, (long) Integer.MAX_VALUE,
                Long.MAX_VALUE, Long.MIN_VALUE, BigInteger.TWO.pow(64), BigInteger.TWO.pow(70).negate()), v.get("ints"));
        assertEquals(List.of(0.5, -1e300, Double.POSITIVE_INFINITY), v.get("floats"));
        assertEquals("h\u00e9llo \u2713", v.get("text"));
        assertArrayEquals(new byte[]{0, (byte) 0xff, 'a', 'b'}, (byte[]) v.get("bytes"));
        assertTrue(v.containsKey("none"));
        assertNull(v.get("none"));
        assertEquals(new PyTuple(List.of(true, false)), v.get("bools"));
        assertEquals(new PyTuple(List.of(1L, new PyTuple(List.of(2L, 3L)), new PyTuple(List.of()))), v.get("tuple"));
        assertEquals(Set.of(7L), v.get("set"));
        assertEquals(Set.of(8L), v.get("frozen"));
        assertThrows(UnsupportedOperationException.class, () -> ((Set<Object>) v.get("frozen")).add(1L));
        PyTuple shared = (PyTuple) v.get("shared");
        assertSame(shared.get(0), shared.get(1), "the memo keeps shared references shared");
        assertEquals(Map.of("k", List.of(Map.of("x", 1.25))), v.get("nested"));
        assertEquals("int key", v.get(3L));
        if (protocol == 5) assertArrayEquals(new byte[]{'b', 'a'}, (byte[]) v.get("bytearray"));
    }

    @ParameterizedTest
    @CsvSource({
        "evil_os_system.pkl, os.system",
        "evil_builtins_eval.pkl, builtins.eval",
        "evil_subprocess_popen.pkl, subprocess.Popen",
        "evil_posix_system.pkl, posix.system",
        "evil_in_tensor.pkl, os.system",
    })
    void hostileGlobalsAreRefusedByName(String file, String global) {
        KilnFormatException e = refused(bytes(file));
        assertTrue(e.getMessage().contains("refused global " + global + " (not on the allow-list)"), e.getMessage());
        assertFalse(Files.exists(Path.of("kiln_pwned_os_system")));
    }

    @Test
    void refusedGlobalMessageIsExact() {
        assertEquals("t.pkl: refused global os.system (not on the allow-list)", refused(bytes("evil_os_system.pkl")).getMessage());
    }

    @Test
    void emptyAllowListRefusesEvenTorch() {
        byte[] p = {(byte) 0x80, 2, 'c', 'c', 'o', 'l', 'l', 'e', 'c', 't', 'i', 'o', 'n', 's', '\n',
            'O', 'r', 'd', 'e', 'r', 'e', 'd', 'D', 'i', 'c', 't', '\n', ')', 'R', '.'};
        KilnFormatException e = assertThrows(KilnFormatException.class, () -> Unpickler.load("t.pkl", p, new Globals(), null));
        assertTrue(e.getMessage().contains("refused global collections.OrderedDict"), e.getMessage());
    }

    @Test
    void deepNestingIsRefused() {
        assertTrue(refused(bytes("deep_lists.pkl")).getMessage().contains("nested more than 512 deep"));
        // 200k nested tuples (TUPLE1) built without a deep stack: no StackOverflowError anywhere
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.write(0x80); b.write(2); b.write('N');
        for (int i = 0; i < 200_000; i++) b.write(0x85);
        b.write('.');
        assertTrue(refused(b.toByteArray()).getMessage().contains("nested more than 512 deep"));
    }

    @Test
    void cyclesAreRefused() {
        assertTrue(refused(bytes("cycle.pkl")).getMessage().contains("cyclic"));
    }

    @Test
    void hugeLengthsAreCheckedBeforeAllocating() {
        assertEquals("t.pkl: truncated pickle: BINUNICODE (0x58) at byte 2 needs 4294967295 bytes, 3 left",
                refused(bytes("huge_binunicode.pkl")).getMessage());
        byte[] binbytes8 = {(byte) 0x80, 4, (byte) 0x8e, -1, -1, -1, -1, -1, -1, -1, 0x7f, 'a', '.'};
        assertTrue(refused(binbytes8).getMessage().contains("truncated pickle: BINBYTES8"));
        byte[] long4 = {(byte) 0x80, 2, (byte) 0x8b, -1, -1, -1, -1, '.'};
        assertTrue(refused(long4).getMessage().contains("negative length"));
    }

    @Test
    void unhashableAndOversizedKeysAreRefused() {
        byte[] listKey = {(byte) 0x80, 2, '}', ']', 'K', 1, 's', '.'};
        assertTrue(refused(listKey).getMessage().contains("unsupported dict or set key of type list"));
        // a tuple key that doubles at every level (t = (t, t)): 2^60 paths, refused quickly
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.writeBytes(new byte[]{(byte) 0x80, 2, '}', 'N'});
        for (int i = 0; i < 60; i++) b.writeBytes(new byte[]{'q', 0, 'h', 0, (byte) 0x86});
        b.writeBytes(new byte[]{'K', 1, 's', '.'});
        assertTrue(refused(b.toByteArray()).getMessage().contains("more than 4096 items"));
    }

    @Test
    void stackAndMemoAreCapped() {
        byte[] many = new byte[5000];
        Arrays.fill(many, (byte) 'N');
        many[0] = (byte) 0x80;
        many[1] = 2;
        KilnFormatException e = assertThrows(KilnFormatException.class,
                () -> new Unpickler("t.pkl", many, Globals.torch(), null, new Unpickler.Limits(1000, 1000, 64)).load());
        assertTrue(e.getMessage().contains("stack deeper than 1000"), e.getMessage());
    }

    @Test
    void structuralErrorsAreClear() {
        assertTrue(refused(new byte[]{(byte) 0x80, 2, 'a', '.'}).getMessage().contains("stack underflow"));
        assertTrue(refused(new byte[]{(byte) 0x80, 2, 't', '.'}).getMessage().contains("no MARK"));
        assertTrue(refused(new byte[]{(byte) 0x80, 2, 'h', 9, '.'}).getMessage().contains("memo entry 9"));
        assertTrue(refused(new byte[]{(byte) 0x80, 2, 'K', 1, 'K', 1, 'a', '.'}).getMessage().contains("expected a list, found a int"));
        assertTrue(refused(new byte[]{(byte) 0x80, 9, 'N', '.'}).getMessage().contains("unsupported pickle protocol 9"));
        assertTrue(refused(new byte[]{(byte) 0x80, 2, 'i', '.'}).getMessage().contains("unsupported pickle opcode INST"));
        assertTrue(refused(new byte[]{(byte) 0x80, 2, (byte) 0x82, 1, '.'}).getMessage().contains("extension-registry"));
        assertTrue(refused(new byte[]{(byte) 0x80, 2, 'N'}).getMessage().contains("before the STOP opcode"));
        assertTrue(refused(new byte[]{(byte) 0x80, 2, 'N', 'K', 1, 'R', '.'}).getMessage().contains("REDUCE (0x52) at byte 5: call arguments are a int"));
    }

    @Test
    void everyTruncationIsAOneLineError() {
        for (String f : List.of("values_p2.pkl", "values_p4.pkl", "values_p5.pkl")) {
            byte[] full = bytes(f);
            for (int n = 0; n < full.length; n++) {
                byte[] cut = Arrays.copyOf(full, n);
                KilnFormatException e = assertThrows(KilnFormatException.class, () -> load(cut), f + " cut at " + n);
                assertFalse(e.getMessage().contains("\n"));
            }
        }
    }

    @Test
    void randomCorruptionNeverEscapesAsAnotherError() {
        byte[] full = bytes("values_p4.pkl");
        Random r = new Random(7);
        for (int trial = 0; trial < 3000; trial++) {
            byte[] bad = full.clone();
            for (int k = 0; k <= trial % 3; k++) bad[r.nextInt(bad.length)] = (byte) r.nextInt(256);
            try {
                load(bad);
            } catch (KilnFormatException e) {
                assertTrue(e.getMessage().startsWith("t.pkl: "), e.getMessage());
            }
        }
    }

    @Test
    void persistentIdsNeedALoader() {
        byte[] p = {(byte) 0x80, 2, 'N', 'Q', '.'};
        assertTrue(refused(p).getMessage().contains("no loader"));
        Object v = assertDoesNotThrow(() -> Unpickler.load("t.pkl", p, Globals.torch(), pid -> "resolved"));
        assertEquals("resolved", v);
    }
}
