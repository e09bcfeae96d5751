package dev.kiln.torchscript;

import dev.kiln.io.KilnFormatException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.CRC32;

import static org.junit.jupiter.api.Assertions.*;

/** The zip reader on hand-built archives: zip64 extra fields, entry limits, methods, flags. */
class ZipArchiveTest {
    @TempDir Path dir;

    /** A one-member stored zip; with zip64 the central sizes and offset are 0xFFFFFFFF plus an extra field. */
    static byte[] zip(String name, byte[] data, boolean zip64, int method, int flags) {
        byte[] n = name.getBytes(StandardCharsets.UTF_8);
        CRC32 crc = new CRC32();
        crc.update(data);
        ByteBuffer b = ByteBuffer.allocate(200 + 2 * n.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(0x04034b50).putShort((short) 20).putShort((short) flags).putShort((short) method).putInt(0)
                .putInt((int) crc.getValue()).putInt(data.length).putInt(data.length).putShort((short) n.length).putShort((short) 0);
        b.put(n).put(data);
        int cd = b.position();
        b.putInt(0x02014b50).putShort((short) 45).putShort((short) 45).putShort((short) flags).putShort((short) method).putInt(0)
                .putInt((int) crc.getValue());
        if (zip64) b.putInt(-1).putInt(-1); else b.putInt(data.length).putInt(data.length);
        b.putShort((short) n.length).putShort((short) (zip64 ? 28 : 0)).putShort((short) 0).putShort((short) 0).putShort((short) 0)
                .putInt(0).putInt(zip64 ? -1 : 0);
        b.put(n);
        if (zip64) b.putShort((short) 1).putShort((short) 24).putLong(data.length).putLong(data.length).putLong(0);
        int cdSize = b.position() - cd;
        b.putInt(0x06054b50).putShort((short) 0).putShort((short) 0).putShort((short) 1).putShort((short) 1)
                .putInt(cdSize).putInt(cd).putShort((short) 0);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(b.array(), 0, b.position());
        return out.toByteArray();
    }

    static final byte[] PICKLE = {(byte) 0x80, 2, 'K', 7, '.'};

    Path write(byte[] bytes) throws Exception {
        Path p = dir.resolve("a.pt");
        Files.write(p, bytes);
        return p;
    }

    @Test
    void zip64ExtraFieldsAreRead() throws Exception {
        try (TorchArchive a = TorchArchive.open(write(zip("archive/data.pkl", PICKLE, true, 0, 0)))) {
            assertEquals("archive", a.prefix());
            assertEquals(7L, a.data());
        }
    }

    @Test
    void unsupportedMethodsAndEncryptionAreNamed() throws Exception {
        KilnFormatException e = assertThrows(KilnFormatException.class, () -> {
            try (TorchArchive a = TorchArchive.open(write(zip("archive/data.pkl", PICKLE, false, 12, 0)))) { a.data(); }
        });
        assertTrue(e.getMessage().endsWith("archive/data.pkl: compression method 12 is not supported (stored or deflate only)"), e.getMessage());
        e = assertThrows(KilnFormatException.class, () -> {
            try (TorchArchive a = TorchArchive.open(write(zip("archive/data.pkl", PICKLE, false, 0, 1)))) { a.data(); }
        });
        assertTrue(e.getMessage().endsWith("encrypted entries are not supported"), e.getMessage());
    }

    @Test
    void membersOutsideATopFolderAreNotATorchArchive() throws Exception {
        KilnFormatException e = assertThrows(KilnFormatException.class, () -> TorchArchive.open(write(zip("data.pkl", PICKLE, false, 0, 0))));
        assertTrue(e.getMessage().contains("is not in a top folder"), e.getMessage());
        e = assertThrows(KilnFormatException.class, () -> TorchArchive.open(write(zip("/abs/data.pkl", PICKLE, false, 0, 0))));
        assertTrue(e.getMessage().contains("refused zip entry name '/abs/data.pkl'"), e.getMessage());
    }

    @Test
    void entryCountIsCapped() throws Exception {
        byte[] z = zip("archive/data.pkl", PICKLE, false, 0, 0);
        ByteBuffer b = ByteBuffer.wrap(z).order(ByteOrder.LITTLE_ENDIAN);
        int eocd = z.length - 22;
        b.putShort(eocd + 8, (short) -1).putShort(eocd + 10, (short) -1); // 65535 entries in a 150-byte directory
        KilnFormatException e = assertThrows(KilnFormatException.class, () -> TorchArchive.open(write(z)));
        assertTrue(e.getMessage().contains("corrupt zip central directory at entry 1"), e.getMessage());
    }
}
