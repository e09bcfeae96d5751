package dev.kiln.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * What a file is, judged by its content, not its name: the first bytes and, for ONNX (a protobuf
 * with no magic number), a walk over the top-level fields of its ModelProto, which also tells a
 * complete ONNX file from a truncated one without reading the whole model. Used to give "PATH is
 * an ONNX model; quantize takes a Kiln checkpoint" instead of a parser error deep in the wrong
 * reader.
 */
public enum FileKind {
    DIRECTORY("a directory"),
    EMPTY("an empty file"),
    /** safetensors: an 8-byte little-endian header length, then a JSON object (Kiln's checkpoint format). */
    SAFETENSORS("a safetensors file"),
    ONNX("an ONNX model"),
    /** The top-level fields of an ONNX ModelProto up to a field that runs past the end of the file. */
    ONNX_TRUNCATED("a truncated ONNX model"),
    /** A zip archive: TorchScript ({@code torch.jit.save}) or a PyTorch {@code torch.save} file. */
    ZIP("a zip archive (TorchScript or PyTorch)"),
    NPY("a NumPy .npy array"),
    UNKNOWN("of an unknown format");

    private final String description;

    FileKind(String description) { this.description = description; }

    /** "an ONNX model", "a directory", ... (for messages: PATH + " is " + description). */
    public String description() { return description; }

    /**
     * The kind of the file at p. Throws {@link java.nio.file.NoSuchFileException} (or another
     * {@link java.nio.file.FileSystemException}) when it cannot be opened.
     */
    public static FileKind of(Path p) throws IOException {
        if (Files.isDirectory(p)) return DIRECTORY;
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size == 0) return EMPTY;
            ByteBuffer head = read(ch, 0, 16);
            byte[] h = new byte[head.remaining()];
            head.get(h);
            if (h.length >= 4 && h[0] == 'P' && h[1] == 'K' && h[2] == 3 && h[3] == 4) return ZIP;
            if (h.length >= 6 && (h[0] & 0xff) == 0x93 && h[1] == 'N' && h[2] == 'U' && h[3] == 'M' && h[4] == 'P' && h[5] == 'Y') return NPY;
            if (h.length >= 9 && h[8] == '{') {
                long n = ByteBuffer.wrap(h, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
                if (n >= 2 && n <= size - 8) return SAFETENSORS;
            }
            return onnx(ch, size);
        }
    }

    /** True for kinds that are ONNX models, complete or not. */
    public boolean isOnnx() { return this == ONNX || this == ONNX_TRUNCATED; }

    // ---------------------------------------------------------------- ONNX (protobuf ModelProto)

    /** ModelProto field numbers and their wire types (0 varint, 2 length-delimited); -1: not a ModelProto field. */
    private static int wireType(long field) {
        return switch ((int) Math.min(field, 1000)) {
            case 1, 5 -> 0;                               // ir_version, model_version
            case 2, 3, 4, 6, 7, 8, 14, 20, 25 -> 2;       // producer_name/version, domain, doc_string, graph, opset_import, metadata_props, training_info, functions
            default -> -1;
        };
    }

    /**
     * Walks the top-level fields. ONNX when every field is a ModelProto field with its wire type,
     * they end exactly at the end of the file, and ir_version or graph is among them;
     * ONNX_TRUNCATED when the file starts with ir_version (as every ONNX writer does) and a field
     * runs past the end; UNKNOWN otherwise.
     */
    private static FileKind onnx(FileChannel ch, long size) throws IOException {
        long pos = 0;
        boolean core = false, first = true, startsWithIr = false;
        while (pos < size) {
            long[] tag = varint(ch, pos, size);
            if (tag == null) return startsWithIr ? ONNX_TRUNCATED : UNKNOWN;
            long field = tag[0] >>> 3;
            int wt = (int) (tag[0] & 7);
            if (wireType(field) != wt) return UNKNOWN;
            if (first) startsWithIr = field == 1;
            first = false;
            core |= field == 1 || field == 7;
            pos = tag[1];
            long[] v = varint(ch, pos, size);
            if (v == null) return startsWithIr ? ONNX_TRUNCATED : UNKNOWN;
            pos = v[1];
            if (wt == 2) {
                if (v[0] < 0 || v[0] > size - pos) return startsWithIr ? ONNX_TRUNCATED : UNKNOWN;
                pos += v[0];
            } else if (field == 1 && (v[0] < 1 || v[0] > 100)) {
                return UNKNOWN;                           // ir_version is a small number (3 to 11 today)
            }
        }
        return core ? ONNX : UNKNOWN;
    }

    /** {value, position after it}, or null when the file ends inside it (or it is longer than 10 bytes). */
    private static long[] varint(FileChannel ch, long pos, long size) throws IOException {
        ByteBuffer b = read(ch, pos, (int) Math.min(10, size - pos));
        long v = 0;
        for (int i = 0; b.hasRemaining(); i++) {
            int x = b.get() & 0xff;
            v |= (long) (x & 0x7f) << (7 * i);
            if ((x & 0x80) == 0) return new long[]{v, pos + i + 1};
        }
        return null;
    }

    private static ByteBuffer read(FileChannel ch, long pos, int n) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(n);
        while (b.hasRemaining()) {
            if (ch.read(b, pos + b.position()) < 0) break;
        }
        return b.flip();
    }
}
