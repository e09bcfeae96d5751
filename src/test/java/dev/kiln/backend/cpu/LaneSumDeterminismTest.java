package dev.kiln.backend.cpu;

import dev.kiln.train.ChildJvm;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Same inputs give the same bits before and after C2 compiles a kernel (ENGINEERING.md section 4).
 * Every kernel that sums across vector lanes runs in a child JVM in the interpreter ({@code -Xint},
 * where the Vector API is its Java fallback, adding lanes left to right) and in another child JVM
 * after 20,000 warm-up calls with {@code -Xbatch} (so C2 has compiled it, with its intrinsics, before
 * the call that counts). {@code reduceLanes(ADD)} fails this: C2 adds the lanes as a tree.
 */
class LaneSumDeterminismTest {
    @Test void everyLaneSumKernelGivesTheSameBitsInterpretedAndC2Compiled() throws Exception {
        List<String> cold = run(List.of("-Xint"), 0);
        List<String> warm = run(List.of("-Xbatch", "-XX:-TieredCompilation"), 20_000);
        assertEquals(LaneSumProbe.kernels().size(), cold.size(), "kernels probed: " + cold);
        List<String> differ = new java.util.ArrayList<>();
        for (int i = 0; i < cold.size(); i++)
            if (!cold.get(i).equals(warm.get(i))) differ.add("interpreted " + cold.get(i) + "\n   C2 " + warm.get(i));
        assertEquals(List.of(), differ, "kernels whose bits change once C2 compiles them");
    }

    private static List<String> run(List<String> flags, int warm) throws Exception {
        try (ChildJvm child = new ChildJvm(LaneSumProbe.class, flags, Integer.toString(warm))) {
            List<String> lines = new java.util.ArrayList<>();
            for (var k : LaneSumProbe.kernels()) lines.add(child.await(k.name() + " ", 240_000));
            assertEquals(0, child.waitFor(60_000), "probe exit code");
            return lines;
        }
    }
}
