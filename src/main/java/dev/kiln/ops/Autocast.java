package dev.kiln.ops;

/**
 * Per-thread mixed precision, PyTorch's {@code torch.autocast(dtype=torch.bfloat16)} for the CPU:
 * inside {@code try (var a = Autocast.bf16()) {...}} the matrix products of {@link Linear#linear}
 * (forward, and the backward of products recorded there) round both operands to bf16 and sum in
 * f32, where the backend has such a kernel ({@link dev.kiln.backend.Backend#gemmBf16(boolean,
 * boolean, Tensor, Tensor, Tensor)}); everything else, the parameters and their gradients stay f32
 * (f32 master weights). Each operand keeps 8 significant bits: a training run's loss curve stays
 * close to f32's, not equal to it.
 */
public final class Autocast {
    private Autocast() {}

    private static final ThreadLocal<boolean[]> BF16 = ThreadLocal.withInitial(() -> new boolean[]{false});

    /** Whether Linear products on this thread run in bf16 now. */
    public static boolean isBf16() { return BF16.get()[0]; }

    /** A scope in which Linear products run in bf16 (where the backend can); restores the previous mode on close. */
    public static Guard bf16() { return set(true); }

    /** A scope in f32 (inside a bf16 block). */
    public static Guard f32() { return set(false); }

    private static Guard set(boolean on) {
        boolean[] cell = BF16.get();
        boolean prev = cell[0];
        cell[0] = on;
        return () -> cell[0] = prev;
    }

    /** Restores the previous mode. */
    public interface Guard extends AutoCloseable {
        @Override void close();
    }
}
