package dev.kiln.train;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * Text for a byte-level language model: the bytes of one file, or of every text file under a
 * directory (sorted by path, each followed by a newline; files holding a NUL byte, such as
 * fortune's {@code .dat} indexes, are skipped as binary; symbolic links inside it are not followed,
 * e.g. fortune's {@code .u8} links to the files themselves), cut into a training part and a held-out
 * tail ({@code heldOut} of the bytes, the last ones, so no window spans both).
 */
public record TextCorpus(byte[] train, byte[] heldOut, int files, int skipped, String source) {
    /** Reads path; fails in one line naming it when nothing usable is there or a part is shorter than minPart bytes. */
    public static TextCorpus load(Path path, double heldOut, int minPart) {
        if (!(heldOut > 0 && heldOut < 1)) throw new IllegalArgumentException("text corpus: held-out fraction must be in (0, 1), got " + heldOut);
        List<Path> files = new ArrayList<>();
        try {
            if (Files.isRegularFile(path)) files.add(path);
            else if (Files.isDirectory(path))
                try (Stream<Path> s = Files.walk(path)) {
                    s.filter(f -> Files.isRegularFile(f, java.nio.file.LinkOption.NOFOLLOW_LINKS)).sorted().forEach(files::add);
                }
            else throw new IllegalArgumentException(path + " does not exist (give a text file or a directory of them)");
            java.io.ByteArrayOutputStream all = new java.io.ByteArrayOutputStream();
            int used = 0, skipped = 0;
            for (Path f : files) {
                byte[] b = Files.readAllBytes(f);
                if (binary(b)) {
                    skipped++;
                    continue;
                }
                all.write(b);
                if (b.length > 0 && b[b.length - 1] != '\n') all.write('\n');
                used++;
            }
            byte[] bytes = all.toByteArray();
            int cut = (int) Math.round(bytes.length * (1 - heldOut));
            if (cut < minPart || bytes.length - cut < minPart)
                throw new IllegalArgumentException(path + ": " + bytes.length + " bytes of text in " + used + " file(s) (" + skipped
                        + " binary skipped) are too few: the training part and the held-out part need " + minPart + " bytes each");
            return new TextCorpus(java.util.Arrays.copyOf(bytes, cut), java.util.Arrays.copyOfRange(bytes, cut, bytes.length), used, skipped, path.toString());
        } catch (IOException e) {
            throw new UncheckedIOException(path + ": " + e.getMessage(), e);
        }
    }

    private static boolean binary(byte[] b) {
        for (byte x : b) if (x == 0) return true;
        return false;
    }
}
