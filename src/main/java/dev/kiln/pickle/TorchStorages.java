package dev.kiln.pickle;

import dev.kiln.backend.Backends;
import dev.kiln.io.KilnFormatException;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The persistent-id loader of torch pickles: turns {@code ('storage', torch.FloatStorage, key,
 * location, numel)} into a {@link TorchStorage}, reading the bytes of key through a caller's
 * {@link Source} (an archive's data/ folder) the first time the key is seen. Every storage is
 * copied once into Kiln memory, on the CPU whatever the saved location; tensors that name the same
 * key share it.
 * <p>
 * It also tracks the tensors rebuilt over its storages: after a successful load call
 * {@link #close()} (drops its own references; the tensors stay valid and belong to the caller);
 * after a failed one, {@link #closeAll()} frees everything it made.
 */
public final class TorchStorages implements PersistentLoader, AutoCloseable {
    /** The raw bytes of a storage by key, or null when there is no such entry. */
    @FunctionalInterface
    public interface Source {
        MemorySegment bytes(String key) throws KilnFormatException;
    }

    private static final int MAX_KEY = 256;

    private final Source source;
    private final Map<String, Tensor> byKey = new HashMap<>();
    private final List<Tensor> created = new ArrayList<>();

    public TorchStorages(Source source) { this.source = source; }

    @Override
    public Object load(Object pid) throws KilnFormatException {
        if (!(pid instanceof PyTuple t) || t.size() != 5 || !"storage".equals(t.get(0)))
            throw new KilnFormatException("persistent id is not a torch ('storage', type, key, location, numel) tuple but a "
                    + Unpickler.typeName(pid) + (pid instanceof PyTuple p ? " of " + p.size() + " items" : ""));
        if (!(t.get(1) instanceof PyGlobal g)) throw new KilnFormatException("storage type is a " + Unpickler.typeName(t.get(1)));
        StorageType type = StorageType.of(g);
        if (type == null) throw new KilnFormatException("unsupported storage type " + g.qualifiedName());
        if (!(t.get(2) instanceof String key) || key.isEmpty() || key.length() > MAX_KEY)
            throw new KilnFormatException("storage key is not a short string");
        if (!(t.get(3) instanceof String)) throw new KilnFormatException("storage location is a " + Unpickler.typeName(t.get(3)));
        if (!(t.get(4) instanceof Long numel) || numel < 0)
            throw new KilnFormatException("storage " + Unpickler.printable(key) + " has a bad element count " + Unpickler.typeName(t.get(4)));
        Tensor bytes = bytes(key);
        long have = bytes.numel();
        if (numel > have / type.elementSize())
            throw new KilnFormatException("storage " + Unpickler.printable(key) + " declares " + numel + " " + type.className()
                    + " elements of " + type.elementSize() + " bytes but its data holds " + have + " bytes");
        return new TorchStorage(key, type, numel, bytes, this);
    }

    /** The owned copy of a key's bytes (an int8 tensor), made on first use. */
    private Tensor bytes(String key) throws KilnFormatException {
        Tensor t = byKey.get(key);
        if (t != null) return t;
        MemorySegment src = source.bytes(key);
        if (src == null) throw new KilnFormatException("storage " + Unpickler.printable(key) + " has no data entry in the archive");
        long n = src.byteSize();
        if (n > Integer.MAX_VALUE) throw new KilnFormatException("storage " + Unpickler.printable(key) + " of " + n + " bytes is larger than Kiln's 2 GiB limit per storage");
        t = Scope.escape(Tensor.empty(Backends.cpu(), DType.I8, (int) n));
        MemorySegment.copy(src, 0, t.segment(), 0, n);
        byKey.put(key, t);
        return t;
    }

    /** Records a tensor made over one of these storages (so a failed load can free it). */
    Tensor track(Tensor t) {
        created.add(Scope.escape(t));
        return t;
    }

    /** Drops this loader's own references; tensors it made stay valid. */
    @Override
    public void close() {
        for (Tensor t : byKey.values()) t.close();
        byKey.clear();
        created.clear();
    }

    /** Frees everything this loader made, tensors included (after a failed load). */
    public void closeAll() {
        for (Tensor t : created) t.close();
        close();
    }
}
