package dev.kiln.backend.cuda;

import static dev.kiln.backend.cuda.CudaException.check;
import static dev.kiln.backend.cuda.CudaException.checkDriver;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.bytedeco.cuda.cudart.CUfunc_st;
import org.bytedeco.cuda.cudart.CUmod_st;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.PointerPointer;

/**
 * One kernel family ({@code kernels/<family>.cu}) loaded into the current CUDA context with the
 * driver API, and its {@code extern "C" __global__} functions looked up by name (cached).
 *
 * <p>Where the image comes from (see {@link KernelImages}): a prebuilt fatbin/cubin/PTX produced at
 * build time by {@code native/build-kernels.sh} (nvcc, sm_90 SASS + compute_90 PTX + sm_80), found in
 * {@code -Dkiln.kernels.dir} or on the class path under {@code kernels/}. When none exists, the
 * shipped {@code <family>.cu} (plus its quoted includes) is compiled with NVRTC
 * ({@link NvrtcCompiler}) for the device's own {@code sm_XY}, and the CUBIN is cached on disk
 * ({@link KernelCache}, keyed by a hash of source + headers + options), so the compile happens once
 * per source version and GPU. A fatbin's embedded PTX lets the driver JIT for newer GPUs.
 *
 * <p>The driver API needs a current context: {@link #load} and every {@link #launch} make the
 * device's primary context (shared with cudart and cuBLAS) current on the calling thread
 * ({@link CudaContext}), so a module loaded on one thread can be launched from any other.
 * Requires {@link CudaAvailability#isAvailable()}; compile-only without a GPU.
 */
public final class KernelModule implements AutoCloseable {
    private final String family;
    private final int device;
    private final String origin;
    private final CUmod_st module;
    private final Map<String, CUfunc_st> functions = new ConcurrentHashMap<>();
    private boolean closed;

    private KernelModule(String family, int device, String origin, CUmod_st module) {
        this.family = family;
        this.device = device;
        this.origin = origin;
        this.module = module;
    }

    /** Loads {@code family} on {@code device}, from a prebuilt image or else via NVRTC + disk cache. */
    public static KernelModule load(String family, int device) {
        if (!CudaAvailability.isAvailable()) throw new IllegalStateException(CudaAvailability.reason());
        CudaContext.makeCurrent(device);
        KernelImages images = KernelImages.fromSystem();
        KernelImages.Image img = images.find(family).orElseThrow(() -> new IllegalStateException(
                "kernels: no image or source for family '" + family + "' (looked in " + images.searched(family) + ")"));
        if (img.kind() != KernelImages.Kind.SOURCE) return fromImage(family, device, img.bytes(), img.origin());
        String arch = arch(device);
        KernelCache cache = KernelCache.fromSystem();
        String key = KernelCache.key(family, img.text(), img.headers(), NvrtcCompiler.options(arch));
        byte[] cubin = cache.get(key, arch).orElse(null);
        String origin = cache.file(key, arch).toString();
        if (cubin == null) {
            cubin = NvrtcCompiler.compile(family, img.text(), img.headers(), arch);
            if (!cache.put(key, arch, cubin)) origin = "NVRTC from " + img.origin() + " (cache not writable)";
        }
        return fromImage(family, device, cubin, origin);
    }

    /** Loads an image (fatbin, cubin, or PTX text) into {@code device}'s primary context. */
    public static KernelModule fromImage(String family, int device, byte[] image, String origin) {
        CudaContext.makeCurrent(device);
        CUmod_st m = new CUmod_st();
        try (BytePointer data = new BytePointer(nulTerminated(image))) {
            checkDriver(cudart.cuModuleLoadData(m, data), "cuModuleLoadData(kernels/" + family + " from " + origin + ")");
        }
        return new KernelModule(family, device, origin, m);
    }

    /** The device's real architecture, e.g. {@code sm_90}. */
    static String arch(int device) {
        int[] major = new int[1];
        int[] minor = new int[1];
        check(cudart.cudaDeviceGetAttribute(major, cudart.cudaDevAttrComputeCapabilityMajor, device), "cudaDeviceGetAttribute");
        check(cudart.cudaDeviceGetAttribute(minor, cudart.cudaDevAttrComputeCapabilityMinor, device), "cudaDeviceGetAttribute");
        return "sm_" + major[0] + minor[0];
    }

    /** PTX is text and must end with NUL; binary images are unaffected by one trailing zero byte. */
    static byte[] nulTerminated(byte[] image) {
        if (image.length > 0 && image[image.length - 1] == 0) return image;
        return java.util.Arrays.copyOf(image, image.length + 1);
    }

    public String family() {
        return family;
    }

    /** Where the image was loaded from (file, resource, or cache file). */
    public String origin() {
        return origin;
    }

    /** The function {@code name}; a missing name throws naming the family and the image. */
    public CUfunc_st function(String name) {
        return functions.computeIfAbsent(name, this::lookup);
    }

    private CUfunc_st lookup(String name) {
        CUfunc_st f = new CUfunc_st();
        int r = cudart.cuModuleGetFunction(f, module, name);
        if (r == cudart.CUDA_ERROR_NOT_FOUND) {
            throw new IllegalArgumentException("kernels/" + family + ": no kernel named '" + name + "' in " + origin
                    + " (is it extern \"C\" __global__?)");
        }
        checkDriver(r, "cuModuleGetFunction(" + family + "/" + name + ")");
        return f;
    }

    /** Queues {@code kernel} on {@code stream} with a grid and block (x, y, z) and dynamic shared memory. */
    public void launch(String kernel, int[] grid, int[] block, int sharedBytes, CudaStream stream, KernelArgs args) {
        launch(kernel, grid, block, sharedBytes, stream, args.array());
    }

    /** The same with a prepared void** argument array (see {@link CudaContext#launch}). */
    void launch(String kernel, int[] grid, int[] block, int sharedBytes, CudaStream stream, PointerPointer<?> args) {
        CudaContext.get().launch(device, family + "/" + kernel, function(kernel), grid, block, sharedBytes, stream, args);
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        functions.clear();
        CudaContext.makeCurrent(device);
        checkDriver(cudart.cuModuleUnload(module), "cuModuleUnload(" + family + ")");
    }

    @Override
    public String toString() {
        return "KernelModule[" + family + " from " + origin + "]";
    }
}
