package dev.kiln.torchscript;

import dev.kiln.io.KilnFormatException;
import dev.kiln.io.Npz;
import dev.kiln.pickle.PyObject;
import dev.kiln.pickle.PyTuple;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.math.BigInteger;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Torch archives written by PyTorch 1.13 (tools/make_pickle_fixtures.py): every storage type,
 * views with their strides and offsets, shared storages, TorchScript data/constants/code, and
 * hostile or damaged archives refused with a one-line error.
 */
class TorchArchiveTest {
    @TempDir Path dir;

    static Path fixture(String name) {
        try {
            return Path.of(TorchArchiveTest.class.getResource("/torch/" + name).toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    /** name dtype shape strides offset storageKey, from MANIFEST.txt. */
    record Row(String name, DType dtype, int[] shape, long[] strides, long offset, String key) {}

    static List<Row> manifest() throws IOException {
        return Files.readAllLines(fixture("MANIFEST.txt")).stream().filter(l -> !l.startsWith("#") && !l.isBlank()).map(l -> {
            String[] f = l.split(" ");
            return new Row(f[0], DType.valueOf(f[1]), ints(f[2]), Arrays.stream(ints(f[3])).asLongStream().toArray(), Long.parseLong(f[4]), f[5]);
        }).toList();
    }

    static int[] ints(String s) {
        return s.equals("()") ? new int[0] : Arrays.stream(s.split("x")).mapToInt(Integer::parseInt).toArray();
    }

    @Test
    void everyTensorLoadsWithItsValuesStridesAndOffset() throws Exception {
        Map<String, Tensor> expected = Npz.read(fixture("tensors_expected.npz"));
        Map<?, ?> root;
        try (TorchArchive a = TorchArchive.open(fixture("tensors.pt"))) {
            assertEquals("tensors", a.prefix());
            assertFalse(a.isTorchScript());
            assertEquals(3, a.version());
            root = (Map<?, ?>) a.data();
        } // the archive is closed: the tensors must stay valid
        Map<String, Tensor> byKey = new HashMap<>();
        for (Row r : manifest()) {
            Tensor t = (Tensor) root.get(r.name());
            assertNotNull(t, r.name());
            assertEquals(r.dtype(), t.dtype(), r.name());
            assertArrayEquals(r.shape(), t.shape(), r.name());
            assertArrayEquals(r.strides(), t.strides(), r.name() + " strides");
            assertEquals(r.offset(), t.offset(), r.name() + " offset");
            Tensor want = expected.get(r.name());
            for (long i = 0; i < t.numel(); i++) {
                if (r.dtype() == DType.I64) assertEquals(want.storage().getLong(DType.I64, i), t.storage().getLong(DType.I64, t.storageIndex(i)), r.name());
                else assertEquals(want.getFlat(i), t.getFlat(i), 0.0, r.name() + " element " + i);
            }
            Tensor first = byKey.putIfAbsent(r.key(), t);
            if (first != null) assertSame(first.storage(), t.storage(), r.name() + " shares its storage");
        }
        assertNotSame(((Tensor) root.get("f32")).storage(), ((Tensor) root.get("f64")).storage());
        Map<?, ?> nested = (Map<?, ?>) root.get("nested");
        List<?> list = (List<?>) nested.get("list");
        assertSame(root.get("i8"), list.get(0), "the memo shares the tensor object");
        assertEquals(List.of(1L, 2.5, "text"), list.subList(1, 4));
        assertNull(list.get(4));
        assertEquals(true, list.get(5));
        assertEquals(new PyTuple(List.of(1L, "two", 3.0)), nested.get("tuple"));
        assertEquals(BigInteger.TWO.pow(70), nested.get("big"));
        assertEquals(-(1L << 40), nested.get("neg"));
        assertArrayEquals(new byte[]{0, 1, (byte) 0xff}, (byte[]) nested.get("bytes"));
        TorchArchive.closeTensors(root);
        expected.values().forEach(Tensor::close);
    }

    @Test
    void closingTheTensorsFreesTheirMemory() throws Exception {
        long before = Storage.liveCountIgnoringCleaner();
        try (TorchArchive a = TorchArchive.open(fixture("tensors.pt"))) {
            Object root = a.data();
            assertTrue(Storage.liveCountIgnoringCleaner() > before);
            TorchArchive.closeTensors(root);
        }
        assertEquals(before, Storage.liveCountIgnoringCleaner());
    }

    @Test
    void scriptedModule() throws Exception {
        try (TorchArchive a = TorchArchive.open(fixture("scripted.pt"))) {
            assertTrue(a.isTorchScript());
            Map<String, String> code = a.code();
            assertEquals(List.of("code/__torch__.py", "code/__torch__/torch/nn/modules/linear.py"), List.copyOf(code.keySet()));
            assertTrue(code.get("code/__torch__.py").contains("def forward("), code.get("code/__torch__.py"));
            assertEquals(List.of(), a.constants());
            PyObject m = (PyObject) a.data();
            assertEquals("__torch__.Scripted", m.className());
            assertEquals(3L, m.get("k"));
            assertEquals(true, m.get("training"));
            Tensor table = (Tensor) m.get("table");
            assertArrayEquals(new int[]{3, 2}, table.shape());
            assertArrayEquals(new long[]{1, 3}, table.strides());
            assertArrayEquals(new float[]{0, 3, 1, 4, 2, 5}, table.toFloatArray());
            PyObject fc = (PyObject) m.get("fc");
            assertEquals("__torch__.torch.nn.modules.linear.Linear", fc.className());
            assertArrayEquals(new int[]{2, 3}, ((Tensor) fc.get("weight")).shape());
            TorchArchive.closeTensors(m);
        }
    }

    @Test
    void tracedConstants() throws Exception {
        try (TorchArchive a = TorchArchive.open(fixture("traced_const.pt"))) {
            List<Object> c = a.constants();
            assertEquals(1, c.size());
            Tensor t = (Tensor) c.get(0);
            assertArrayEquals(new float[]{1, 2, 3, 4, 5, 6}, t.toFloatArray());
            assertTrue(a.code().get("code/__torch__.py").contains("CONSTANTS.c0"));
            t.close();
        }
    }

    static String error(Path p) {
        KilnFormatException e = assertThrows(KilnFormatException.class, () -> {
            try (TorchArchive a = TorchArchive.open(p)) {
                TorchArchive.closeTensors(a.data());
            }
        });
        assertTrue(e.getMessage().startsWith(p.toString() + ": "), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        return e.getMessage();
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "evil.pt         | evil.pt: archive/data.pkl: refused global os.system (not on the allow-list)",
        "legacy.pt       | legacy (non-zip) torch.save format is not supported",
        "zip_size_lie.pt | but the file has only 4286 bytes",
        "zip_bomb.pt     | zip bomb",
        "zip_dotdot.pt   | refused zip entry name 'archive/../../etc/passwd'",
        "cycle.pkl       | a bare pickle, not a PyTorch zip archive",
        "MANIFEST.txt    | not a PyTorch zip archive (it does not start with a zip header)",
    })
    void hostileOrForeignFilesAreRefused(String file, String message) {
        String m = error(fixture(file));
        assertTrue(m.contains(message), m);
    }

    @Test
    void truncatedArchivesGiveOneLineErrors() throws Exception {
        byte[] full = Files.readAllBytes(fixture("tensors.pt"));
        for (int n : new int[]{0, 3, 30, 600, 2000, full.length / 2, full.length - 100, full.length - 23, full.length - 1}) {
            Path p = dir.resolve("cut" + n + ".pt");
            Files.write(p, Arrays.copyOf(full, n));
            error(p);
        }
    }

    @Test
    void corruptPickleBytesFailTheCrcCheck() throws Exception {
        byte[] full = Files.readAllBytes(fixture("tensors.pt"));
        int at = indexOf(full, "_rebuild_tensor_v2".getBytes());
        full[at] = 'X';
        Path p = dir.resolve("crc.pt");
        Files.write(p, full);
        assertTrue(error(p).contains("tensors/data.pkl: CRC mismatch"));
    }

    @Test
    void missingStorageIsNamed() throws Exception {
        byte[] full = Files.readAllBytes(fixture("tensors.pt"));
        byte[] name = "tensors/data/0".getBytes();
        for (int at = indexOf(full, name); at >= 0; at = indexOf(full, name)) full[at + name.length - 1] = 'Z'; // rename local + central
        Path p = dir.resolve("missing.pt");
        Files.write(p, full);
        assertTrue(error(p).contains("storage 0 has no data entry"), error(p));
    }

    static int indexOf(byte[] hay, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= hay.length; i++) {
            for (int j = 0; j < needle.length; j++) if (hay[i + j] != needle[j]) continue outer;
            return i;
        }
        return -1;
    }
}
