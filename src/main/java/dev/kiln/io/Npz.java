package dev.kiln.io;

import dev.kiln.tensor.Tensor;

import java.io.BufferedOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.util.Enumeration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.zip.CRC32;
import java.util.zip.CheckedInputStream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipException;
import java.util.zip.ZipFile;
import java.util.zip.ZipOutputStream;

/**
 * NumPy {@code .npz} archives: a zip of {@code .npy} members, stored or deflated, as written by
 * {@code np.savez} / {@code np.savez_compressed}. Names are the member names without the
 * {@code .npy} suffix, in archive order. Each member's CRC-32 is verified. Writes are atomic and
 * deterministic (fixed member timestamps). See {@link Npy} for dtypes and the bfloat16 convention.
 */
public final class Npz {
    private Npz() {}

    /** Deflate cannot expand more than ~1032:1; a member claiming more is corrupt. */
    private static final long MAX_DEFLATE_RATIO = 1100;
    private static final LocalDateTime FIXED_TIME = LocalDateTime.of(1980, 1, 1, 0, 0);

    /** Reads every array of an .npz file, in archive order. */
    public static Map<String, Tensor> read(Path path) throws IOException {
        Map<String, Tensor> out = new LinkedHashMap<>();
        boolean ok = false;
        try (ZipFile zip = open(path)) {
            Enumeration<? extends ZipEntry> entries = zip.entries();
            while (entries.hasMoreElements()) {
                ZipEntry e = entries.nextElement();
                if (e.isDirectory()) continue;
                String name = path + "[" + e.getName() + "]";
                if (!e.getName().endsWith(".npy"))
                    throw new KilnFormatException(name + ": member is not a .npy array");
                String key = e.getName().substring(0, e.getName().length() - 4);
                if (out.containsKey(key)) throw new KilnFormatException(name + ": duplicate member");
                out.put(key, readMember(zip, e, name));
            }
            ok = true;
            return out;
        } finally {
            if (!ok) out.values().forEach(Tensor::close);
        }
    }

    private static ZipFile open(Path path) throws IOException {
        try {
            return new ZipFile(path.toFile());
        } catch (ZipException | EOFException e) { // EOFException: the JDK's search for the end record ran off the file
            throw new KilnFormatException(path + ": not a valid .npz (zip) file: " + e.getMessage(), e);
        }
    }

    private static Tensor readMember(ZipFile zip, ZipEntry e, String name) throws IOException {
        long size = e.getSize(), packed = e.getCompressedSize();
        if (size < 0 || (e.getMethod() == ZipEntry.STORED ? size != packed : packed >= 0 && size > packed * MAX_DEFLATE_RATIO + 4096))
            throw new KilnFormatException(name + ": corrupt zip entry (size " + size + ", compressed " + packed + ")");
        CRC32 crc = new CRC32();
        Tensor t = null;
        try (InputStream in = new CheckedInputStream(zip.getInputStream(e), crc)) {
            t = Npy.read(Channels.newChannel(in), size, name);
            in.transferTo(OutputStream.nullOutputStream()); // trailing bytes count toward the CRC
            if (crc.getValue() != e.getCrc())
                throw new KilnFormatException(name + ": CRC-32 mismatch (corrupt data)");
            return t;
        } catch (ZipException | EOFException ex) { // EOFException: the inflater ran out of deflate data
            if (t != null) t.close();
            throw new KilnFormatException(name + ": corrupt compressed data: " + ex.getMessage(), ex);
        } catch (IOException | RuntimeException ex) {
            if (t != null) t.close();
            throw ex;
        }
    }

    /** Writes arrays as name.npy members, deflated if compressed, atomically. Map order is kept. */
    public static void write(Path path, Map<String, Tensor> arrays, boolean compressed) throws IOException {
        Objects.requireNonNull(arrays, "arrays");
        for (Map.Entry<String, Tensor> a : arrays.entrySet()) {
            if (a.getKey() == null || a.getKey().isEmpty())
                throw new IllegalArgumentException("Npz.write: " + path + ": array names must be non-empty");
            Objects.requireNonNull(a.getValue(), "Npz.write: array '" + a.getKey() + "' is null");
        }
        AtomicWrite.write(path, ch -> {
            BufferedOutputStream buf = new BufferedOutputStream(Channels.newOutputStream(ch), 1 << 16);
            ZipOutputStream zip = new ZipOutputStream(buf);
            for (Map.Entry<String, Tensor> a : arrays.entrySet()) writeMember(zip, a.getKey(), a.getValue(), compressed);
            zip.finish(); // not close(): the atomic writer still has to flush and close the channel
            buf.flush();
        });
    }

    private static void writeMember(ZipOutputStream zip, String name, Tensor t, boolean compressed) throws IOException {
        try (Npy.Encoded enc = Npy.Encoded.of(t, false)) {
            ZipEntry e = new ZipEntry(name + ".npy");
            e.setTimeLocal(FIXED_TIME);
            if (compressed) {
                e.setMethod(ZipEntry.DEFLATED);
            } else {
                e.setMethod(ZipEntry.STORED);
                e.setSize(enc.size());
                e.setCompressedSize(enc.size());
                e.setCrc(enc.crc32());
            }
            zip.putNextEntry(e);
            enc.writeTo(Channels.newChannel(zip));
            zip.closeEntry();
        }
    }
}
