package dev.kiln.dist;

import java.time.Duration;
import java.util.Map;

/**
 * Creates process groups, either from the environment a launcher sets (RANK, WORLD_SIZE,
 * MASTER_ADDR, MASTER_PORT, plus KILN_DIST_BACKEND = cpu | nccl | mpi and KILN_DIST_TIMEOUT_S) or
 * from explicit arguments. Rank 0 of the cpu and nccl backends hosts the rendezvous
 * {@link TcpStore} on MASTER_ADDR:MASTER_PORT; the mpi backend takes rank and size from MPI. Under
 * Open MPI's {@code mpirun} (OMPI_COMM_WORLD_SIZE set, no WORLD_SIZE) the backend defaults to mpi,
 * and the cpu backend reads rank and size from OMPI_COMM_WORLD_RANK/SIZE when asked for.
 */
public final class ProcessGroups {
    private ProcessGroups() {}

    /** The default collective timeout (5 minutes), as torch.distributed's. */
    public static final Duration DEFAULT_TIMEOUT = Duration.ofMinutes(5);

    /** A group from the process environment (see the class comment). */
    public static ProcessGroup fromEnv() {
        return fromEnv(System.getenv());
    }

    /** A group from the given environment variables; missing RANK/WORLD_SIZE mean a group of one. */
    public static ProcessGroup fromEnv(Map<String, String> env) {
        int rank = intVar(env, "RANK", intVar(env, "OMPI_COMM_WORLD_RANK", 0));
        int size = worldSize(env);
        String host = env.getOrDefault("MASTER_ADDR", "127.0.0.1");
        int port = intVar(env, "MASTER_PORT", 29500);
        Duration timeout = env.containsKey("KILN_DIST_TIMEOUT_S")
                ? Duration.ofMillis(Math.round(1000 * doubleVar(env, "KILN_DIST_TIMEOUT_S"))) : DEFAULT_TIMEOUT;
        String backend = backendOf(env);
        return switch (backend) {
            case "cpu" -> cpu(rank, size, host, port, timeout);
            case "nccl" -> nccl(rank, size, host, port, intVar(env, "LOCAL_RANK", intVar(env, "OMPI_COMM_WORLD_LOCAL_RANK", rank)), timeout);
            case "mpi" -> MpiProcessGroup.open(timeout, env);
            default -> throw new DistException("KILN_DIST_BACKEND=" + backend + " is not a backend (cpu, nccl, mpi)");
        };
    }

    /** KILN_DIST_BACKEND, else mpi under Open MPI's mpirun without WORLD_SIZE, else cpu. */
    public static String backendOf(Map<String, String> env) {
        String b = env.get("KILN_DIST_BACKEND");
        if (b != null && !b.isBlank()) return b.trim();
        return env.containsKey("OMPI_COMM_WORLD_SIZE") && !env.containsKey("WORLD_SIZE") ? "mpi" : "cpu";
    }

    /** WORLD_SIZE, else OMPI_COMM_WORLD_SIZE, else 1. */
    public static int worldSize(Map<String, String> env) {
        return intVar(env, "WORLD_SIZE", intVar(env, "OMPI_COMM_WORLD_SIZE", 1));
    }

    /** A CPU (TCP ring) group; rank 0 hosts the store on host:port. */
    public static ProcessGroup cpu(int rank, int size, String host, int port, Duration timeout) {
        return CpuProcessGroup.open(rank, size, host, port, timeout);
    }

    /** An NCCL group on CUDA device {@code device} (LOCAL_RANK under a launcher); rank 0 hosts the store on host:port. */
    public static ProcessGroup nccl(int rank, int size, String host, int port, int device, Duration timeout) {
        return NcclProcessGroup.open(rank, size, host, port, device, timeout);
    }

    private static int intVar(Map<String, String> env, String name, int dflt) {
        String v = env.get(name);
        if (v == null || v.isBlank()) return dflt;
        try {
            return Integer.parseInt(v.trim());
        } catch (NumberFormatException e) {
            throw new DistException(name + "=" + v + " is not an integer");
        }
    }

    private static double doubleVar(Map<String, String> env, String name) {
        String v = env.get(name);
        try {
            double d = Double.parseDouble(v.trim());
            if (!(d > 0)) throw new NumberFormatException();
            return d;
        } catch (NumberFormatException e) {
            throw new DistException(name + "=" + v + " is not a positive number of seconds");
        }
    }
}
