package dev.kiln.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Kernel image lookup order, header collection, the NVRTC disk cache and PTX termination; no GPU. */
class KernelImagesTest {
    @TempDir
    Path tmp;

    private static void write(Path p, String s) throws IOException {
        Files.createDirectories(p.getParent());
        Files.writeString(p, s);
    }

    /** Resources from a class loader whose only entries are under {@code root}. */
    private static Function<String, InputStream> resources(Path root) throws IOException {
        ClassLoader cl = new URLClassLoader(new URL[] {root.toUri().toURL()}, null);
        return cl::getResourceAsStream;
    }

    @Test
    void prebuiltImagesWinOverSourceAndDirectoryOverClasspath() throws IOException {
        Path dir = tmp.resolve("dir");
        Path cp = tmp.resolve("cp");
        write(cp.resolve("kernels/ew.cu"), "extern \"C\" __global__ void k() {}");
        write(cp.resolve("kernels/ew.ptx"), "// ptx from classpath");
        KernelImages onlyCp = new KernelImages(null, resources(cp));
        KernelImages.Image img = onlyCp.find("ew").orElseThrow();
        assertEquals(KernelImages.Kind.PTX, img.kind());
        assertEquals("classpath:kernels/ew.ptx", img.origin());
        write(dir.resolve("ew.cubin"), "cubin-bytes");
        KernelImages both = new KernelImages(dir, resources(cp));
        img = both.find("ew").orElseThrow();
        assertEquals(KernelImages.Kind.CUBIN, img.kind());
        assertEquals("cubin-bytes", img.text());
        write(cp.resolve("kernels/ew.fatbin"), "fatbin");
        assertEquals(KernelImages.Kind.FATBIN, both.find("ew").orElseThrow().kind(), "fatbin is preferred over cubin/ptx");
    }

    @Test
    void sourceFallbackCollectsQuotedHeadersTransitively() throws IOException {
        Path cp = tmp.resolve("cp");
        write(cp.resolve("kernels/reduce.cu"), "#include <cuda_fp16.h>\n#include \"common.cuh\"\n  # include \"warp.cuh\"\n");
        write(cp.resolve("kernels/common.cuh"), "#include \"warp.cuh\"\n#define ONE 1\n");
        write(cp.resolve("kernels/warp.cuh"), "#define WARP 32\n");
        KernelImages.Image img = new KernelImages(null, resources(cp)).find("reduce").orElseThrow();
        assertEquals(KernelImages.Kind.SOURCE, img.kind());
        assertEquals(List.of("common.cuh", "warp.cuh"), List.copyOf(img.headers().keySet()));
        assertEquals("#define WARP 32\n", img.headers().get("warp.cuh"));
    }

    @Test
    void missingHeaderFamilyOrImageAreClear() throws IOException {
        Path cp = tmp.resolve("cp");
        write(cp.resolve("kernels/bad.cu"), "#include \"nope.cuh\"\n");
        KernelImages images = new KernelImages(tmp.resolve("none"), resources(cp));
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> images.find("bad"));
        assertTrue(e.getMessage().contains("nope.cuh"), e.getMessage());
        assertTrue(images.find("absent").isEmpty());
        assertTrue(images.searched("absent").contains("classpath:kernels/absent."), images.searched("absent"));
        assertThrows(IllegalArgumentException.class, () -> images.find("../etc/passwd"));
    }

    @Test
    void cacheKeyChangesWithSourceHeadersAndOptions() {
        List<String> o90 = NvrtcCompiler.options("sm_90");
        String k = KernelCache.key("ew", "src", Map.of("a.cuh", "x"), o90);
        assertTrue(k.startsWith("ew-") && k.length() == 3 + 16, k);
        assertEquals(k, KernelCache.key("ew", "src", Map.of("a.cuh", "x"), o90));
        assertNotEquals(k, KernelCache.key("ew", "src2", Map.of("a.cuh", "x"), o90));
        assertNotEquals(k, KernelCache.key("ew", "src", Map.of("a.cuh", "y"), o90));
        assertNotEquals(k, KernelCache.key("ew", "src", Map.of("a.cuh", "x"), NvrtcCompiler.options("sm_80")));
        assertNotEquals(KernelCache.key("ew", "ab", Map.of(), o90), KernelCache.key("ew", "a", Map.of("b", ""), o90),
                "parts are length-prefixed, so moving text between them changes the key");
    }

    @Test
    void cacheRoundTripsAndToleratesAnUnwritableDirectory() throws IOException {
        KernelCache cache = new KernelCache(tmp.resolve("cache"));
        assertTrue(cache.get("ew-0123", "sm_90").isEmpty());
        byte[] img = "cubin".getBytes(StandardCharsets.UTF_8);
        assertTrue(cache.put("ew-0123", "sm_90", img));
        assertArrayEquals(img, cache.get("ew-0123", "sm_90").orElseThrow());
        assertTrue(cache.get("ew-0123", "sm_80").isEmpty(), "arch is part of the file name");
        try (var files = Files.list(tmp.resolve("cache"))) {
            assertEquals(1, files.count(), "no temporary files left behind");
        }
        Path blocker = tmp.resolve("file");
        Files.writeString(blocker, "x");
        assertFalse(new KernelCache(blocker.resolve("sub")).put("k", "sm_90", img));
    }

    @Test
    void ptxGetsATerminatingNul() {
        byte[] ptx = "// ptx".getBytes(StandardCharsets.US_ASCII);
        byte[] t = KernelModule.nulTerminated(ptx);
        assertEquals(ptx.length + 1, t.length);
        assertEquals(0, t[t.length - 1]);
        assertTrue(t == KernelModule.nulTerminated(t), "already terminated images are passed as is");
    }
}
