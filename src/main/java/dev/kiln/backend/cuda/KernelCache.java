package dev.kiln.backend.cuda;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * On-disk cache of NVRTC output, so a kernel family is compiled once per source version, options and
 * GPU architecture. Files are {@code <family>-<16 hex of sha-256>-<arch>.cubin}; writes go to a
 * temporary file that is then moved into place, so concurrent processes never read half a file. The
 * cache is best effort: a directory that cannot be written only costs a recompile.
 * Directory: {@code -Dkiln.kernels.cache}, else {@code $XDG_CACHE_HOME/kiln/kernels}, else
 * {@code ~/.cache/kiln/kernels}.
 */
final class KernelCache {
    private final Path dir;

    KernelCache(Path dir) {
        this.dir = dir;
    }

    static KernelCache fromSystem() {
        String d = System.getProperty("kiln.kernels.cache");
        if (d != null && !d.isBlank()) return new KernelCache(Path.of(d));
        String xdg = System.getenv("XDG_CACHE_HOME");
        Path base = xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache");
        return new KernelCache(base.resolve("kiln").resolve("kernels"));
    }

    Path dir() {
        return dir;
    }

    /** Cache key: the family plus a hash of the source, its headers and the compile options. */
    static String key(String family, String source, Map<String, String> headers, List<String> options) {
        MessageDigest md;
        try {
            md = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        update(md, source);
        headers.entrySet().stream().sorted(Map.Entry.comparingByKey()).forEach(e -> {
            update(md, e.getKey());
            update(md, e.getValue());
        });
        for (String o : options) update(md, o);
        return family + "-" + HexFormat.of().formatHex(md.digest(), 0, 8);
    }

    private static void update(MessageDigest md, String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        md.update((byte) (b.length >>> 24));
        md.update((byte) (b.length >>> 16));
        md.update((byte) (b.length >>> 8));
        md.update((byte) b.length);
        md.update(b);
    }

    Path file(String key, String arch) {
        return dir.resolve(key + "-" + arch + ".cubin");
    }

    /** The cached image, or empty when absent or unreadable. */
    Optional<byte[]> get(String key, String arch) {
        Path f = file(key, arch);
        try {
            return Files.isRegularFile(f) ? Optional.of(Files.readAllBytes(f)) : Optional.empty();
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    /** Stores an image; returns false (and leaves no partial file) when the cache cannot be written. */
    boolean put(String key, String arch, byte[] image) {
        Path tmp = null;
        try {
            Files.createDirectories(dir);
            tmp = Files.createTempFile(dir, key, ".tmp");
            Files.write(tmp, image);
            try {
                Files.move(tmp, file(key, arch), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, file(key, arch), StandardCopyOption.REPLACE_EXISTING);
            }
            return true;
        } catch (IOException e) {
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // best effort
                }
            }
            return false;
        }
    }
}
