package dev.kiln.pickle;

import dev.kiln.tensor.Tensor;

/**
 * A typed torch storage resolved from a persistent id: its archive key ("0"), element type, the
 * element count the pickle declared, and the bytes (a Kiln int8 tensor over an owned copy).
 * Tensors rebuilt over it share that memory (views keep it alive); widened types copy.
 */
public record TorchStorage(String key, StorageType type, long numel, Tensor bytes, TorchStorages owner) {
    @Override
    public String toString() { return "torch." + type.className() + "(key " + key + ", " + numel + " elements)"; }
}
