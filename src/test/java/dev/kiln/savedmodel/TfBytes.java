package dev.kiln.savedmodel;

import dev.kiln.onnx.proto.ProtoWriter;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.zip.CRC32C;

/**
 * Hand-made TensorFlow files for the hostile-input tests: saved_model.pb messages (field numbers as
 * in the .proto files) and TensorBundle index tables (LevelDB format), written independently of the
 * reader so that each test can break exactly one thing.
 */
final class TfBytes {
    private TfBytes() {}

    /** A SavedModel with one MetaGraphDef tagged "serve": nodes, functions and one signature "serving_default". */
    static byte[] savedModel(List<Consumer<ProtoWriter>> nodes, List<Consumer<ProtoWriter>> functions,
                             Map<String, String> inputs, Map<String, String> outputs) {
        ProtoWriter w = new ProtoWriter();
        w.message(2, mg -> {
            mg.message(1, info -> info.string(4, "serve"));
            mg.message(2, g -> {
                for (Consumer<ProtoWriter> n : nodes) g.message(1, n);
                if (!functions.isEmpty()) g.message(2, lib -> { for (Consumer<ProtoWriter> f : functions) lib.message(1, f); });
            });
            mg.message(5, e -> e.string(1, "serving_default").message(2, sig -> {
                for (var in : inputs.entrySet()) sig.message(1, m -> m.string(1, in.getKey()).message(2, ti -> ti.string(1, in.getValue()).int64(2, 1)));
                for (var out : outputs.entrySet()) sig.message(2, m -> m.string(1, out.getKey()).message(2, ti -> ti.string(1, out.getValue()).int64(2, 1)));
            }));
        });
        return w.toByteArray();
    }

    /** A NodeDef; attrs are written by the caller (see {@link #typeAttr}, {@link #funcAttr}). */
    static Consumer<ProtoWriter> node(String name, String op, List<String> inputs, Consumer<ProtoWriter> attrs) {
        return n -> {
            n.string(1, name).string(2, op);
            for (String i : inputs) n.string(3, i);
            if (attrs != null) attrs.accept(n);
        };
    }

    /** A float Placeholder. */
    static Consumer<ProtoWriter> placeholder(String name) { return node(name, "Placeholder", List.of(), typeAttr("dtype", 1)); }

    static Consumer<ProtoWriter> typeAttr(String key, int dtype) {
        return n -> n.message(5, e -> e.string(1, key).message(2, v -> v.int64(6, dtype)));
    }

    /** A {@code func} attribute f naming a function. */
    static Consumer<ProtoWriter> funcAttr(String function) {
        return n -> n.message(5, e -> e.string(1, "f").message(2, v -> v.message(10, f -> f.string(1, function))));
    }

    /** A float Const whose TensorProto declares dims and holds content bytes of tensor_content. */
    static Consumer<ProtoWriter> constNode(String name, long[] dims, byte[] content) {
        return node(name, "Const", List.of(), n -> {
            n.message(5, e -> e.string(1, "value").message(2, v -> v.message(8, t -> {
                t.int64(1, 1);
                t.message(2, s -> { for (long d : dims) s.message(2, dim -> dim.int64(1, d)); });
                t.bytes(4, content);
            })));
            typeAttr("dtype", 1).accept(n);
        });
    }

    /** A FunctionDef with float inputs/outputs named, a body, and ret (output -> "node:arg:0"). */
    static Consumer<ProtoWriter> function(String name, List<String> in, Map<String, String> ret, List<Consumer<ProtoWriter>> body) {
        return f -> {
            f.message(1, sig -> {
                sig.string(1, name);
                for (String i : in) sig.message(2, a -> a.string(1, i).int64(3, 1));
                for (String o : ret.keySet()) sig.message(3, a -> a.string(1, o).int64(3, 1));
            });
            for (Consumer<ProtoWriter> n : body) f.message(3, n);
            for (var r : ret.entrySet()) f.message(4, e -> e.string(1, r.getKey()).string(2, r.getValue()));
        };
    }

    // ------------------------------------------------------------------ TensorBundle index

    /** A BundleEntryProto. */
    static byte[] entry(int dtype, long[] shape, int shard, long offset, long size, int maskedCrc) {
        ProtoWriter w = new ProtoWriter();
        w.int64(1, dtype);
        w.message(2, s -> { for (long d : shape) s.message(2, dim -> dim.int64(1, d)); });
        if (shard != 0) w.int64(3, shard);
        w.int64(4, offset).int64(5, size);
        w.tag(6, ProtoWriter.FIXED32);
        w.rawFixed32(maskedCrc);
        return w.toByteArray();
    }

    /** The BundleHeaderProto: one shard, little-endian. */
    static byte[] header() { return new ProtoWriter().int64(1, 1).toByteArray(); }

    /** An index table holding the given sorted key/value entries in one data block. */
    static byte[] table(Map<String, byte[]> sortedEntries) {
        ByteArrayOutputStream file = new ByteArrayOutputStream();
        ByteArrayOutputStream data = new ByteArrayOutputStream();
        for (var e : sortedEntries.entrySet()) {
            byte[] k = e.getKey().getBytes(java.nio.charset.StandardCharsets.UTF_8);
            varint(data, 0);
            varint(data, k.length);
            varint(data, e.getValue().length);
            data.writeBytes(k);
            data.writeBytes(e.getValue());
        }
        long dataOff = writeBlock(file, data);
        long dataSize = data.size() + 8;   // the restart array added by writeBlock
        ByteArrayOutputStream meta = new ByteArrayOutputStream();
        long metaOff = writeBlock(file, meta);
        long metaSize = 8;
        ByteArrayOutputStream index = new ByteArrayOutputStream();
        ByteArrayOutputStream handle = new ByteArrayOutputStream();
        varint(handle, dataOff);
        varint(handle, dataSize);
        byte[] lastKey = sortedEntries.isEmpty() ? new byte[0] : sortedEntries.keySet().stream().reduce((a, b) -> b).get().getBytes();
        varint(index, 0);
        varint(index, lastKey.length);
        varint(index, handle.size());
        index.writeBytes(lastKey);
        index.writeBytes(handle.toByteArray());
        long indexSize = index.size() + 8;
        long indexOff = writeBlock(file, index);
        ByteArrayOutputStream footer = new ByteArrayOutputStream();
        varint(footer, metaOff);
        varint(footer, metaSize);
        varint(footer, indexOff);
        varint(footer, indexSize);
        while (footer.size() < 40) footer.write(0);
        ByteBuffer magic = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0xdb4775248b80fb57L);
        footer.writeBytes(magic.array());
        file.writeBytes(footer.toByteArray());
        return file.toByteArray();
    }

    /** Appends contents + one restart point (offset 0) + trailer; returns the block's offset. */
    private static long writeBlock(ByteArrayOutputStream file, ByteArrayOutputStream contents) {
        long off = file.size();
        ByteBuffer tail = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putInt(0).putInt(1);
        byte[] block = new byte[contents.size() + 8];
        System.arraycopy(contents.toByteArray(), 0, block, 0, contents.size());
        System.arraycopy(tail.array(), 0, block, contents.size(), 8);
        CRC32C c = new CRC32C();
        c.update(block);
        c.update(0);
        file.writeBytes(block);
        file.write(0);
        file.writeBytes(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(TensorBundle.mask((int) c.getValue())).array());
        return off;
    }

    private static void varint(ByteArrayOutputStream out, long v) {
        while ((v & ~0x7fL) != 0) {
            out.write((int) ((v & 0x7f) | 0x80));
            v >>>= 7;
        }
        out.write((int) v);
    }

    static int maskedCrc(byte[] bytes) {
        CRC32C c = new CRC32C();
        c.update(bytes);
        return TensorBundle.mask((int) c.getValue());
    }
}
