package dev.kiln.backend;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A JVM started without {@code --add-modules jdk.incubator.vector} gets one clear message naming
 * the flag at the first tensor, not a NoClassDefFoundError for FloatVector from a kernel.
 */
class VectorApiMissingTest {
    /** Child main: makes a tensor and prints what was thrown (or "ok"). Touches no Vector API class itself. */
    public static void main(String[] args) {
        try (Tensor t = Tensor.zeros(DType.F32, 4, 4); Tensor u = t.matmul(t)) {
            System.out.println("ok " + u.numel());
        } catch (Throwable e) {
            Throwable root = e;
            while (root.getCause() != null) root = root.getCause();
            System.out.println("error " + root.getClass().getSimpleName() + ": " + root.getMessage());
        }
    }

    @Test
    void withoutTheModuleTheFirstTensorNamesTheFlag() throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process p = new ProcessBuilder(List.of(java, "-Xshare:auto", "-XX:+UseSerialGC", "--enable-native-access=ALL-UNNAMED",
                "-cp", System.getProperty("java.class.path"), VectorApiMissingTest.class.getName())).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), out);
        assertTrue(out.contains("error IllegalStateException: " + Backends.NO_VECTOR_API), out);
    }

    @Test
    void withTheModuleTensorsWork() {
        try (Tensor t = Tensor.zeros(DType.F32, 2, 2)) {
            assertEquals(4, t.numel());
        }
    }
}
