package dev.kiln.dist;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.tensor.DType;

import java.util.Map;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * The NCCL backend without a GPU (CI): asking for it fails at once with the reason, never a crash
 * or a hang; the dtype and op tables. The GPU side is NcclProcessGroupGpuTest.
 */
class NcclProcessGroupTest {

    @Test
    void unavailableBackendFailsWithItsReason() {
        Assumptions.assumeFalse(NcclProcessGroup.isAvailable(), "NCCL is available here: NcclProcessGroupGpuTest covers it");
        String why = NcclProcessGroup.unavailableReason();
        assertTrue(why.startsWith("cuda: ") || why.startsWith("nccl: "), why);
        DistException e = assertThrows(DistException.class,
                () -> ProcessGroups.fromEnv(Map.of("KILN_DIST_BACKEND", "nccl")));
        assertEquals("nccl process group: " + why, e.getMessage());
    }

    @Test
    void dtypeTableRejectsBool() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> NcclProcessGroup.ncclType(DType.BOOL));
        assertEquals("nccl: dtype bool is not supported", e.getMessage());
    }
}
