package dev.kiln.lab;

import dev.kiln.tensor.Tensor;

/**
 * One implementation of a lab op: a name, the device it runs on ("cpu" or "cuda") and the kernel.
 * The kernel receives the op's inputs already on its device and returns a new output tensor there
 * (the lab closes it). A CUDA kernel may return before the GPU finished; the lab synchronizes.
 */
public record Variant(String name, String device, Kernel kernel) {
    /** Runs an op on Kiln tensors. */
    @FunctionalInterface
    public interface Kernel { Tensor run(Tensor... inputs); }

    public Variant {
        if (!device.equals("cpu") && !device.equals("cuda"))
            throw new IllegalArgumentException("lab variant " + name + ": device must be cpu or cuda, got " + device);
    }
}
