package dev.kiln.dist;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.backend.Backends;
import dev.kiln.backend.cuda.CudaBackend;
import dev.kiln.dist.ProcessGroup.ReduceOp;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;

import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The NCCL backend on one GPU: a communicator of one rank (NCCL refuses two ranks on one device,
 * so more ranks need more GPUs). Collectives must leave the data exactly as a one-rank reduction
 * does, at the right offsets of views, in order with other work on the backend's stream. Tagged
 * gpu; skips with the reason when CUDA or libnccl is missing.
 */
@Tag("gpu")
class NcclProcessGroupGpuTest {
    private static NcclProcessGroup pg;
    private static CudaBackend cuda;

    @BeforeAll
    static void needsNccl() {
        String why = NcclProcessGroup.unavailableReason();
        if (!why.isEmpty()) System.out.println("NcclProcessGroupGpuTest skipped: " + why);
        Assumptions.assumeTrue(why.isEmpty(), why);
        System.out.println("nccl version " + NcclProcessGroup.version());
        pg = NcclProcessGroup.open(0, 1, "127.0.0.1", 0, 0, Duration.ofSeconds(30));
        cuda = CudaBackend.of(0);
    }

    @AfterAll
    static void close() {
        if (pg != null) pg.close();
    }

    private static Tensor onGpu(Tensor host) {
        Tensor t = host.to(cuda);
        host.close();
        return t;
    }

    @Test
    void allReduceEveryOpLeavesOneRanksValues() {
        for (DType t : new DType[]{DType.F32, DType.F64, DType.I32, DType.I64}) {
            for (ReduceOp op : ReduceOp.values()) {
                Tensor host = Tensor.fromDoubles(t, new double[]{1, -2, 3, 40, 5, 6, 7}, 7);
                Tensor x = onGpu(host.clone());
                pg.allReduce(x, op).await();
                assertArrayEquals(host.toDoubleArray(), x.to(Backends.cpu()).toDoubleArray(), op + " " + t);
                host.close();
                x.close();
            }
        }
    }

    @Test
    void collectivesRunInStreamOrderOnViews() {
        Tensor x = onGpu(Tensor.randn(new Generator(7), DType.F32, 1000));
        Tensor doubled = x.mul(2.0); // queued before the all-reduce on the same stream
        Tensor view = doubled.narrow(0, 100, 300);
        pg.allReduce(view, ReduceOp.SUM);
        Tensor after = doubled.add(1.0); // queued after: sees the all-reduce's output
        pg.barrier().await();
        float[] want = x.to(Backends.cpu()).toFloatArray();
        float[] got = after.to(Backends.cpu()).toFloatArray();
        for (int i = 0; i < want.length; i++) assertEquals(want[i] * 2 + 1, got[i], 1e-6, "at " + i);
        x.close();
        doubled.close();
        after.close();
    }

    @Test
    void broadcastAllGatherReduceScatter() {
        Tensor x = onGpu(Tensor.fromArray(new float[]{1, 2, 3, 4}, 4));
        pg.broadcast(x, 0).await();
        assertArrayEquals(new float[]{1, 2, 3, 4}, x.to(Backends.cpu()).toFloatArray());

        Tensor out = onGpu(Tensor.zeros(4));
        pg.allGather(List.of(out), x).await();
        assertArrayEquals(new float[]{1, 2, 3, 4}, out.to(Backends.cpu()).toFloatArray());

        Tensor rs = onGpu(Tensor.zeros(4));
        pg.reduceScatter(rs, x, ReduceOp.AVG).await();
        assertArrayEquals(new float[]{1, 2, 3, 4}, rs.to(Backends.cpu()).toFloatArray());
        x.close();
        out.close();
        rs.close();
    }

    @Test
    void hostTensorsAreRejected() {
        try (Tensor h = Tensor.zeros(3)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> pg.allReduce(h, ReduceOp.SUM));
            assertTrue(e.getMessage().startsWith("nccl allReduce: tensor lives on cpu"), e.getMessage());
        }
    }
}
