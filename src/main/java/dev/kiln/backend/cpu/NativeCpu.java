package dev.kiln.backend.cpu;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * Kiln's native CPU kernels ({@code native/cpu/*.c}, built by {@code native/build-cpu.sh} with gcc
 * and packed in the jar as {@code native/libkiln_cpu.so}), loaded once through the FFM API. They
 * exist only where the Vector API cannot reach the peer (int8 and bf16 dot products, streaming
 * stores, the f32 conv and GEMM inner loops that C2 compiles slower); every one has a Vector API twin that runs when the library or the CPU feature is
 * missing, and that its tests compare it with.
 *
 * <p>{@code -Dkiln.native.lib=PATH} loads the library from a file instead of the jar;
 * {@code -Dkiln.native=off} never loads it (every kernel then takes its Vector API path).
 */
public final class NativeCpu {
    private NativeCpu() {}

    private static final SymbolLookup LIB;
    private static final String UNAVAILABLE;

    static {
        SymbolLookup lib = null;
        String why = null;
        if (System.getProperty("kiln.native", "on").equals("off")) {
            why = "disabled by -Dkiln.native=off";
        } else {
            try {
                lib = SymbolLookup.libraryLookup(libraryPath(), Arena.global());
            } catch (Throwable e) {
                why = e.getMessage() == null ? e.toString() : e.getMessage();
            }
        }
        LIB = lib;
        UNAVAILABLE = why;
    }

    /** True when libkiln_cpu.so is loaded. */
    public static boolean loaded() { return LIB != null; }

    /** Why the library is not loaded (null when it is). */
    public static String unavailableReason() { return UNAVAILABLE; }

    /**
     * A downcall handle for a function of the library; critical (heap arrays passed in place, no
     * safepoint) when asked. Throws IllegalStateException naming the reason when the library or
     * the symbol is missing.
     */
    public static MethodHandle function(String name, FunctionDescriptor fd, boolean critical) {
        if (LIB == null) throw new IllegalStateException("native kernels unavailable: " + UNAVAILABLE);
        MemorySegment sym = LIB.find(name).orElseThrow(() -> new IllegalStateException("libkiln_cpu.so lacks " + name));
        return critical ? Linker.nativeLinker().downcallHandle(sym, fd, Linker.Option.critical(true))
                : Linker.nativeLinker().downcallHandle(sym, fd);
    }

    /**
     * Calls a library function {@code int name(void)} that reports whether this CPU can run a
     * kernel (the C side asks CPUID); false when the library is missing.
     */
    public static boolean cpuSupports(String probe) {
        if (LIB == null) return false;
        try {
            return (int) function(probe, FunctionDescriptor.of(ValueLayout.JAVA_INT), false).invokeExact() != 0;
        } catch (Throwable t) {
            return false;
        }
    }

    /** The library file: -Dkiln.native.lib, else the jar's copy extracted to a temporary file. */
    private static Path libraryPath() throws IOException {
        String forced = System.getProperty("kiln.native.lib");
        if (forced != null) return Path.of(forced);
        if (!System.getProperty("os.arch", "").equals("amd64") || !System.getProperty("os.name", "").startsWith("Linux"))
            throw new IllegalStateException("native kernels are x86-64 Linux only");
        try (InputStream in = NativeCpu.class.getResourceAsStream("/native/libkiln_cpu.so")) {
            if (in == null) throw new IllegalStateException("native/libkiln_cpu.so not built (native/build-cpu.sh needs gcc)");
            Path tmp = Files.createTempFile("libkiln_cpu", ".so");
            tmp.toFile().deleteOnExit();
            Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
            return tmp;
        }
    }
}
