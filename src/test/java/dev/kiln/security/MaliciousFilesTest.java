package dev.kiln.security;

import dev.kiln.io.KilnFormatException;
import dev.kiln.io.Npy;
import dev.kiln.io.Npz;
import dev.kiln.io.Safetensors;
import dev.kiln.onnx.OnnxReader;
import dev.kiln.onnx.proto.ProtoWriter;
import dev.kiln.pickle.Globals;
import dev.kiln.pickle.TorchStorages;
import dev.kiln.pickle.Unpickler;
import dev.kiln.torchscript.TorchArchive;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.ByteArrayInputStream;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.function.Consumer;

import static dev.kiln.security.HostileBytes.*;
import static org.junit.jupiter.api.Assertions.*;

/**
 * Hostile model files, each built here byte by byte, against every reader (the threat model is
 * docs/SECURITY.md): pickles naming dangerous globals through every opcode that can reach one are
 * refused by name and run nothing; zip bombs and sizes beyond the file are refused; tensors that
 * declare 10^12 elements are refused before anything is allocated; ONNX external data cannot
 * leave the model's directory. Each must fail fast (a few seconds at most) with a one-line error.
 */
class MaliciousFilesTest {
    private static final Duration FAST = Duration.ofSeconds(5);

    @TempDir
    Path dir;

    /** The error the reader gives, which must come quickly, be of the expected type and be one line. */
    private static <T extends Throwable> String refused(Class<T> type, org.junit.jupiter.api.function.Executable read) {
        T e = assertTimeoutPreemptively(FAST, () -> assertThrows(type, read));
        assertNotNull(e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        return e.getMessage();
    }

    // ------------------------------------------------------------------ pickles

    /** Every route by which a pickle can reach a global, each given the payload "touch MARKER". */
    private static byte[] route(String route, String module, String name, String payload) {
        Pickle p = new Pickle().proto(4);
        switch (route) {
            case "GLOBAL+REDUCE" -> p.global(module, name).str(payload).op(TUPLE1).op(REDUCE);
            case "STACK_GLOBAL+REDUCE" -> p.str(module).str(name).op(STACK_GLOBAL).str(payload).op(TUPLE1).op(REDUCE);
            case "STACK_GLOBAL+memo" -> p.str(module).op(MEMOIZE).op(POP).str(name).op(MEMOIZE).op(POP)
                    .get(0).get(1).op(STACK_GLOBAL).str(payload).op(TUPLE1).op(REDUCE);
            case "NEWOBJ" -> p.global(module, name).str(payload).op(TUPLE1).op(NEWOBJ);
            case "NEWOBJ_EX" -> p.global(module, name).str(payload).op(TUPLE1).op(EMPTY_DICT).op(NEWOBJ_EX);
            case "BUILD" -> p.global("collections", "OrderedDict").op(EMPTY_TUPLE).op(REDUCE)
                    .op(EMPTY_DICT).str("__setstate__").global(module, name).op(SETITEM).op(BUILD);
            case "BUILD of a module class" -> p.global("__torch__", "Net").op(EMPTY_TUPLE).op(NEWOBJ)
                    .op(EMPTY_DICT).str("forward").global(module, name).op(SETITEM).op(BUILD);
            case "INST" -> p.op(MARK).str(payload).inst(module, name);
            case "OBJ" -> p.op(MARK).global(module, name).str(payload).op(OBJ);
            case "deep in a dict" -> p.op(EMPTY_DICT).str("a").op(EMPTY_LIST).global(module, name).op(APPEND).op(SETITEM);
            default -> throw new IllegalArgumentException(route);
        }
        return p.op(STOP).bytes();
    }

    @ParameterizedTest(name = "{0} via {1}")
    @CsvSource({
        "os.system, GLOBAL+REDUCE", "os.system, STACK_GLOBAL+REDUCE", "os.system, STACK_GLOBAL+memo", "os.system, INST",
        "builtins.eval, GLOBAL+REDUCE", "builtins.eval, NEWOBJ", "builtins.exec, NEWOBJ_EX", "builtins.exec, OBJ",
        "subprocess.Popen, STACK_GLOBAL+REDUCE", "subprocess.Popen, NEWOBJ", "subprocess.Popen, INST",
        "posix.system, GLOBAL+REDUCE", "posix.system, BUILD", "nt.system, BUILD of a module class",
        "__builtin__.getattr, GLOBAL+REDUCE", "__builtin__.getattr, deep in a dict", "builtins.__import__, STACK_GLOBAL+memo",
        "foo.bar, GLOBAL+REDUCE", "foo.bar, OBJ", "torch.load, INST", "torch._utils.os, STACK_GLOBAL+REDUCE",
    })
    void dangerousGlobalsAreRefusedByNameAndNothingRuns(String global, String route) throws Exception {
        Path marker = dir.resolve("pwned");
        int dot = global.lastIndexOf('.');
        byte[] pickle = route(route, global.substring(0, dot), global.substring(dot + 1), "touch " + marker);
        String m = refused(KilnFormatException.class, () -> Unpickler.load("evil.pkl", pickle, Globals.torch(), null));
        assertTrue(m.startsWith("evil.pkl: "), m);
        assertTrue(m.contains("refused global " + global + " (not on the allow-list)"), m);
        assertFalse(Files.exists(marker), "nothing may run");
        // the same pickle as the data.pkl of a torch.save archive
        Path pt = dir.resolve("evil.pt");
        Files.write(pt, Zip.build(z -> z.stored("archive/data.pkl", pickle)));
        String a = refused(KilnFormatException.class, () -> {
            try (TorchArchive archive = TorchArchive.open(pt)) {
                TorchArchive.closeTensors(archive.data());
            }
        });
        assertTrue(a.contains("archive/data.pkl: refused global " + global), a);
        assertFalse(Files.exists(marker), "nothing may run");
    }

    /** Opens an archive and reads one member (relative name), closing it again. */
    private static void read(Path p, String member) throws KilnFormatException {
        try (TorchArchive a = TorchArchive.open(p)) {
            a.read(member);
        }
    }

    @Test
    void allowListedRebuildCannotBeAskedForAHugeTensor() {
        // _rebuild_tensor_v2 over a 16-byte storage declaring 10^6 x 10^6 floats
        byte[] pickle = new Pickle().proto(2).global("torch._utils", "_rebuild_tensor_v2").op(MARK)
                .op(MARK).str("storage").global("torch", "FloatStorage").str("0").str("cpu").int32(4).op(TUPLE).op(BINPERSID)
                .int32(0).op(MARK).int32(1_000_000).int32(1_000_000).op(TUPLE).op(MARK).int32(1_000_000).int32(1).op(TUPLE)
                .op(NEWFALSE).op(EMPTY_DICT).op(TUPLE).op(REDUCE).op(STOP).bytes();
        MemorySegment sixteen = MemorySegment.ofArray(new byte[16]);
        TorchStorages storages = new TorchStorages(key -> sixteen);
        String m = refused(KilnFormatException.class, () -> {
            try {
                Unpickler.load("big.pkl", pickle, Globals.torch(), storages);
            } finally {
                storages.closeAll();
            }
        });
        assertTrue(m.contains("tensor of size [1000000, 1000000]") && m.contains("of storage 0 which has 4"), m);
    }

    // ------------------------------------------------------------------ zip archives

    @Test
    void zipBombIsRefusedBeforeInflating() throws Exception {
        // 1 KiB of deflate declaring 2 GiB: no deflate stream expands that much
        Path p = dir.resolve("bomb.pt");
        byte[] zip = Zip.build(z -> z.stored("archive/data.pkl", new Pickle().proto(2).op(NONE).op(STOP).bytes())
                .deflated("archive/data/0", new byte[1 << 20]));
        Files.write(p, Zip.setCentralSize(zip, "archive/data/0", 0x7fff_0000L));
        assertTrue(refused(KilnFormatException.class, () -> read(p, "data/0")).contains("zip bomb"));
        Path npz = dir.resolve("bomb.npz");
        Files.write(npz, Zip.setCentralSize(Zip.build(z -> z.deflated("a.npy", new byte[1 << 20])), "a.npy", 0x7fff_0000L));
        assertTrue(refused(KilnFormatException.class, () -> Npz.read(npz)).contains("corrupt zip entry"));
    }

    @Test
    void deflateStreamLongerThanDeclaredStopsAtTheDeclaredSize() throws Exception {
        // 16 MiB of zeros deflate to 16 KiB (an honest ratio), declared as 1000 bytes
        Path p = dir.resolve("lie.pt");
        byte[] zip = Zip.build(z -> z.stored("archive/data.pkl", new Pickle().proto(2).op(NONE).op(STOP).bytes())
                .deflated("archive/data/0", new byte[16 << 20]));
        Files.write(p, Zip.setCentralSize(zip, "archive/data/0", 1000));
        assertTrue(refused(KilnFormatException.class, () -> read(p, "data/0")).contains("longer than its declared 1000 bytes"));
    }

    @Test
    void entrySizesAndOffsetsBeyondTheFileAreRefused() throws Exception {
        byte[] good = Zip.build(z -> z.stored("archive/data.pkl", new Pickle().proto(2).op(NONE).op(STOP).bytes()));
        Path size = dir.resolve("size.pt");
        Files.write(size, Zip.setCentralField(good, "archive/data.pkl", 20, 1_000_000_000L)); // compressed size
        assertTrue(refused(KilnFormatException.class, () -> read(size, "data.pkl")).contains("declares 1000000000 bytes"));
        Path offset = dir.resolve("offset.pt");
        Files.write(offset, Zip.setCentralField(good, "archive/data.pkl", 42, 0xffff_fff0L)); // local header offset
        assertTrue(refused(KilnFormatException.class, () -> read(offset, "data.pkl")).contains("local header at byte"));
        Path stored = dir.resolve("stored.pt");
        Files.write(stored, Zip.setCentralSize(good, "archive/data.pkl", 1 << 30)); // stored, longer than its data
        assertTrue(refused(KilnFormatException.class, () -> read(stored, "data.pkl")).contains("stored entry declares"));
    }

    // ------------------------------------------------------------------ ONNX

    /** A model whose one initializer is the given TensorProto. */
    private static byte[] model(Consumer<ProtoWriter> tensor) {
        ProtoWriter w = new ProtoWriter();
        w.int64(1, 8);
        w.message(7, g -> {
            g.string(2, "g");
            g.message(5, tensor);
        });
        w.message(8, o -> o.int64(2, 13));
        return w.toByteArray();
    }

    private static Consumer<ProtoWriter> hugeFloat(Consumer<ProtoWriter> data) {
        return t -> {
            for (int i = 0; i < 3; i++) t.int64(1, 10_000); // dims: 10^4 x 10^4 x 10^4 = 10^12 elements
            t.int64(2, 1); // FLOAT
            t.string(8, "w");
            data.accept(t);
        };
    }

    @Test
    void onnxTensorOfTenToTheTwelveElementsIsRefusedBeforeAllocating() throws Exception {
        String none = refused(KilnFormatException.class, () -> OnnxReader.read(model(hugeFloat(t -> { })), "huge.onnx", null));
        assertTrue(none.contains("needs 1000000000000 FLOAT values, found 0"), none);
        String raw = refused(KilnFormatException.class,
                () -> OnnxReader.read(model(hugeFloat(t -> t.bytes(9, new byte[16]))), "huge.onnx", null));
        assertTrue(raw.contains("needs 4000000000000 bytes of raw_data, found 16"), raw);
        Files.write(dir.resolve("w.bin"), new byte[64]);
        Path onnx = dir.resolve("huge.onnx");
        Files.write(onnx, model(hugeFloat(t -> {
            t.message(13, e -> e.string(1, "location").string(2, "w.bin"));
            t.int64(14, 1); // data_location EXTERNAL
        })));
        String ext = refused(KilnFormatException.class, () -> OnnxReader.read(onnx));
        assertTrue(ext.contains("external range offset 0 length 4000000000000 lies outside w.bin"), ext);
    }

    private Path modelWithExternal(String location) throws Exception {
        Path modelDir = Files.createDirectories(dir.resolve("model"));
        Path onnx = modelDir.resolve("m.onnx");
        Files.write(onnx, model(t -> {
            t.int64(1, 4);
            t.int64(2, 1);
            t.string(8, "w");
            t.message(13, e -> e.string(1, "location").string(2, location));
            t.int64(14, 1);
        }));
        return onnx;
    }

    @Test
    void onnxExternalDataCannotLeaveTheModelDirectory() throws Exception {
        Path secret = Files.write(dir.resolve("secret.bin"), new byte[16]);
        for (String loc : new String[]{"../secret.bin", "sub/../../secret.bin", "./../secret.bin"}) {
            Path onnx = modelWithExternal(loc);
            assertTrue(refused(KilnFormatException.class, () -> OnnxReader.read(onnx)).contains("escapes the model's directory"), loc);
        }
        Path abs = modelWithExternal(secret.toAbsolutePath().toString());
        assertTrue(refused(KilnFormatException.class, () -> OnnxReader.read(abs)).contains("is absolute"));
        Path etc = modelWithExternal("/etc/passwd");
        assertTrue(refused(KilnFormatException.class, () -> OnnxReader.read(etc)).contains("is absolute"));
        Files.createSymbolicLink(dir.resolve("model/link.bin"), secret);
        Path link = modelWithExternal("link.bin");
        assertTrue(refused(KilnFormatException.class, () -> OnnxReader.read(link)).contains("links outside the model's directory"));
        Files.write(dir.resolve("model/inside.bin"), new byte[16]);
        var inside = OnnxReader.read(modelWithExternal("inside.bin")).graph().initializers().get("w");
        assertEquals(4, ((dev.kiln.onnx.Value.TensorValue) inside).tensor().numel(), "a file inside the directory is read");
    }

    // ------------------------------------------------------------------ safetensors and npy

    private static byte[] safetensors(long headerLength, String json, int dataBytes) {
        byte[] j = json.getBytes(StandardCharsets.UTF_8);
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(8 + j.length + dataBytes).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        b.putLong(headerLength).put(j);
        return b.array();
    }

    @Test
    void safetensorsHeaderCannotPointOutsideTheFileOrClaimAHugeHeader() throws Exception {
        String json = "{\"w\":{\"dtype\":\"F32\",\"shape\":[1000000,1000000],\"data_offsets\":[0,4000000000000]}}";
        Path beyond = Files.write(dir.resolve("beyond.safetensors"), safetensors(json.length(), json, 16));
        assertTrue(refused(IllegalArgumentException.class, () -> Safetensors.read(beyond)).contains("past the 16-byte data buffer"));
        assertTrue(refused(IllegalArgumentException.class, () -> Safetensors.map(beyond)).contains("past the 16-byte data buffer"));
        for (long len : new long[]{Long.MAX_VALUE, -8, 1L << 40, 90L << 20}) {
            Path giant = Files.write(dir.resolve("giant.safetensors"), safetensors(len, json, 16));
            assertTrue(refused(IllegalArgumentException.class, () -> Safetensors.read(giant)).contains("header length"), "length " + len);
        }
    }

    @Test
    void npyWithAHugeShapeIsRefusedBeforeAllocating() throws Exception {
        byte[] npy = npyHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000000), }", 16);
        Path p = Files.write(dir.resolve("huge.npy"), npy);
        assertTrue(refused(KilnFormatException.class, () -> Npy.read(p)).contains("expected 4000000000000 bytes, found 16"));
        // a stream of unknown length: buffered as the bytes arrive, never allocated up front
        assertTrue(refused(KilnFormatException.class, () -> Npy.read(new ByteArrayInputStream(npy), "huge.npy"))
                .contains("expected 4000000000000 bytes, found 16"));
        byte[] overflow = npyHeader("{'descr': '<f8', 'fortran_order': False, 'shape': (2147483647, 2147483647, 2147483647), }", 0);
        assertTrue(refused(KilnFormatException.class, () -> Npy.read(new ByteArrayInputStream(overflow), "o.npy")).contains("too large"));
    }
}
