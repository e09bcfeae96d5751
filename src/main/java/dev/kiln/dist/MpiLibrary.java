package dev.kiln.dist;

import dev.kiln.tensor.DType;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;

/**
 * Open MPI's C library through the FFM API (no JNI glue): the calls {@link MpiProcessGroup} makes,
 * bound once. Open MPI's handles (communicators, datatypes, ops) are the addresses of its global
 * objects ({@code ompi_mpi_comm_world}, {@code ompi_mpi_float}, {@code ompi_mpi_op_sum}, ...), which
 * is its ABI; MPICH and its derivatives use integer handles instead and are refused in one line.
 * The library is {@code -Dkiln.mpi.lib=PATH} or {@code KILN_MPI_LIB}, else {@code libmpi.so.40}
 * (Open MPI 3 to 5), else {@code libmpi.so}.
 */
final class MpiLibrary {
    private static final ValueLayout.OfInt I = ValueLayout.JAVA_INT;
    private static final java.lang.foreign.AddressLayout A = ValueLayout.ADDRESS;
    /** MPI_THREAD_FUNNELED: only the thread that initialised MPI calls it (the group's worker). */
    static final int THREAD_FUNNELED = 1;

    final String path;
    final MemorySegment world, errorsReturn, sum, max, inPlace;
    private final MemorySegment f32, f64, i32, i64;
    final MethodHandle initialized, finalized, initThread, finalizeMpi, commRank, commSize, setErrhandler,
            allreduce, bcast, allgather, reduceScatterBlock, barrier, errorString, libraryVersion;

    private MpiLibrary(String path, SymbolLookup lib) {
        this.path = path;
        if (lib.find("ompi_mpi_comm_world").isEmpty())
            throw new DistException("mpi: " + path + " is not Open MPI (no ompi_mpi_comm_world); Kiln's MPI backend binds Open MPI's ABI");
        world = sym(lib, "ompi_mpi_comm_world");
        errorsReturn = sym(lib, "ompi_mpi_errors_return");
        sum = sym(lib, "ompi_mpi_op_sum");
        max = sym(lib, "ompi_mpi_op_max");
        f32 = sym(lib, "ompi_mpi_float");
        f64 = sym(lib, "ompi_mpi_double");
        i32 = sym(lib, "ompi_mpi_int");
        i64 = sym(lib, "ompi_mpi_int64_t");
        inPlace = MemorySegment.ofAddress(1);                 // MPI_IN_PLACE is (void *) 1 in Open MPI
        initialized = fn(lib, "MPI_Initialized", FunctionDescriptor.of(I, A));
        finalized = fn(lib, "MPI_Finalized", FunctionDescriptor.of(I, A));
        initThread = fn(lib, "MPI_Init_thread", FunctionDescriptor.of(I, A, A, I, A));
        finalizeMpi = fn(lib, "MPI_Finalize", FunctionDescriptor.of(I));
        commRank = fn(lib, "MPI_Comm_rank", FunctionDescriptor.of(I, A, A));
        commSize = fn(lib, "MPI_Comm_size", FunctionDescriptor.of(I, A, A));
        setErrhandler = fn(lib, "MPI_Comm_set_errhandler", FunctionDescriptor.of(I, A, A));
        allreduce = fn(lib, "MPI_Allreduce", FunctionDescriptor.of(I, A, A, I, A, A, A));
        bcast = fn(lib, "MPI_Bcast", FunctionDescriptor.of(I, A, I, A, I, A));
        allgather = fn(lib, "MPI_Allgather", FunctionDescriptor.of(I, A, I, A, A, I, A, A));
        reduceScatterBlock = fn(lib, "MPI_Reduce_scatter_block", FunctionDescriptor.of(I, A, A, I, A, A, A));
        barrier = fn(lib, "MPI_Barrier", FunctionDescriptor.of(I, A));
        errorString = fn(lib, "MPI_Error_string", FunctionDescriptor.of(I, I, A, A));
        libraryVersion = fn(lib, "MPI_Get_library_version", FunctionDescriptor.of(I, A, A));
    }

    private static volatile MpiLibrary loaded;

    /** The library, loaded on first use; a DistException in one line naming what is missing. */
    static synchronized MpiLibrary get() {
        if (loaded != null) return loaded;
        String forced = System.getProperty("kiln.mpi.lib", System.getenv("KILN_MPI_LIB"));
        String[] candidates = forced != null ? new String[]{forced} : new String[]{"libmpi.so.40", "libmpi.so"};
        IllegalArgumentException last = null;
        for (String c : candidates) {
            try {
                loaded = new MpiLibrary(c, SymbolLookup.libraryLookup(c, Arena.global()));
                return loaded;
            } catch (IllegalArgumentException e) {
                last = e;
            }
        }
        throw new DistException("mpi: cannot load " + String.join(" or ", candidates) + " (" + (last == null ? "?" : last.getMessage())
                + "); install Open MPI (Debian: apt install openmpi-bin libopenmpi-dev) or set KILN_MPI_LIB");
    }

    /** The MPI datatype of a Kiln dtype (float32, float64, int32, int64). */
    MemorySegment datatype(DType t) {
        return switch (t) {
            case F32 -> f32;
            case F64 -> f64;
            case I32 -> i32;
            case I64 -> i64;
            default -> throw new IllegalArgumentException("mpi: dtype " + t.pyName() + " is not supported (float32, float64, int32, int64)");
        };
    }

    /** MPI's text for an error code. */
    String error(int code) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(512), len = a.allocate(4);
            int rc = (int) errorString.invokeExact(code, buf, len);
            return rc == 0 ? buf.getString(0, StandardCharsets.US_ASCII) : "MPI error " + code;
        } catch (Throwable t) {
            return "MPI error " + code;
        }
    }

    /** MPI_Get_library_version's first line, e.g. "Open MPI v4.1.4, ...". */
    String version() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(8192), len = a.allocate(4);
            int rc = (int) libraryVersion.invokeExact(buf, len);
            if (rc != 0) return "MPI (version unknown)";
            String v = buf.getString(0, StandardCharsets.US_ASCII);
            int cut = v.indexOf(',');
            return (cut > 0 ? v.substring(0, cut) : v).trim();
        } catch (Throwable t) {
            return "MPI (version unknown)";
        }
    }

    private static MemorySegment sym(SymbolLookup lib, String name) {
        return lib.find(name).orElseThrow(() -> new DistException("mpi: the library lacks " + name));
    }

    private static MethodHandle fn(SymbolLookup lib, String name, FunctionDescriptor fd) {
        return Linker.nativeLinker().downcallHandle(sym(lib, name), fd);
    }
}
