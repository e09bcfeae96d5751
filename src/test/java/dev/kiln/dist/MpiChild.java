package dev.kiln.dist;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * The rank program of {@link MpiProcessGroupTest}, run under {@code mpirun -np N}. Modes:
 * <ul>
 *   <li>{@code collectives PORT}: every collective, every supported dtype and op, on the MPI group
 *       and on the TCP ring (rank and size from OMPI_COMM_WORLD_*, rendezvous on PORT), with
 *       integer-valued inputs so every order of summation is exact: the two must agree bit for bit
 *       and with the sums computed here; prints "rank R ok" or "rank R FAIL ...".</li>
 *   <li>{@code ddp}: {@link DdpFixture}'s model trained data parallel on the MPI group (small
 *       buckets, so several all-reduces overlap backward) against one process on the whole batch.</li>
 *   <li>{@code timeout}: rank 1 skips an all-reduce that rank 0 waits for (KILN_DIST_TIMEOUT_S).</li>
 *   <li>{@code die}: rank 1 halts mid-run while rank 0 waits in an all-reduce.</li>
 * </ul>
 */
public final class MpiChild {
    private MpiChild() {}

    public static void main(String[] a) throws Exception {
        Map<String, String> env = System.getenv();
        switch (a[0]) {
            case "collectives" -> collectives(Integer.parseInt(a[1]), env);
            case "ddp" -> {
                try (ProcessGroup pg = ProcessGroups.fromEnv(env)) {
                    Map<String, double[]> got = DdpFixture.ddpRank(pg, b -> b.bucketBytes(256), null, null);
                    String result;
                    try {
                        DdpFixture.assertSameParameters(DdpFixture.single(), got, "mpi ddp rank " + pg.rank());
                        result = " ok";
                    } catch (AssertionError e) {
                        result = " FAIL " + e.getMessage();
                    }
                    System.out.println("ddp rank " + pg.rank() + result);
                }
            }
            case "timeout" -> {
                try (ProcessGroup pg = ProcessGroups.fromEnv(env); Tensor x = Tensor.ones(DType.F32, 8)) {
                    System.out.println("rank " + pg.rank() + " backend " + pg.backend());
                    pg.allReduce(x, ProcessGroup.ReduceOp.SUM).await();                 // both
                    if (pg.rank() == 0) pg.allReduce(x, ProcessGroup.ReduceOp.SUM).await(); // rank 1 never joins
                    else Thread.sleep(120_000);
                }
            }
            case "die" -> {
                try (ProcessGroup pg = ProcessGroups.fromEnv(env); Tensor x = Tensor.ones(DType.F32, 8)) {
                    pg.barrier().await();
                    if (pg.rank() == 1) {
                        System.out.println("rank 1 halting");
                        System.out.flush();
                        Runtime.getRuntime().halt(9);
                    }
                    pg.allReduce(x, ProcessGroup.ReduceOp.SUM).await();
                    Thread.sleep(120_000);
                }
            }
            default -> throw new IllegalArgumentException("mode " + a[0]);
        }
    }

    private static void collectives(int port, Map<String, String> env) throws Exception {
        int rank = Integer.parseInt(env.get("OMPI_COMM_WORLD_RANK")), size = Integer.parseInt(env.get("OMPI_COMM_WORLD_SIZE"));
        List<String> fails = new ArrayList<>();
        try (ProcessGroup mpi = ProcessGroups.fromEnv(env);
             ProcessGroup ring = ProcessGroups.cpu(rank, size, "127.0.0.1", port, Duration.ofSeconds(60))) {
            if (!mpi.backend().equals("mpi") || mpi.rank() != rank || mpi.size() != size)
                fails.add("mpi group is " + mpi.backend() + " rank " + mpi.rank() + " of " + mpi.size());
            for (DType t : new DType[]{DType.F32, DType.F64, DType.I32, DType.I64})
                for (int n : new int[]{1, 7, 1000, 65_537}) {
                    for (ProcessGroup.ReduceOp op : ProcessGroup.ReduceOp.values()) {
                        if (op == ProcessGroup.ReduceOp.AVG && (t == DType.I32 || t == DType.I64)) continue;
                        compare(fails, "allReduce " + op + " " + t + " " + n, mpi, ring, t, n, rank, (pg, x) -> pg.allReduce(x, op).await());
                    }
                    compare(fails, "broadcast " + t + " " + n, mpi, ring, t, n, rank, (pg, x) -> pg.broadcast(x, size - 1).await());
                    compareGather(fails, t, n, mpi, ring, rank, size);
                    compareScatter(fails, t, n, mpi, ring, rank, size);
                }
            mpi.barrier().await();
            try (Tensor big = Tensor.full(rank + 1, DType.F32, 1 << 22)) {           // 16 MB: several pipeline segments in MPI
                mpi.allReduce(big, ProcessGroup.ReduceOp.AVG).await();
                float want = (size + 1) / 2f;
                float[] v = big.toFloatArray();
                for (int i = 0; i < v.length; i += 4099) if (v[i] != want) { fails.add("16 MB AVG at " + i + ": " + v[i]); break; }
            }
            try (Tensor x = Tensor.ones(DType.F32, 4)) {
                IllegalArgumentException e = null;
                try {
                    mpi.broadcast(x, size);
                } catch (IllegalArgumentException ex) {
                    e = ex;
                }
                if (e == null || !e.getMessage().contains("root " + size)) fails.add("bad root not refused: " + e);
            }
        }
        System.out.println("rank " + rank + (fails.isEmpty() ? " ok" : " FAIL " + fails));
    }

    private interface Collective { void run(ProcessGroup pg, Tensor x); }

    /** Integer-valued values (exact in every dtype and every summation order), different per rank. */
    private static Tensor input(DType t, int n, int rank, long salt) {
        Generator g = new Generator(1000L * rank + salt);
        try (Tensor u = Tensor.uniform(g, -1000, 1000, DType.F64, n)) {
            double[] d = u.toDoubleArray();
            for (int i = 0; i < n; i++) d[i] = Math.rint(d[i]);
            try (Tensor f = Tensor.fromArray(d, n)) {
                return f.to(t);
            }
        }
    }

    private static void compare(List<String> fails, String what, ProcessGroup mpi, ProcessGroup ring, DType t, int n, int rank, Collective c) {
        try (Tensor a = input(t, n, rank, n); Tensor b = input(t, n, rank, n)) {
            c.run(mpi, a);
            c.run(ring, b);
            if (!Arrays.equals(a.toDoubleArray(), b.toDoubleArray())) fails.add(what + ": mpi and ring differ");
        }
    }

    private static void compareGather(List<String> fails, DType t, int n, ProcessGroup mpi, ProcessGroup ring, int rank, int size) {
        List<Tensor> om = new ArrayList<>(), or = new ArrayList<>();
        for (int r = 0; r < size; r++) {
            om.add(Tensor.zeros(t, n));
            or.add(Tensor.zeros(t, n));
        }
        try (Tensor in = input(t, n, rank, 7)) {
            mpi.allGather(om, in).await();
            ring.allGather(or, in).await();
            for (int r = 0; r < size; r++) {
                try (Tensor want = input(t, n, r, 7)) {
                    if (!Arrays.equals(om.get(r).toDoubleArray(), want.toDoubleArray())) fails.add("allGather " + t + " " + n + " slot " + r + " (mpi)");
                }
                if (!Arrays.equals(om.get(r).toDoubleArray(), or.get(r).toDoubleArray())) fails.add("allGather " + t + " " + n + ": mpi and ring differ");
            }
        } finally {
            om.forEach(Tensor::close);
            or.forEach(Tensor::close);
        }
    }

    private static void compareScatter(List<String> fails, DType t, int n, ProcessGroup mpi, ProcessGroup ring, int rank, int size) {
        for (ProcessGroup.ReduceOp op : new ProcessGroup.ReduceOp[]{ProcessGroup.ReduceOp.SUM, ProcessGroup.ReduceOp.MAX}) {
            try (Tensor in = input(t, n * size, rank, 11); Tensor om = Tensor.zeros(t, n); Tensor or = Tensor.zeros(t, n)) {
                mpi.reduceScatter(om, in, op).await();
                ring.reduceScatter(or, in, op).await();
                double[] want = new double[n];
                Arrays.fill(want, op == ProcessGroup.ReduceOp.MAX ? Double.NEGATIVE_INFINITY : 0);
                for (int r = 0; r < size; r++)
                    try (Tensor x = input(t, n * size, r, 11)) {
                        double[] v = x.toDoubleArray();
                        for (int i = 0; i < n; i++) {
                            double e = v[rank * n + i];
                            want[i] = op == ProcessGroup.ReduceOp.MAX ? Math.max(want[i], e) : want[i] + e;
                        }
                    }
                if (!Arrays.equals(om.toDoubleArray(), want)) fails.add("reduceScatter " + op + " " + t + " " + n + " (mpi vs expected)");
                if (!Arrays.equals(om.toDoubleArray(), or.toDoubleArray())) fails.add("reduceScatter " + op + " " + t + " " + n + ": mpi and ring differ");
            }
        }
    }
}
