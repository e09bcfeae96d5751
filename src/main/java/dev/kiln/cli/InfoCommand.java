package dev.kiln.cli;

import dev.kiln.backend.cpu.CpuConfig;
import jdk.incubator.vector.FloatVector;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code kiln info}: the JDK, the CPU, the Vector API species, the CPU backend switches and whether
 * CUDA could be used. Each probe catches everything (missing module, missing native library) and
 * reports it as text; this command never fails.
 */
@Command(name = "info", mixinStandardHelpOptions = true,
        description = "Show the JDK, CPU, Vector API width, CPU backend settings and CUDA availability.")
public final class InfoCommand implements Callable<Integer> {
    @Spec private CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        line(out, "kiln", "0.1.0");
        line(out, "java", Runtime.version() + " (" + System.getProperty("java.vendor") + ") at " + System.getProperty("java.home"));
        line(out, "os", System.getProperty("os.name") + " " + System.getProperty("os.version") + " " + System.getProperty("os.arch"));
        line(out, "cpu cores", Integer.toString(Runtime.getRuntime().availableProcessors()));
        line(out, "max heap", (Runtime.getRuntime().maxMemory() >> 20) + " MiB (tensors live off-heap)");
        line(out, "vector api", probe(InfoCommand::vectorInfo));
        line(out, "cpu backend", probe(InfoCommand::cpuBackendInfo));
        line(out, "cuda", "not available (backend not built yet)");
        line(out, "cuda runtime", probe(InfoCommand::cudaProbe));
        out.flush();
        return Main.OK;
    }

    private static void line(PrintWriter out, String key, String value) {
        out.printf(Locale.ROOT, "%-13s %s%n", key + ":", value);
    }

    /** Runs a probe, turning any Throwable (NoClassDefFoundError, UnsatisfiedLinkError...) into text. */
    static String probe(Callable<String> p) {
        try {
            return p.call();
        } catch (Throwable t) {
            return "unavailable (" + describe(t) + ")";
        }
    }

    static String vectorInfo() {
        try {
            var pref = FloatVector.SPECIES_PREFERRED;
            return String.format(Locale.ROOT, "preferred species %d-bit (%d floats); kiln uses %d-bit (%d floats)",
                    pref.vectorBitSize(), pref.length(), CpuConfig.F32.vectorBitSize(), CpuConfig.F32.length());
        } catch (NoClassDefFoundError e) {
            return "unavailable: jdk.incubator.vector is not loaded (run with --add-modules jdk.incubator.vector)";
        }
    }

    static String cpuBackendInfo() {
        return "scalar=" + CpuConfig.scalar() + " (kiln.cpu.scalar), threads=" + CpuConfig.threads()
                + " (kiln.cpu.threads), vectorBits=" + System.getProperty("kiln.cpu.vectorBits", "preferred") + " (kiln.cpu.vectorBits)";
    }

    /**
     * Whether the JavaCPP cuda presets are on the classpath and whether their cudart natives load.
     * Uses reflection so that this class links without the optional cuda jars.
     */
    static String cudaProbe() {
        Class<?> cudart;
        try {
            cudart = Class.forName("org.bytedeco.cuda.global.cudart", false, InfoCommand.class.getClassLoader());
        } catch (Throwable t) {
            return "JavaCPP cuda presets not on the classpath";
        }
        try {
            Class<?> loader = Class.forName("org.bytedeco.javacpp.Loader");
            loader.getMethod("load", Class.class).invoke(null, cudart);
        } catch (Throwable t) {
            return "cuda presets on the classpath; cudart natives not loadable (" + describe(unwrap(t)) + ")";
        }
        return "cudart natives loaded; " + cudaDevices(cudart);
    }

    private static String cudaDevices(Class<?> cudart) {
        try {
            int[] count = new int[1], runtime = new int[1];
            int rc = (int) method(cudart, "cudaGetDeviceCount").invoke(null, (Object) count);
            method(cudart, "cudaRuntimeGetVersion").invoke(null, (Object) runtime);
            String version = "runtime " + runtime[0] / 1000 + "." + runtime[0] % 1000 / 10;
            return rc == 0 ? count[0] + " device(s), " + version : "cudaGetDeviceCount failed with error " + rc + ", " + version;
        } catch (Throwable t) {
            return "device query failed (" + describe(unwrap(t)) + ")";
        }
    }

    private static Method method(Class<?> c, String name) throws NoSuchMethodException {
        return c.getMethod(name, int[].class);
    }

    private static Throwable unwrap(Throwable t) {
        return t instanceof InvocationTargetException ite && ite.getCause() != null ? ite.getCause() : t;
    }

    private static String describe(Throwable t) {
        String m = Main.oneLine(t.getMessage());
        if (m.length() > 160) m = m.substring(0, 157) + "...";
        return m.isEmpty() ? t.getClass().getSimpleName() : t.getClass().getSimpleName() + ": " + m;
    }
}
