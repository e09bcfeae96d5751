package dev.kiln.pickle;

import dev.kiln.io.KilnFormatException;

/**
 * Resolves a persistent id (BINPERSID / PERSID) to the object it stands for. {@code torch.save}
 * writes one per storage: the tuple {@code ('storage', storage_type, key, location, numel)};
 * see {@link TorchStorages}.
 */
@FunctionalInterface
public interface PersistentLoader {
    Object load(Object pid) throws KilnFormatException;
}
