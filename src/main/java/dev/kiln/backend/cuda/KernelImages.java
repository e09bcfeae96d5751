package dev.kiln.backend.cuda;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Finds the compiled image (or the source) of a kernel family, without touching CUDA.
 *
 * <p>Search order, first hit wins: prebuilt images {@code <family>.fatbin}, {@code .cubin},
 * {@code .ptx} in the directory {@code -Dkiln.kernels.dir} (if set), then the same names as class
 * path resources under {@code kernels/}; then the source {@code <family>.cu} in the same two places,
 * to be compiled by NVRTC. Quoted {@code #include "x.cuh"} files of a source are collected from the
 * same place as the source (recursively) so NVRTC can be handed them as headers.
 */
final class KernelImages {
    /** What an image holds. */
    enum Kind {
        FATBIN("fatbin"), CUBIN("cubin"), PTX("ptx"), SOURCE("cu");

        final String extension;

        Kind(String extension) {
            this.extension = extension;
        }
    }

    /** A found image: its bytes, where it came from, and for sources the included headers. */
    record Image(String family, Kind kind, byte[] bytes, String origin, Map<String, String> headers) {
        String text() {
            return new String(bytes, StandardCharsets.UTF_8);
        }
    }

    private static final Pattern FAMILY = Pattern.compile("[a-z0-9_]+");
    private static final Pattern INCLUDE = Pattern.compile("(?m)^\\s*#\\s*include\\s+\"([^\"]+)\"");
    private static final Kind[] PREBUILT = {Kind.FATBIN, Kind.CUBIN, Kind.PTX};

    private final Path dir; // may be null
    private final Function<String, InputStream> resources;

    /** Looks in {@code dir} (may be null) and then in {@code resources} (resource name to stream or null). */
    KernelImages(Path dir, Function<String, InputStream> resources) {
        this.dir = dir;
        this.resources = resources;
    }

    /**
     * The lookup configured by {@code -Dkiln.kernels.dir} and the engine's own resources. Resources
     * are opened through this class so that they are found in the engine's named module too (a
     * class loader lookup cannot see a named module's non-open resource folders).
     */
    static KernelImages fromSystem() {
        String d = System.getProperty("kiln.kernels.dir");
        return new KernelImages(d == null || d.isBlank() ? null : Path.of(d),
                name -> KernelImages.class.getResourceAsStream("/" + name));
    }

    /** The first image or source for {@code family}, or empty. */
    Optional<Image> find(String family) {
        if (!FAMILY.matcher(family).matches()) {
            throw new IllegalArgumentException("kernels: bad family name '" + family + "' (expected [a-z0-9_]+)");
        }
        for (Kind k : PREBUILT) {
            Optional<Image> img = read(family, k);
            if (img.isPresent()) return img;
        }
        return read(family, Kind.SOURCE);
    }

    /** Where {@link #find} looks, for error messages. */
    String searched(String family) {
        List<String> places = new ArrayList<>();
        if (dir != null) places.add(dir.resolve(family + ".{fatbin,cubin,ptx,cu}").toString());
        places.add("classpath:kernels/" + family + ".{fatbin,cubin,ptx,cu}");
        return String.join(", ", places);
    }

    private Optional<Image> read(String family, Kind kind) {
        String file = family + "." + kind.extension;
        if (dir != null) {
            Path p = dir.resolve(file);
            if (Files.isRegularFile(p)) {
                byte[] b = readFile(p);
                Map<String, String> headers = kind == Kind.SOURCE ? headers(b, name -> readFileIfExists(dir.resolve(name))) : Map.of();
                return Optional.of(new Image(family, kind, b, p.toString(), headers));
            }
        }
        byte[] b = readResource("kernels/" + file);
        if (b == null) return Optional.empty();
        Map<String, String> headers = kind == Kind.SOURCE ? headers(b, name -> readResource("kernels/" + name)) : Map.of();
        return Optional.of(new Image(family, kind, b, "classpath:kernels/" + file, headers));
    }

    /** Reads a named file next to the source; null when absent. */
    interface Source {
        byte[] read(String name);
    }

    /** Quoted includes of {@code source}, transitively, as name -> text; a missing header throws. */
    static Map<String, String> headers(byte[] source, Source from) {
        Map<String, String> out = new LinkedHashMap<>();
        collect(new String(source, StandardCharsets.UTF_8), from, out);
        return out;
    }

    private static void collect(String text, Source from, Map<String, String> out) {
        Matcher m = INCLUDE.matcher(text);
        while (m.find()) {
            String name = m.group(1);
            if (out.containsKey(name)) continue;
            byte[] b = from.read(name);
            if (b == null) throw new IllegalStateException("kernels: included header '" + name + "' not found next to the source");
            String h = new String(b, StandardCharsets.UTF_8);
            out.put(name, h);
            collect(h, from, out);
        }
    }

    private byte[] readResource(String name) {
        try (InputStream in = resources.apply(name)) {
            return in == null ? null : in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException("kernels: cannot read resource " + name, e);
        }
    }

    private static byte[] readFileIfExists(Path p) {
        return Files.isRegularFile(p) ? readFile(p) : null;
    }

    private static byte[] readFile(Path p) {
        try {
            return Files.readAllBytes(p);
        } catch (IOException e) {
            throw new UncheckedIOException("kernels: cannot read " + p, e);
        }
    }
}
