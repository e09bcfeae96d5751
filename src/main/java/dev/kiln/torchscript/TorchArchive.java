package dev.kiln.torchscript;

import dev.kiln.io.KilnFormatException;
import dev.kiln.pickle.Globals;
import dev.kiln.pickle.PyObject;
import dev.kiln.pickle.PyOrderedDict;
import dev.kiln.pickle.PyTuple;
import dev.kiln.pickle.TorchStorages;
import dev.kiln.pickle.Unpickler;
import dev.kiln.tensor.Tensor;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A PyTorch zip archive, as {@code torch.save} (PyTorch 1.6 and later) and {@code torch.jit.save}
 * write it: one top folder (the {@link #prefix()}) holding data.pkl, the storages under data/,
 * and for TorchScript constants.pkl (storages under constants/) and the code/ folder.
 * <pre>
 * try (TorchArchive a = TorchArchive.open(Path.of("model.pt"))) {
 *     Object root = a.data();                // tensors resolved, owned by the caller
 *     Map&lt;String, String&gt; src = a.code();     // "code/__torch__.py" -&gt; TorchScript source
 * }
 * </pre>
 * Pickles are read with {@link Unpickler} and the torch allow-list ({@link Globals#torch()}):
 * nothing in the file is executed. The zip is read by {@link ZipArchive}, which checks every size
 * and offset against the file.
 * <p>
 * <b>Ownership.</b> Every call of {@link #data()} or {@link #constants()} unpickles anew and
 * returns fresh tensors, each storage copied once from the (memory-mapped) archive into Kiln
 * memory. Those tensors belong to the caller, stay valid after {@link #close()}, and are freed by
 * closing them ({@link #closeTensors(Object)} closes every tensor in an unpickled value). Close
 * only unmaps the file.
 */
public final class TorchArchive implements AutoCloseable {
    private final String file;
    private final ZipArchive zip;
    private final String prefix;

    private TorchArchive(String file, ZipArchive zip, String prefix) {
        this.file = file;
        this.zip = zip;
        this.prefix = prefix;
    }

    /** Opens and checks a torch zip archive; a legacy (non-zip) torch.save file gets a clear error. */
    public static TorchArchive open(Path path) throws KilnFormatException {
        String file = path.toString();
        checkMagic(path, file);
        ZipArchive zip = ZipArchive.open(path);
        try {
            String prefix = prefixOf(zip, file);
            TorchArchive a = new TorchArchive(file, zip, prefix);
            a.checkByteOrder();
            return a;
        } catch (KilnFormatException | RuntimeException e) {
            zip.close();
            throw e;
        }
    }

    /** torch.save's legacy format starts with this pickled number (PROTO 2, LONG1 of 10 bytes). */
    private static final byte[] LEGACY_MAGIC = {(byte) 0x80, 2, (byte) 0x8a, 10, 0x6c, (byte) 0xfc, (byte) 0x9c, 0x46,
        (byte) 0xf9, 0x20, 0x6a, (byte) 0xa8, 0x50, 0x19};

    private static void checkMagic(Path path, String file) throws KilnFormatException {
        byte[] head = new byte[LEGACY_MAGIC.length];
        int n;
        try (InputStream in = Files.newInputStream(path)) {
            n = in.readNBytes(head, 0, head.length);
        } catch (IOException e) {
            throw new KilnFormatException(file + ": cannot read: " + e.getMessage(), e);
        }
        if (n >= 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4) return;
        if (Arrays.equals(head, LEGACY_MAGIC))
            throw new KilnFormatException(file + ": legacy (non-zip) torch.save format is not supported; re-save it with PyTorch 1.6 or later (torch.save(obj, f))");
        if (n >= 2 && (head[0] & 0xff) == 0x80)
            throw new KilnFormatException(file + ": a bare pickle, not a PyTorch zip archive (read it with dev.kiln.pickle.Unpickler)");
        throw new KilnFormatException(file + ": not a PyTorch zip archive (it does not start with a zip header)");
    }

    /** The top folder every torch archive puts its members in ("archive" since PyTorch 2.x). */
    private static String prefixOf(ZipArchive zip, String file) throws KilnFormatException {
        if (zip.entries().isEmpty()) throw new KilnFormatException(file + ": empty zip archive");
        String first = zip.entries().keySet().iterator().next();
        int slash = first.indexOf('/');
        if (slash <= 0) throw new KilnFormatException(file + ": not a PyTorch archive (entry '" + first + "' is not in a top folder)");
        String prefix = first.substring(0, slash);
        if (!zip.entries().containsKey(prefix + "/data.pkl"))
            throw new KilnFormatException(file + ": not a PyTorch archive (no " + prefix + "/data.pkl)");
        return prefix;
    }

    private void checkByteOrder() throws KilnFormatException {
        if (!has("byteorder")) return;
        String order = new String(read("byteorder"), StandardCharsets.US_ASCII).trim();
        if (!order.equals("little")) throw new KilnFormatException(file + ": " + prefix + "/byteorder: '" + ZipArchive.printable(order) + "' byte order is not supported");
    }

    /** The archive's top folder name. */
    public String prefix() { return prefix; }

    /** Member names relative to the prefix ("data.pkl", "data/0", "code/__torch__.py", ...). */
    public List<String> entryNames() {
        List<String> out = new ArrayList<>();
        for (String n : zip.entries().keySet()) if (n.startsWith(prefix + "/")) out.add(n.substring(prefix.length() + 1));
        return out;
    }

    /** True when the archive has a member of that name (relative to the prefix). */
    public boolean has(String name) { return zip.entries().containsKey(prefix + "/" + name); }

    /** A member's bytes (relative name), CRC checked. */
    public byte[] read(String name) throws KilnFormatException {
        ZipArchive.Entry e = zip.entries().get(prefix + "/" + name);
        if (e == null) throw new KilnFormatException(file + ": no member " + prefix + "/" + name);
        return zip.read(e);
    }

    /** The archive format version (the "version" member), or -1 when absent. */
    public int version() throws KilnFormatException {
        if (!has("version")) return -1;
        String v = new String(read("version"), StandardCharsets.US_ASCII).trim();
        try {
            return Integer.parseInt(v);
        } catch (NumberFormatException e) {
            throw new KilnFormatException(file + ": " + prefix + "/version: not a number: '" + ZipArchive.printable(v) + "'");
        }
    }

    /** True for torch.jit.save archives (TorchScript code and constants). */
    public boolean isTorchScript() {
        if (has("constants.pkl")) return true;
        for (String n : zip.entries().keySet()) if (n.startsWith(prefix + "/code/")) return true;
        return false;
    }

    /** data.pkl unpickled, tensors read from data/&lt;key&gt; (new tensors, owned by the caller). */
    public Object data() throws KilnFormatException { return unpickle("data.pkl", "data/"); }

    /** The items of constants.pkl (TorchScript's tensor constants, storages in constants/); empty when absent. */
    public List<Object> constants() throws KilnFormatException {
        if (!has("constants.pkl")) return List.of();
        Object c = unpickle("constants.pkl", "constants/");
        if (!(c instanceof PyTuple t)) {
            closeTensors(c);
            throw new KilnFormatException(file + ": " + prefix + "/constants.pkl holds a " + c.getClass().getSimpleName() + ", not a tuple");
        }
        return t.items();
    }

    /**
     * TorchScript sources: relative path ("code/__torch__/torch/nn/modules/linear.py") -> text, in
     * archive order. Debug tables (.debug_pkl) are skipped.
     */
    public Map<String, String> code() throws KilnFormatException {
        Map<String, String> out = new LinkedHashMap<>();
        for (String n : entryNames()) {
            if (!n.startsWith("code/") || n.endsWith("/") || n.endsWith(".debug_pkl")) continue;
            out.put(n, new String(read(n), StandardCharsets.UTF_8));
        }
        return out;
    }

    /**
     * Unpickles a member with the torch allow-list, storages read from storageDir + key. On any
     * error every tensor made so far is freed before the exception is thrown.
     */
    public Object unpickle(String pickle, String storageDir) throws KilnFormatException {
        byte[] bytes = read(pickle);
        TorchStorages storages = new TorchStorages(key -> storage(storageDir + key));
        boolean ok = false;
        try {
            Object v = Unpickler.load(file + ": " + prefix + "/" + pickle, bytes, Globals.torch(), storages);
            ok = true;
            return v;
        } finally {
            if (ok) storages.close();
            else storages.closeAll();
        }
    }

    private MemorySegment storage(String name) throws KilnFormatException {
        ZipArchive.Entry e = zip.entries().get(prefix + "/" + name);
        return e == null ? null : zip.bytes(e);
    }

    /** Closes every tensor inside an unpickled value (lists, tuples, dicts, objects); iterative. */
    public static void closeTensors(Object value) { closeTensorsExcept(value, List.of()); }

    /** Closes every tensor inside value except those in keep (compared by identity). */
    static void closeTensorsExcept(Object value, Collection<Tensor> keep) { forEachTensor(value, keep, Tensor::close); }

    /** Calls action once for every tensor inside value (tuples, modules, dicts, lists), except those in skip. */
    static void forEachTensor(Object value, Collection<Tensor> skip, java.util.function.Consumer<Tensor> action) {
        ArrayList<Object> todo = new ArrayList<>();
        IdentityHashMap<Object, Boolean> seen = new IdentityHashMap<>();
        for (Tensor t : skip) seen.put(t, Boolean.TRUE);
        todo.add(value);
        while (!todo.isEmpty()) {
            Object v = todo.removeLast();
            if (v == null || seen.put(v, Boolean.TRUE) != null) continue;
            switch (v) {
                case Tensor t -> action.accept(t);
                case PyTuple t -> todo.addAll(t.items());
                case PyObject o -> { todo.addAll(o.args()); todo.addAll(o.state().values()); }
                case PyOrderedDict d -> { todo.addAll(d.values()); todo.addAll(d.attributes().values()); }
                case Map<?, ?> m -> todo.addAll(m.values());
                case Collection<?> c -> todo.addAll(c);
                default -> { }
            }
        }
    }

    /** Unmaps the archive; tensors already returned stay valid. Idempotent. */
    @Override
    public void close() { zip.close(); }

    @Override
    public String toString() { return "TorchArchive(" + file + ", prefix " + prefix + ", " + zip.entries().size() + " entries)"; }
}
