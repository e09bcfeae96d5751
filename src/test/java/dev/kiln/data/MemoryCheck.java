package dev.kiln.data;

import dev.kiln.tensor.Storage;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Leak checks on {@link Storage#liveBytes()}. The count is process-wide and the Cleaner may free
 * storage that other tests dropped while a test runs, so the check is "no growth", not equality.
 */
public final class MemoryCheck {
    private MemoryCheck() {}

    public static void assertNoGrowth(long before, String what) {
        long now = Storage.liveBytes();
        assertTrue(now <= before, what + ": live host memory grew from " + before + " to " + now + " bytes");
    }
}
