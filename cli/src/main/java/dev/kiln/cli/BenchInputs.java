package dev.kiln.cli;

import dev.kiln.io.Npy;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The inputs of {@code kiln bench MODEL}: read from .npy files ({@code --input [NAME=]FILE.npy})
 * or generated from a shape ({@code --shape [NAME=]2x128[:i64]}), checked against the model's
 * declaration (dtype, rank, fixed dims). Generated values, seeded: floats N(0, 1); integer inputs
 * whose name contains "mask" all ones; other integer inputs token ids uniform in [0, bound), the
 * bound being --max-id or the rows of the table the input indexes. Token ids read from a file are
 * checked against that bound too. Every problem is one IllegalArgumentException line.
 */
final class BenchInputs {
    private BenchInputs() {}

    /** One tensor per declared input, in declaration order (the caller closes them). */
    static List<Tensor> build(BenchTarget target, List<String> files, List<String> shapes, Long maxId, long seed) throws IOException {
        List<BenchTarget.Input> decl = target.inputs();
        Map<String, Object> given = new LinkedHashMap<>(); // name -> Path (file) or String (shape spec)
        assign(target, files, true, given);
        assign(target, shapes, false, given);
        List<Tensor> out = new ArrayList<>();
        try {
            SplittableRandom rnd = new SplittableRandom(seed);
            for (BenchTarget.Input in : decl) {
                Object g = given.get(in.name());
                if (g == null) g = fixedShape(in);
                if (g == null)
                    throw new IllegalArgumentException(target.file + ": input '" + in.name() + "' (" + typeText(in) + " " + in.dimsText()
                            + ") has no value: give --input " + in.name() + "=FILE.npy or --shape " + in.name() + "=" + example(in));
                Tensor t = g instanceof Path p ? Npy.read(p) : generate(target, in, (String) g, maxId, rnd);
                out.add(t);
                check(target, in, t, g instanceof Path p ? p.toString() : "--shape " + in.name() + "=" + g, maxId);
            }
            return out;
        } catch (IOException | RuntimeException e) {
            out.forEach(Tensor::close);
            throw e;
        }
    }

    /** Spreads [NAME=]VALUE options over the inputs: by name, else to the next input without one. */
    private static void assign(BenchTarget target, List<String> specs, boolean files, Map<String, Object> given) {
        List<BenchTarget.Input> decl = target.inputs();
        for (String spec : specs) {
            int eq = spec.indexOf('=');
            String name;
            String value = eq > 0 ? spec.substring(eq + 1) : spec;
            if (eq > 0) {
                name = spec.substring(0, eq);
                if (decl.stream().noneMatch(d -> d.name().equals(name)))
                    throw new IllegalArgumentException(target.file + ": no input named '" + name + "'; inputs are " + names(decl));
            } else {
                name = decl.stream().map(BenchTarget.Input::name).filter(n -> !given.containsKey(n)).findFirst().orElseThrow(() ->
                        new IllegalArgumentException(target.file + ": more inputs given than the model has " + names(decl)));
            }
            if (given.put(name, files ? Path.of(value) : value) != null)
                throw new IllegalArgumentException(target.file + ": input '" + name + "' given twice");
        }
    }

    private static String fixedShape(BenchTarget.Input in) {
        if (in.dims() == null || Arrays.stream(in.dims()).anyMatch(d -> d < 0)) return null;
        return shapeText(in.dims()).replace("scalar", "");
    }

    private static Tensor generate(BenchTarget target, BenchTarget.Input in, String spec, Long maxId, SplittableRandom rnd) {
        String dimsPart = spec;
        DType dt = in.dtype();
        int colon = spec.indexOf(':');
        if (colon >= 0) {
            dimsPart = spec.substring(0, colon);
            DType asked = dtype(target, spec.substring(colon + 1));
            if (dt != null && dt != asked)
                throw new IllegalArgumentException(target.file + ": input '" + in.name() + "' is " + typeText(in) + ", not " + asked.pyName());
            dt = asked;
        }
        if (dt == null) dt = looksLikeIds(in.name()) ? DType.I64 : DType.F32;
        int[] shape = parseShape(target, in, dimsPart);
        long n = 1;
        for (int d : shape) n *= d;
        if (n > Integer.MAX_VALUE) throw new IllegalArgumentException(target.file + ": input '" + in.name() + "' shape " + dimsPart + " is too large");
        double[] v = new double[(int) n];
        if (dt.isFloating()) for (int i = 0; i < v.length; i++) v[i] = gaussian(rnd);
        else if (dt == DType.BOOL || in.name().toLowerCase(Locale.ROOT).contains("mask")) Arrays.fill(v, 1);
        else {
            long bound = maxId != null ? maxId : in.idBound();
            if (bound <= 0)
                throw new IllegalArgumentException(target.file + ": input '" + in.name() + "' takes integer ids and no table bounds them: give --max-id N");
            for (int i = 0; i < v.length; i++) v[i] = rnd.nextLong(bound);
        }
        return Tensor.fromDoubles(dt, v, shape);
    }

    private static double gaussian(SplittableRandom r) {
        double u = 1 - r.nextDouble(), w = r.nextDouble();
        return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * w);
    }

    /** TorchScript declares no dtypes: token ids, masks and indices are int64 by name, the rest float32. */
    private static boolean looksLikeIds(String name) {
        String n = name.toLowerCase(Locale.ROOT);
        return n.contains("ids") || n.contains("mask") || n.contains("index") || n.contains("indices") || n.contains("token");
    }

    private static int[] parseShape(BenchTarget target, BenchTarget.Input in, String text) {
        if (text.isEmpty()) return new int[0];
        String[] parts = text.toLowerCase(Locale.ROOT).split("x", -1);
        int[] s = new int[parts.length];
        for (int i = 0; i < parts.length; i++) {
            try {
                s[i] = Integer.parseInt(parts[i].trim());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(target.file + ": --shape " + in.name() + "=" + text + ": expected sizes like 2x128");
            }
            if (s[i] < 0) throw new IllegalArgumentException(target.file + ": --shape " + in.name() + "=" + text + ": negative size");
        }
        return s;
    }

    private static DType dtype(BenchTarget target, String s) {
        return switch (s.toLowerCase(Locale.ROOT)) {
            case "f32", "float32", "float" -> DType.F32;
            case "f64", "float64", "double" -> DType.F64;
            case "i64", "int64", "long" -> DType.I64;
            case "i32", "int32", "int" -> DType.I32;
            case "bool" -> DType.BOOL;
            default -> throw new IllegalArgumentException(target.file + ": unknown dtype '" + s + "' (f32, f64, i64, i32, bool)");
        };
    }

    /** The value against the declaration: dtype, rank, fixed dims, and token ids within their table. */
    private static void check(BenchTarget target, BenchTarget.Input in, Tensor t, String source, Long maxId) {
        String what = target.file + ": input '" + in.name() + "' from " + source;
        if (in.dtype() != null && t.dtype() != in.dtype())
            throw new IllegalArgumentException(what + " is " + t.dtype().pyName() + ", the model wants " + in.dtype().pyName());
        int[] s = t.shape();
        if (in.dims() != null) {
            boolean ok = s.length == in.dims().length;
            for (int i = 0; ok && i < s.length; i++) ok = in.dims()[i] < 0 || in.dims()[i] == s[i];
            if (!ok)
                throw new IllegalArgumentException(what + " has shape " + Arrays.toString(s) + ", the model wants " + in.dimsText());
        }
        long bound = maxId != null ? maxId : in.idBound();
        if (bound > 0 && !t.dtype().isFloating() && t.dtype() != DType.BOOL && !in.name().toLowerCase(Locale.ROOT).contains("mask")) {
            long[] v = t.toLongArray();
            for (int i = 0; i < v.length; i++)
                if (v[i] < 0 || v[i] >= bound)
                    throw new IllegalArgumentException(what + ": id " + v[i] + " at position " + i + " is outside [0, " + bound + ") ("
                            + (maxId != null ? "--max-id" : in.idSource()) + ")");
        }
    }

    static String shapeText(int[] s) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < s.length; i++) sb.append(i == 0 ? "" : "x").append(s[i]);
        return s.length == 0 ? "scalar" : sb.toString();
    }

    private static String typeText(BenchTarget.Input in) { return in.dtype() == null ? "tensor" : in.dtype().pyName(); }

    private static String example(BenchTarget.Input in) {
        if (in.dims() == null) return "2x128";
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < in.dims().length; i++) sb.append(i == 0 ? "" : "x").append(in.dims()[i] >= 0 ? in.dims()[i] : i == 0 ? 1 : 128);
        return sb.toString();
    }

    private static List<String> names(List<BenchTarget.Input> decl) { return decl.stream().map(BenchTarget.Input::name).toList(); }
}
