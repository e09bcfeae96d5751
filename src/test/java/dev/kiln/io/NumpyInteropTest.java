package dev.kiln.io;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Files Kiln writes are loaded by real NumPy (np.load) and checked against the fixture formulas.
 * Skipped, with the reason printed, when python3 with numpy is not installed.
 */
class NumpyInteropTest {
    @TempDir Path dir;

    private static final String CHECK = """
            import os, sys
            import numpy as np
            d = sys.argv[1]
            F = {"float": lambda i: (i - 5.5) * 0.25, "int8": lambda i: i * 23 - 128,
                 "int32": lambda i: i * 100003 - 500000, "int64": lambda i: (i - 6) * (10**17 + 3),
                 "bool": lambda i: i % 3 == 0, "arange": lambda i: i}
            n = 0
            for line in open(os.path.join(d, "expect.txt")):
                file, member, formula, shape, dtype, transform = line.split()
                shape = tuple(int(x) for x in shape.split("x")) if shape != "()" else ()
                path = os.path.join(d, file)
                arr = np.load(path) if member == "-" else np.load(path)[member]
                if dtype == "bfloat16":
                    assert arr.dtype == np.dtype("V2"), (file, arr.dtype)
                    arr = (arr.view("<u2").astype("<u4") << 16).view("<f4")
                else:
                    assert arr.dtype == np.dtype(dtype), (file, member, arr.dtype, dtype)
                size = int(np.prod(shape)) if shape else 1
                if transform == "T":
                    want = np.asarray(F[formula](np.arange(size, dtype=object))).reshape(shape[::-1]).T
                else:
                    want = np.asarray(F[formula](np.arange(size, dtype=object))).reshape(shape)
                assert arr.shape == shape, (file, member, arr.shape, shape)
                assert np.array_equal(arr, want.astype(arr.dtype)), (file, member, arr, want)
                n += 1
            print("ok", n)
            """;

    private static String numpyMissing() {
        try {
            Process p = new ProcessBuilder("python3", "-c", "import numpy").redirectErrorStream(true).start();
            if (!p.waitFor(30, TimeUnit.SECONDS)) { p.destroyForcibly(); return "python3 -c 'import numpy' timed out"; }
            return p.exitValue() == 0 ? null : "python3 has no numpy";
        } catch (Exception e) {
            return "python3 not found (" + e.getMessage() + ")";
        }
    }

    private static Tensor formula(DType t, String formula, int... shape) {
        int n = (int) dev.kiln.tensor.Shape.numel(shape);
        Tensor x = Tensor.zeros(t, shape);
        for (int i = 0; i < n; i++) {
            if (formula.equals("float")) x.storage().setDouble(t, i, Fixtures.doubleValue(formula, i));
            else x.storage().setLong(t, i, Fixtures.longValue(formula, i));
        }
        return x;
    }

    @Test
    void numpyLoadsWhatKilnWrites() throws Exception {
        String missing = numpyMissing();
        if (missing != null) System.out.println("NumpyInteropTest skipped: " + missing);
        Assumptions.assumeTrue(missing == null, missing);

        List<String> expect = new ArrayList<>();
        Object[][] cases = {{DType.F16, "float", "float16"}, {DType.F32, "float", "float32"}, {DType.F64, "float", "float64"},
                {DType.BF16, "float", "bfloat16"}, {DType.I8, "int8", "int8"}, {DType.I32, "int32", "int32"},
                {DType.I64, "int64", "int64"}, {DType.BOOL, "bool", "bool"}};
        Map<String, Tensor> npz = new LinkedHashMap<>();
        for (Object[] c : cases) {
            DType t = (DType) c[0];
            String f = (String) c[1], np = (String) c[2];
            try (Tensor x = formula(t, f, 3, 4)) {
                Npy.write(dir.resolve(t + ".npy"), x);
                expect.add(t + ".npy - " + f + " 3x4 " + np + " -");
                Npy.write(dir.resolve(t + "_fortran.npy"), x, true);
                expect.add(t + "_fortran.npy - " + f + " 3x4 " + np + " -");
                try (Tensor tr = x.t()) {
                    Npy.write(dir.resolve(t + "_t.npy"), tr);
                    expect.add(t + "_t.npy - " + f + " 4x3 " + np + " T");
                }
            }
            npz.put(t.name().toLowerCase(), formula(t, f, 2, 6));
            expect.add("stored.npz " + t.name().toLowerCase() + " " + f + " 2x6 " + np + " -");
            expect.add("compressed.npz " + t.name().toLowerCase() + " " + f + " 2x6 " + np + " -");
        }
        try (Tensor s = Tensor.scalar(0, DType.F64); Tensor e = Tensor.zeros(DType.F32, 0, 3)) {
            Npy.write(dir.resolve("scalar.npy"), s);
            expect.add("scalar.npy - arange () float64 -");
            Npy.write(dir.resolve("empty.npy"), e);
            expect.add("empty.npy - float 0x3 float32 -");
        }
        try {
            Npz.write(dir.resolve("stored.npz"), npz, false);
            Npz.write(dir.resolve("compressed.npz"), npz, true);
        } finally {
            npz.values().forEach(Tensor::close);
        }
        Files.write(dir.resolve("expect.txt"), expect);
        Files.writeString(dir.resolve("check.py"), CHECK);

        Process p = new ProcessBuilder("python3", dir.resolve("check.py").toString(), dir.toString()).redirectErrorStream(true).start();
        boolean done = p.waitFor(60, TimeUnit.SECONDS);
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!done) p.destroyForcibly();
        assertTrue(done, "numpy check timed out");
        assertEquals(0, p.exitValue(), out);
        assertEquals("ok " + expect.size(), out.strip());
    }
}
