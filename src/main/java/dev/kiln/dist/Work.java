package dev.kiln.dist;

/** Handle to a collective that runs in the background. */
public interface Work {

    /** Waits until the collective has finished on this rank; rethrows its failure as a DistException. */
    void await();

    /** True once the collective has finished (successfully or not). */
    boolean isCompleted();

    /** A handle to work that has already finished. */
    static Work done() {
        return new Work() {
            @Override public void await() {}
            @Override public boolean isCompleted() { return true; }
        };
    }
}
