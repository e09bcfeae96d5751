package dev.kiln.io;

/** STUB (helper D): NumPy .npy / .npz reader and writer. */
public final class Npy {
    private Npy() {}
}
