package dev.kiln.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Checks the CUDA kernel sources in {@code kernels/} without a GPU: every {@code extern "C"
 * __global__} kernel a file defines (written out, or through a {@code KILN_DEF_*} macro whose
 * leading arguments are the full kernel names) is listed in the file's header comment, and the
 * header lists no kernel that does not exist. When nvcc is installed, {@code
 * native/build-kernels.sh} must compile every file, and each fatbin must hold every kernel name.
 */
class KernelSourcesTest {

    private static final Path ROOT = Path.of("").toAbsolutePath();
    private static final Path KERNELS = ROOT.resolve("kernels");
    private static final Pattern LITERAL_KERNEL =
            Pattern.compile("extern\\s+\"C\"\\s+__global__\\s+void\\s+(\\w+)\\s*\\(");
    private static final Pattern MACRO_USE =
            Pattern.compile("(?m)^\\s*KILN_DEF_\\w*\\s*\\(([^)]*)\\)");
    private static final Pattern KILN_NAME = Pattern.compile("\\bkiln_\\w+\\b");
    private static final Pattern SASS_SECTION = Pattern.compile("\0\\.text\\.(kiln_\\w+)\0");
    /** A kernel-like name in the header: not a pattern such as kiln_cast_<src>, not a file. */
    private static final Pattern HEADER_NAME =
            Pattern.compile("\\bkiln_[a-z0-9_]*[a-z0-9]\\b(?![<.])");

    /**
     * The NVRTC fallback compiles the shipped sources with no include path (a runtime-only host has
     * no CUDA headers): no {@code #include <...>}, and every quoted include is a file of kernels/.
     */
    @Test
    void sourcesAreSelfContainedForNvrtc() throws IOException {
        Pattern include = Pattern.compile("(?m)^\\s*#\\s*include\\s*([<\"])([^>\"]+)[>\"]");
        try (Stream<Path> files = Files.list(KERNELS)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".cu") || p.toString().endsWith(".cuh")).toList()) {
                Matcher m = include.matcher(Files.readString(f));
                while (m.find()) {
                    assertEquals("\"", m.group(1), f.getFileName() + ": #include <" + m.group(2) + "> needs an include path NVRTC lacks");
                    assertTrue(Files.isRegularFile(KERNELS.resolve(m.group(2))), f.getFileName() + ": includes missing " + m.group(2));
                }
            }
        }
    }

    @Test
    void everyKernelIsListedInItsFileHeader() throws IOException {
        List<Path> sources = cuSources();
        assertFalse(sources.isEmpty(), "no kernels/*.cu found under " + KERNELS);
        for (Path src : sources) {
            String text = Files.readString(src);
            Set<String> kernels = definedKernels(text);
            assertFalse(kernels.isEmpty(), src + ": defines no extern \"C\" __global__ kernel");
            String header = headerComment(text);
            assertFalse(header.isBlank(), src + ": missing the header comment listing its kernels");
            Set<String> listed = matches(HEADER_NAME, header);
            for (String k : kernels) {
                assertTrue(listed.contains(k), src.getFileName() + ": kernel " + k
                        + " is not listed in the header comment");
            }
            Set<String> stale = new TreeSet<>(listed);
            stale.removeAll(kernels);
            assertTrue(stale.isEmpty(), src.getFileName() + ": header lists kernels that are not"
                    + " defined: " + stale);
        }
    }

    @Test
    void parserFindsMacroAndLiteralKernels() {
        String src = "// demo.cu: kiln_a_f32, kiln_b_f32_strided, kiln_lit\n"
                + "#define KILN_DEF_X(NAME, NAME_S, T) \\\n"
                + "    extern \"C\" __global__ void NAME(T* x) {} \\\n"
                + "    extern \"C\" __global__ void NAME_S(T* x) {}\n"
                + "KILN_DEF_X(kiln_a_f32, kiln_b_f32_strided, float)\n"
                + "extern \"C\" __global__ void kiln_lit(float* x) {}\n";
        assertEquals(Set.of("kiln_a_f32", "kiln_b_f32_strided", "kiln_lit"), definedKernels(src));
        assertEquals("// demo.cu: kiln_a_f32, kiln_b_f32_strided, kiln_lit", headerComment(src).strip());
    }

    @Test
    void buildScriptCompilesEveryFileIntoAFatbinHoldingItsKernels(@TempDir Path out)
            throws IOException, InterruptedException {
        Path nvcc = Path.of(System.getenv().getOrDefault("NVCC", "/usr/local/cuda/bin/nvcc"));
        if (!Files.isExecutable(nvcc)) {
            System.out.println("KernelSourcesTest: skipping the nvcc build, " + nvcc + " not found");
        }
        Assumptions.assumeTrue(Files.isExecutable(nvcc), "nvcc not found at " + nvcc);
        long t0 = System.nanoTime();
        ProcessBuilder pb = new ProcessBuilder("bash", ROOT.resolve("native/build-kernels.sh").toString(),
                out.toString()).redirectErrorStream(true);
        pb.environment().put("NVCC", nvcc.toString());
        Process p = pb.start();
        String log = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(300, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            fail("build-kernels.sh took more than 300 s");
        }
        assertEquals(0, p.exitValue(), "build-kernels.sh failed:\n" + log);
        System.out.printf("KernelSourcesTest: build-kernels.sh %.1f s%n%s", (System.nanoTime() - t0) / 1e9, log);
        for (Path src : cuSources()) {
            String name = src.getFileName().toString().replaceFirst("\\.cu$", "");
            Path fatbin = out.resolve(name + ".fatbin");
            assertTrue(Files.size(fatbin) > 0, "missing or empty " + fatbin);
            String bin = new String(Files.readAllBytes(fatbin), StandardCharsets.ISO_8859_1);
            Set<String> kernels = definedKernels(Files.readString(src));
            for (String k : kernels) {
                assertTrue(bin.contains("\0" + k + "\0"), fatbin.getFileName() + " lacks kernel " + k);
            }
            // The SASS sections name every compiled kernel: the source parser must have seen them all.
            assertEquals(kernels, matches(SASS_SECTION, bin), fatbin.getFileName()
                    + ": kernels compiled (.text.<name> sections) differ from those parsed in " + src);
        }
    }

    private static List<Path> cuSources() throws IOException {
        try (Stream<Path> s = Files.list(KERNELS)) {
            return s.filter(f -> f.toString().endsWith(".cu")).sorted().toList();
        }
    }

    /** Names of the kernels a source defines, ignoring #define bodies (their names are macro parameters). */
    static Set<String> definedKernels(String text) {
        String code = stripComments(stripDefines(text));
        Set<String> names = matches(LITERAL_KERNEL, code);
        Matcher m = MACRO_USE.matcher(code);
        while (m.find()) {
            names.addAll(matches(KILN_NAME, m.group(1)));
        }
        return names;
    }

    /** The leading run of // comment lines (blank lines allowed) or a leading block comment. */
    static String headerComment(String text) {
        String t = text.stripLeading();
        if (t.startsWith("/*")) {
            int end = t.indexOf("*/");
            return end < 0 ? "" : t.substring(0, end + 2);
        }
        StringBuilder sb = new StringBuilder();
        for (String line : t.split("\n", -1)) {
            String l = line.strip();
            if (!l.startsWith("//") && !l.isEmpty()) {
                break;
            }
            sb.append(line).append('\n');
        }
        return sb.toString();
    }

    private static String stripDefines(String text) {
        StringBuilder sb = new StringBuilder();
        boolean inDefine = false;
        for (String line : text.split("\n", -1)) {
            boolean starts = line.stripLeading().startsWith("#define");
            if (!(inDefine || starts)) {
                sb.append(line).append('\n');
            }
            inDefine = (inDefine || starts) && line.stripTrailing().endsWith("\\");
        }
        return sb.toString();
    }

    private static String stripComments(String text) {
        return text.replaceAll("(?s)/\\*.*?\\*/", " ").replaceAll("//[^\n]*", "");
    }

    private static Set<String> matches(Pattern p, String text) {
        Set<String> found = new TreeSet<>();
        Matcher m = p.matcher(text);
        while (m.find()) {
            found.add(m.groupCount() > 0 ? m.group(1) : m.group());
        }
        return found;
    }
}
