package dev.kiln.backend.cpu;

import java.util.function.Supplier;

/**
 * The switch the kernel lab and benchmarks use to time and check the Vector API kernels that the
 * native ones (libkiln_cpu.so: GEMM panel and transposed packs, GELU, softmax rows, streaming elementwise,
 * the channel-blocked conv) replace where
 * present. Process-wide; not for use while other threads compute.
 */
public final class NativeKernels {
    private NativeKernels() {}

    /** Runs body with the native F32 GEMM, elementwise and blocked conv kernels off, then restores them. */
    public static synchronized <T> T withoutNative(Supplier<T> body) {
        boolean panel = GemmF32Native.use, pack = GemmF32Native.usePack, elem = ElemNative.setEnabled(false), stream = ElemStream.setEnabled(false);
        boolean blocked = ConvBlocked.useNative;
        GemmF32Native.use = false;
        GemmF32Native.usePack = false;
        ConvBlocked.useNative = false;
        try {
            return body.get();
        } finally {
            GemmF32Native.use = panel;
            GemmF32Native.usePack = pack;
            ElemNative.setEnabled(elem);
            ElemStream.setEnabled(stream);
            ConvBlocked.useNative = blocked;
        }
    }
}
