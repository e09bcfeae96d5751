package dev.kiln.backend.cpu;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Set;
import java.util.TreeSet;

/**
 * What this CPU is, read once at start from what Linux reports ({@code /proc/cpuinfo}: vendor,
 * model name, flags; {@code /sys/devices/system/cpu/cpu0/cache}: L1d/L2/L3 sizes), and the kernel
 * choices made from it. Profiles:
 * <ul>
 *   <li>{@code avx512-2fma}: Intel with AVX-512 (Skylake-SP and later; two 512-bit FMA ports on
 *       server parts), possibly AVX512-BF16/AMX;</li>
 *   <li>{@code zen4}: AMD with AVX-512 (Zen 4 and later; 512-bit ops run as two 256-bit halves);</li>
 *   <li>{@code avx2}: no AVX-512, or {@code -Dkiln.cpu.vectorBits=256};</li>
 * </ul>
 * {@code -Dkiln.cpu.profile=NAME} forces one; {@code -Dkiln.gemm.mr=6|8} forces the F32 GEMM tile
 * height (gemmMr 0: chosen per call by GemmF32Kernel.tileRows, measured on Zen 4; the Intel
 * profile has not been tuned on its CPU yet and uses the same rule). Nothing here changes
 * results' correctness, only speed.
 */
public record CpuProfile(String name, String vendor, String model, Set<String> flags, long l1d, long l2, long l3, int gemmMr) {

    private static final CpuProfile CURRENT = detect();

    public static CpuProfile get() { return CURRENT; }

    public boolean has(String flag) { return flags.contains(flag); }

    /** One line for `kiln info` and benchmark reports. */
    public String describe() {
        return String.format(Locale.ROOT, "%s (%s; L1d %d KB, L2 %d KB, L3 %d MB; F32 GEMM tiles %sx%d)%s",
                model, name, l1d >> 10, l2 >> 10, l3 >> 20, gemmMr == 0 ? "6|8" : Integer.toString(gemmMr), 2 * CpuConfig.F32.length(),
                has("amx_tile") ? " AMX" : "");
    }

    private static CpuProfile detect() {
        String vendor = "unknown", model = "unknown CPU";
        Set<String> flags = new TreeSet<>();
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                int colon = line.indexOf(':');
                if (colon < 0) continue;
                String key = line.substring(0, colon).trim(), value = line.substring(colon + 1).trim();
                if (key.equals("vendor_id") && vendor.equals("unknown")) vendor = value;
                else if (key.equals("model name") && model.equals("unknown CPU")) model = value;
                else if (key.equals("flags") && flags.isEmpty()) flags.addAll(java.util.Arrays.asList(value.split("\\s+")));
            }
        } catch (IOException | RuntimeException e) {
            // not Linux, or no /proc: a generic profile
        }
        long l1 = cache(1, "Data"), l2 = cache(2, "Unified"), l3 = cache(3, "Unified");
        boolean wide = flags.contains("avx512f") && CpuConfig.F32.length() >= 16;
        String name = System.getProperty("kiln.cpu.profile",
                !wide ? "avx2" : vendor.equals("AuthenticAMD") ? "zen4" : "avx512-2fma");
        int mr = Integer.getInteger("kiln.gemm.mr", 0);
        if (mr != 0 && mr != 6 && mr != 8) throw new IllegalArgumentException("kiln.gemm.mr must be 6 or 8, got " + mr);
        return new CpuProfile(name, vendor, model, flags, l1, l2, l3, mr);
    }

    /** Size in bytes of cpu0's cache of this level and type (0 when unknown). */
    private static long cache(int level, String type) {
        for (int i = 0; i < 8; i++) {
            Path dir = Path.of("/sys/devices/system/cpu/cpu0/cache/index" + i);
            try {
                if (!Files.isDirectory(dir)) break;
                if (Integer.parseInt(Files.readString(dir.resolve("level")).trim()) != level) continue;
                if (!Files.readString(dir.resolve("type")).trim().equals(type)) continue;
                String size = Files.readString(dir.resolve("size")).trim();         // e.g. "1024K"
                long mult = size.endsWith("K") ? 1024 : size.endsWith("M") ? 1 << 20 : 1;
                return Long.parseLong(size.replaceAll("[KM]$", "")) * mult;
            } catch (IOException | RuntimeException e) {
                return 0;
            }
        }
        return 0;
    }
}
