package dev.kiln.io;

import dev.kiln.backend.Backends;
import dev.kiln.io.SafetensorsHeader.Entry;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A memory-mapped safetensors file (from {@link Safetensors#map}). Its tensors are views of the
 * read-only mapping: no copy and no heap, pages load on first touch. They, and any views taken
 * of them, stay valid until this file is closed, which unmaps it at once; touching them afterwards
 * throws {@link IllegalStateException} (never a crash). Writing into a mapped tensor fails: copy
 * it ({@code clone()}) to modify it, or use {@link Safetensors#read} for owned memory.
 */
public final class SafetensorsFile implements AutoCloseable {
    private final Path path;
    private final Arena arena;
    private final Map<String, Tensor> tensors;
    private final Map<String, String> metadata;

    private SafetensorsFile(Path path, Arena arena, Map<String, Tensor> tensors, Map<String, String> metadata) {
        this.path = path;
        this.arena = arena;
        this.tensors = tensors;
        this.metadata = metadata;
    }

    static SafetensorsFile open(Path file) {
        String name = file.toString();
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            SafetensorsHeader h = SafetensorsHeader.read(ch, name);
            MemorySegment all = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
            Map<String, Tensor> out = new LinkedHashMap<>();
            for (Entry e : h.entries) {
                MemorySegment data = all.asSlice(h.dataStart + e.begin(), e.bytes());
                Storage st = Storage.wrap(Backends.cpu(), data);
                int[] shape = e.shape();
                out.put(e.name(), Scope.escape(Tensor.of(st, e.dtype(), shape, Shape.contiguousStrides(shape), 0)));
            }
            return new SafetensorsFile(file, arena, Collections.unmodifiableMap(out), h.metadata);
        } catch (IOException e) {
            arena.close();
            throw new UncheckedIOException("safetensors: cannot map " + name + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    public Path path() { return path; }

    /** Tensors in file order (read-only views of the mapping). */
    public Map<String, Tensor> tensors() { return tensors; }

    public Map<String, String> metadata() { return metadata; }

    public Tensor get(String name) {
        Tensor t = tensors.get(name);
        if (t == null) throw new IllegalArgumentException("safetensors: " + path + ": no tensor named '" + name + "'; names: " + tensors.keySet());
        return t;
    }

    /** True until {@link #close()}. */
    public boolean isOpen() { return arena.scope().isAlive(); }

    /** Unmaps the file; its tensors become unusable. Idempotent. */
    @Override
    public synchronized void close() {
        if (!isOpen()) return;
        for (Tensor t : tensors.values()) t.close();
        arena.close();
    }
}
