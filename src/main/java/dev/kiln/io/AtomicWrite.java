package dev.kiln.io;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Atomic file replacement: the body writes a hidden temporary file in the target's directory,
 * which is flushed to disk and renamed over the target. Readers see the old file or the complete
 * new one, never a partial write; on any failure the temporary file is removed. The directory is
 * synced after the rename so the replacement survives a crash.
 * <p>
 * Steps: write {@code .<name>.<pid>.<random>.tmp} (CREATE_NEW, so no two writers share one), force
 * its data and metadata to disk (fsync), close, rename over the target (atomic on POSIX file
 * systems), fsync the directory. A process killed mid-write (SIGKILL, power loss) leaves at most
 * its temporary file behind, never a damaged target; the next write of the same target removes
 * temporary files whose writer process is gone (a live writer's file is left alone).
 */
public final class AtomicWrite {
    private AtomicWrite() {}

    public interface Body { void write(FileChannel ch) throws IOException; }

    /** Atomically replaces target with text (UTF-8). */
    public static void writeString(Path target, String text) throws IOException {
        byte[] bytes = text.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        write(target, ch -> {
            java.nio.ByteBuffer buf = java.nio.ByteBuffer.wrap(bytes);
            while (buf.hasRemaining()) ch.write(buf);
        });
    }

    public static void write(Path target, Body body) throws IOException {
        Path abs = target.toAbsolutePath();
        Path dir = abs.getParent();
        if (dir == null || !Files.isDirectory(dir))
            throw new NoSuchFileException(target.toString(), null, "directory does not exist");
        removeStaleTemps(dir, abs.getFileName().toString());
        long pid = ProcessHandle.current().pid();
        Path tmp = dir.resolve("." + abs.getFileName() + "." + pid + "." + Long.toHexString(ThreadLocalRandom.current().nextLong()) + ".tmp");
        boolean done = false;
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                body.write(ch);
                ch.force(true);
            }
            try {
                Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING);
            }
            done = true;
            syncDirectory(dir);
        } finally {
            if (!done) deleteQuietly(tmp);
        }
    }

    /**
     * Deletes {@code .<name>.<pid>.<hex>.tmp} files left by writers of the same target that no longer
     * run (killed mid-write). Best effort: a file that cannot be listed or deleted is left.
     */
    static void removeStaleTemps(Path dir, String name) {
        String prefix = "." + name + ".";
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, p -> {
            String f = p.getFileName().toString();
            return f.startsWith(prefix) && f.endsWith(".tmp");
        })) {
            for (Path p : ds) {
                long owner = ownerPid(p.getFileName().toString().substring(prefix.length()));
                if (owner > 0 && ProcessHandle.of(owner).map(ProcessHandle::isAlive).orElse(false)) continue;
                if (owner > 0) deleteQuietly(p);
            }
        } catch (IOException | SecurityException ignored) {
            // leftovers only cost disk space
        }
    }

    /** The pid in "<pid>.<hex>.tmp", or -1 when the name has another form. */
    private static long ownerPid(String rest) {
        int dot = rest.indexOf('.');
        if (dot <= 0) return -1;
        try {
            return Long.parseLong(rest.substring(0, dot));
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    /** Makes the rename durable (best effort: not every file system lets a directory be synced). */
    private static void syncDirectory(Path dir) {
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        } catch (IOException | UnsupportedOperationException ignored) {
            // the data itself is already on disk
        }
    }

    private static void deleteQuietly(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException ignored) {
            // the original failure matters more than a leftover temporary file
        }
    }
}
