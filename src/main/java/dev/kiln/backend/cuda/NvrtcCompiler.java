package dev.kiln.backend.cuda;

import static org.bytedeco.cuda.global.nvrtc.NVRTC_SUCCESS;

import java.util.List;
import java.util.Map;
import org.bytedeco.cuda.global.nvrtc;
import org.bytedeco.cuda.nvrtc._nvrtcProgram;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.javacpp.SizeTPointer;

/**
 * Compiles a kernel family's {@code .cu} source with NVRTC to a CUBIN for one architecture (the
 * fallback when no prebuilt image ships). Options are fixed by {@link #options(String)} so that they
 * are part of the cache key. A compile error throws with NVRTC's log. GPU host only.
 */
final class NvrtcCompiler {
    private NvrtcCompiler() {}

    /** NVRTC options for a real architecture such as {@code sm_90}. */
    static List<String> options(String arch) {
        return List.of("--gpu-architecture=" + arch, "--std=c++17", "-default-device", "-DKILN_NVRTC=1");
    }

    /** CUBIN bytes of {@code source} (with its quoted headers) for {@code arch}. */
    static byte[] compile(String family, String source, Map<String, String> headers, String arch) {
        try {
            org.bytedeco.javacpp.Loader.load(nvrtc.class);
        } catch (Throwable t) {
            throw new IllegalStateException("cuda: NVRTC not available to compile kernels/" + family + ".cu (" + t + ")", t);
        }
        List<String> opts = options(arch);
        _nvrtcProgram prog = new _nvrtcProgram();
        try (PointerPointer<BytePointer> hdrs = strings(headers.values().toArray(String[]::new));
                PointerPointer<BytePointer> names = strings(headers.keySet().toArray(String[]::new));
                PointerPointer<BytePointer> o = strings(opts.toArray(String[]::new));
                BytePointer src = new BytePointer(source);
                BytePointer name = new BytePointer(family + ".cu")) {
            check(nvrtc.nvrtcCreateProgram(prog, src, name, headers.size(), hdrs, names), "nvrtcCreateProgram", family);
            byte[] out;
            try {
                int r = nvrtc.nvrtcCompileProgram(prog, opts.size(), o);
                if (r != NVRTC_SUCCESS) {
                    throw new IllegalStateException("cuda: NVRTC failed to compile kernels/" + family + ".cu for " + arch
                            + ": " + nvrtc.nvrtcGetErrorString(r).getString() + "\n" + log(prog));
                }
                out = cubin(prog, family);
            } catch (RuntimeException e) {
                int d = nvrtc.nvrtcDestroyProgram(prog);
                if (d != NVRTC_SUCCESS) e.addSuppressed(new IllegalStateException("nvrtcDestroyProgram: " + nvrtc.nvrtcGetErrorString(d).getString()));
                throw e;
            }
            check(nvrtc.nvrtcDestroyProgram(prog), "nvrtcDestroyProgram", family);
            return out;
        }
    }

    private static byte[] cubin(_nvrtcProgram prog, String family) {
        try (SizeTPointer size = new SizeTPointer(1)) {
            check(nvrtc.nvrtcGetCUBINSize(prog, size), "nvrtcGetCUBINSize", family);
            try (BytePointer out = new BytePointer(size.get())) {
                check(nvrtc.nvrtcGetCUBIN(prog, out), "nvrtcGetCUBIN", family);
                byte[] b = new byte[(int) size.get()];
                out.get(b);
                return b;
            }
        }
    }

    private static String log(_nvrtcProgram prog) {
        try (SizeTPointer size = new SizeTPointer(1)) {
            if (nvrtc.nvrtcGetProgramLogSize(prog, size) != NVRTC_SUCCESS) return "(no log)";
            try (BytePointer out = new BytePointer(Math.max(1, size.get()))) {
                nvrtc.nvrtcGetProgramLog(prog, out);
                return out.getString();
            }
        }
    }

    private static PointerPointer<BytePointer> strings(String[] values) {
        return new PointerPointer<>(values);
    }

    private static void check(int r, String call, String family) {
        if (r != NVRTC_SUCCESS) {
            throw new IllegalStateException("cuda: " + call + " failed for kernels/" + family + ".cu: "
                    + nvrtc.nvrtcGetErrorString(r).getString());
        }
    }
}
