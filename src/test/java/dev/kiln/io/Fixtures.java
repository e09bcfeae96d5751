package dev.kiln.io;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Tensor;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The fixtures made by tools/make_npy_fixtures.py: their directory, the manifest, and the value
 * formulas (the same table as in the script's docstring), as functions of the C-order flat index.
 */
final class Fixtures {
    private Fixtures() {}

    /** One manifest row: an array in a .npy file (member "-") or an .npz member. */
    record Entry(String file, String member, String descr, int[] shape, boolean fortran, String version, String formula) {
        @Override public String toString() { return member.equals("-") ? file : file + "[" + member + "]"; }
    }

    static Path dir() {
        try {
            return Path.of(Fixtures.class.getResource("/npy/MANIFEST.txt").toURI()).getParent();
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    static List<Entry> manifest() {
        try {
            List<Entry> out = new ArrayList<>();
            for (String line : Files.readAllLines(dir().resolve("MANIFEST.txt"))) {
                if (line.isBlank() || line.startsWith("#")) continue;
                String[] f = line.trim().split(" ");
                int[] shape = f[3].equals("()") ? new int[0] : Arrays.stream(f[3].split("x")).mapToInt(Integer::parseInt).toArray();
                out.add(new Entry(f[0], f[1], f[2], shape, Boolean.parseBoolean(f[4].toLowerCase()), f[5], f[6]));
            }
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The Kiln dtype a fixture descr must load as. */
    static DType dtypeOf(String descr) {
        return switch (descr.substring(1)) {
            case "f2" -> DType.F16;
            case "f4" -> DType.F32;
            case "f8" -> DType.F64;
            case "i1" -> DType.I8;
            case "i4" -> DType.I32;
            case "i8" -> DType.I64;
            case "b1" -> DType.BOOL;
            case "V2" -> DType.BF16;
            default -> throw new IllegalArgumentException(descr);
        };
    }

    /** Exact integer formulas (int8, int32, int64, bool, arange). */
    static long longValue(String formula, long i) {
        return switch (formula) {
            case "int8" -> i * 23 - 128;
            case "int32" -> i * 100003 - 500000;
            case "int64" -> (i - 6) * (100_000_000_000_000_000L + 3);
            case "bool" -> i % 3 == 0 ? 1 : 0;
            case "arange" -> i;
            default -> throw new IllegalArgumentException(formula);
        };
    }

    static double doubleValue(String formula, long i) {
        return switch (formula) {
            case "float" -> (i - 5.5) * 0.25;
            case "c3.5" -> 3.5;
            default -> longValue(formula, i);
        };
    }

    /** Checks dtype, shape, contiguity and every value (integers exactly via getLong). */
    static void check(Entry e, Tensor t) {
        assertEquals(dtypeOf(e.descr()), t.dtype(), e + " dtype");
        assertArrayEquals(e.shape(), t.shape(), e + " shape");
        assertEquals(true, t.isContiguous(), e + " contiguous");
        for (long i = 0; i < t.numel(); i++) {
            if (t.dtype().isFloating()) assertEquals(doubleValue(e.formula(), i), t.getFlat(i), 0.0, e + " element " + i);
            else assertEquals(longValue(e.formula(), i), t.storage().getLong(t.dtype(), t.storageIndex(i)), e + " element " + i);
        }
    }
}
