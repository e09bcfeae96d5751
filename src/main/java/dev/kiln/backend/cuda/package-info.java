/**
 * The CUDA backend's foundation: availability probe, device memory, streams/events and kernel
 * modules, through the JavaCPP cuda presets ({@code org.bytedeco:cuda}, an optional dependency:
 * the engine builds, loads and runs without it).
 *
 * <h2>Design</h2>
 * <ul>
 *   <li>{@link dev.kiln.backend.cuda.CudaAvailability} probes once (load the cudart bindings, then
 *       {@code cudaGetDeviceCount > 0}) and caches a one-line reason when CUDA cannot be used. It
 *       never throws: without the linux-x86_64 natives JavaCPP's {@code Loader.load} throws
 *       {@code UnsatisfiedLinkError} (and the cudart class stays uninitializable), without the jars
 *       the class is missing; both are caught. Every other class here touches cudart only after
 *       {@code isAvailable()}. {@code -Dkiln.cuda.disable=true} switches CUDA off.</li>
 *   <li>{@link dev.kiln.backend.cuda.CachingAllocator} is PyTorch-style and independent of CUDA:
 *       it talks to {@link dev.kiln.backend.cuda.DeviceMemory} (malloc returning 0 on out of
 *       memory, free, free/total bytes). Sizes round to 512 B; requests up to 1 MiB share 2 MiB
 *       segments, larger ones get segments rounded to 2 MiB; best-fit reuse, splitting, merging of
 *       free neighbours; bytes in use/reserved and peaks; {@code emptyCache()} returns unused
 *       segments; on out of memory it empties the cache, retries once, then throws
 *       {@link dev.kiln.backend.cuda.DeviceOutOfMemoryException} with requested and free bytes.
 *       {@link dev.kiln.backend.cuda.CudaDeviceMemory} is the cudart implementation.</li>
 *   <li>{@link dev.kiln.backend.cuda.CudaStream} and {@link dev.kiln.backend.cuda.CudaEvent} wrap
 *       cudaStream_t / cudaEvent_t; {@link dev.kiln.backend.cuda.CudaException} turns error codes
 *       into messages naming the call and CUDA's error name.</li>
 *   <li>{@link dev.kiln.backend.cuda.KernelModule} loads a kernel family with the driver API
 *       ({@code cuModuleLoadData}, {@code cuModuleGetFunction}, {@code cuLaunchKernel}; the driver
 *       API is in {@code org.bytedeco.cuda.global.cudart}). Image search: {@code <family>.fatbin},
 *       {@code .cubin}, {@code .ptx} in {@code -Dkiln.kernels.dir}, then on the class path under
 *       {@code kernels/} (where {@code native/build-kernels.sh}'s output must be packed); otherwise
 *       {@code kernels/<family>.cu} and its quoted includes are compiled by NVRTC for the device's
 *       {@code sm_XY} and the CUBIN cached on disk ({@code -Dkiln.kernels.cache}, default
 *       {@code ~/.cache/kiln/kernels}), keyed by a hash of source, headers and options.</li>
 * </ul>
 *
 * <h2>What is tested where</h2>
 * <ul>
 *   <li>Everywhere (plain {@code mvn test}, no GPU): {@code CachingAllocatorTest} against a fake
 *       device (rounding, reuse, best fit, splitting and merging, stats and peaks, emptyCache, OOM
 *       retry then the error message, bad frees, 4 threads with an overlap check, a 10k-step loop
 *       with flat reserved bytes); {@code CudaAvailabilityTest} (the real probe reports
 *       "unavailable" with a reason without throwing; every probe branch with fakes);
 *       {@code KernelImagesTest} (lookup order, header collection, cache key and round trip, PTX
 *       NUL termination).</li>
 *   <li>GPU host only ({@code @Tag("gpu")}, excluded by default, skips with the printed reason):
 *       {@code CudaGpuTest}: the allocator over real cudaMalloc, the OOM message on the device,
 *       NVRTC compile + cuModuleLoadData + cuLaunchKernel on a stream timed by events, result
 *       checked on the host. {@code CudaDeviceMemory}, {@code CudaStream}, {@code CudaEvent},
 *       {@code KernelModule}, {@code KernelArgs} and {@code NvrtcCompiler} are only compiled
 *       elsewhere.</li>
 *   <li>On the GPU host the run needs the cuda presets' linux-x86_64 jar (and the javacpp one) on
 *       the class path and {@code /usr/local/cuda/lib64} on {@code LD_LIBRARY_PATH}; run the gpu
 *       group (e.g. the JUnit console launcher with {@code --include-tag gpu}).</li>
 * </ul>
 *
 * <p>Not here yet: pinned host staging for large copies, stream-aware block reuse (blocks are
 * stream-agnostic; free only after the stream that used them is synchronized or on the single
 * compute stream), multi-device selection beyond a device index.
 */
package dev.kiln.backend.cuda;
