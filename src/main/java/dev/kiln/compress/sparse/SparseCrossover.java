package dev.kiln.compress.sparse;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Where sparse beats dense, per device: for each format, batch size and thread count a measured
 * curve of speedup vs Kiln's dense GEMM at several sparsities, and the crossover sparsity derived
 * from it (the lowest sparsity at which the sparse kernel is at least as fast as dense; 1.0 means
 * it never was). Written by {@code kiln bench sparse --crossover FILE}; the CPU table measured on the
 * dev machine ships as the resource {@code crossover-cpu.json} next to this class and is what
 * {@link SparseLinear} consults.
 *
 * <p>Between measured points the speedup is interpolated linearly; outside them it is extrapolated
 * with the work model "sparse time proportional to the stored fraction 1 - s", i.e.
 * {@code speedup(s) = speedup(s0) * (1 - s0) / (1 - s)}.
 */
public final class SparseCrossover {
    /** Resource name of the CPU table (in this package). */
    public static final String CPU_RESOURCE = "crossover-cpu.json";

    /** One measured curve: speedup[i] at sparsity[i] (ascending). */
    public record Curve(String format, int batch, int threads, double[] sparsity, double[] speedup) {
        public Curve {
            if (sparsity.length == 0 || sparsity.length != speedup.length)
                throw new IllegalArgumentException("crossover curve " + format + ": needs matching non-empty sparsity/speedup arrays");
        }

        /** Estimated speedup vs dense at sparsity s (interpolated; extrapolated by the 1/(1-s) work model). */
        public double speedupAt(double s) {
            int n = sparsity.length;
            if (s <= sparsity[0]) return speedup[0] * (1 - sparsity[0]) / Math.max(1 - s, 1e-9);
            if (s >= sparsity[n - 1]) return speedup[n - 1] * (1 - sparsity[n - 1]) / Math.max(1 - s, 1e-9);
            int i = 1;
            while (sparsity[i] < s) i++;
            double t = (s - sparsity[i - 1]) / (sparsity[i] - sparsity[i - 1]);
            return speedup[i - 1] + t * (speedup[i] - speedup[i - 1]);
        }

        /** Lowest sparsity with speedup >= 1 (1.0: never faster). */
        public double crossover() {
            if (speedup[0] >= 1) return Math.max(0, 1 - speedup[0] * (1 - sparsity[0]));
            for (int i = 1; i < sparsity.length; i++)
                if (speedup[i] >= 1) {
                    double t = (1 - speedup[i - 1]) / (speedup[i] - speedup[i - 1]);
                    return sparsity[i - 1] + t * (sparsity[i] - sparsity[i - 1]);
                }
            return 1.0;
        }
    }

    private final String device;
    private final List<Curve> curves;
    private static volatile SparseCrossover cpu;

    public SparseCrossover(String device, List<Curve> curves) {
        this.device = device;
        this.curves = List.copyOf(curves);
    }

    public String device() { return device; }
    public List<Curve> curves() { return curves; }

    /** The shipped CPU table (loaded once). */
    public static SparseCrossover cpu() {
        SparseCrossover c = cpu;
        if (c == null) {
            try (InputStream in = SparseCrossover.class.getResourceAsStream(CPU_RESOURCE)) {
                if (in == null) throw new IllegalStateException("sparse crossover: resource " + CPU_RESOURCE + " is missing");
                c = parse(new String(in.readAllBytes(), StandardCharsets.UTF_8), CPU_RESOURCE);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            cpu = c;
        }
        return c;
    }

    /**
     * The curve for a format closest to the given batch and threads: batches up to
     * {@link SparseMatmul#VECTOR_MAX_BATCH} use the smallest measured batch, larger ones the largest
     * measured batch not above it (else the smallest); threads likewise. Null if the format is absent.
     */
    public Curve curve(String format, int batch, int threads) {
        List<Curve> f = curves.stream().filter(c -> c.format.equals(format)).toList();
        if (f.isEmpty()) return null;
        int b = pick(f.stream().mapToInt(Curve::batch).distinct().sorted().toArray(),
                batch <= SparseMatmul.VECTOR_MAX_BATCH ? 1 : batch);
        List<Curve> fb = f.stream().filter(c -> c.batch == b).toList();
        int t = pick(fb.stream().mapToInt(Curve::threads).distinct().sorted().toArray(), threads);
        return fb.stream().filter(c -> c.threads == t).findFirst().orElseThrow();
    }

    /** Crossover sparsity for a format (1.0 when the format is not in the table or never faster). */
    public double crossover(String format, int batch, int threads) {
        Curve c = curve(format, batch, threads);
        return c == null ? 1.0 : c.crossover();
    }

    /** Estimated speedup vs dense (0 when the format is not in the table). */
    public double speedup(String format, int batch, int threads, double sparsity) {
        Curve c = curve(format, batch, threads);
        return c == null ? 0 : c.speedupAt(sparsity);
    }

    /** Largest value <= want, else the smallest (values ascending, non-empty). */
    private static int pick(int[] values, int want) {
        int best = values[0];
        for (int v : values) if (v <= want) best = v;
        return best;
    }

    public String toJson() {
        StringBuilder sb = new StringBuilder("{\"device\":\"").append(device).append("\",\"curves\":[\n");
        for (int i = 0; i < curves.size(); i++) {
            Curve c = curves.get(i);
            sb.append(String.format(Locale.ROOT, "  {\"format\":\"%s\",\"batch\":%d,\"threads\":%d,\"crossover\":%.4f,\"sparsity\":%s,\"speedup\":%s}%s%n",
                    c.format, c.batch, c.threads, c.crossover(), array(c.sparsity), array(c.speedup), i + 1 < curves.size() ? "," : ""));
        }
        return sb.append("]}\n").toString();
    }

    private static String array(double[] v) {
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < v.length; i++) sb.append(i == 0 ? "" : ",").append(String.format(Locale.ROOT, "%.4f", v[i]));
        return sb.append(']').toString();
    }

    private static final Pattern DEVICE = Pattern.compile("\"device\"\\s*:\\s*\"([^\"]*)\"");
    private static final Pattern CURVE = Pattern.compile("\\{\\s*\"format\"[^{}]*\\}");

    /** Reads what {@link #toJson} writes (one object per curve; unknown keys are ignored). */
    public static SparseCrossover parse(String json, String source) {
        Matcher d = DEVICE.matcher(json);
        List<Curve> list = new ArrayList<>();
        Matcher m = CURVE.matcher(json);
        while (m.find()) {
            String o = m.group();
            try {
                list.add(new Curve(str(o, "format"), (int) num(o, "batch"), (int) num(o, "threads"), nums(o, "sparsity"), nums(o, "speedup")));
            } catch (RuntimeException e) {
                throw new IllegalArgumentException(source + ": bad crossover curve " + o + ": " + e.getMessage(), e);
            }
        }
        if (list.isEmpty()) throw new IllegalArgumentException(source + ": no crossover curves found");
        return new SparseCrossover(d.find() ? d.group(1) : "unknown", list);
    }

    private static Matcher field(String o, String key, String valueRegex) {
        Matcher m = Pattern.compile("\"" + key + "\"\\s*:\\s*(" + valueRegex + ")").matcher(o);
        if (!m.find()) throw new IllegalArgumentException("missing \"" + key + "\"");
        return m;
    }

    private static String str(String o, String key) {
        String v = field(o, key, "\"[^\"]*\"").group(1);
        return v.substring(1, v.length() - 1);
    }

    private static double num(String o, String key) { return Double.parseDouble(field(o, key, "[-0-9.eE+]+").group(1)); }

    private static double[] nums(String o, String key) {
        String body = field(o, key, "\\[[^\\]]*\\]").group(1);
        body = body.substring(1, body.length() - 1).strip();
        if (body.isEmpty()) return new double[0];
        String[] parts = body.split(",");
        double[] v = new double[parts.length];
        for (int i = 0; i < parts.length; i++) v[i] = Double.parseDouble(parts[i].strip());
        return v;
    }
}
