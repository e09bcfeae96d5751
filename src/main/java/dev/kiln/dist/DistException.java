package dev.kiln.dist;

/** A collective, rendezvous or worker failure: timeout, lost peer, mismatched tensors. */
public final class DistException extends RuntimeException {
    public DistException(String message) { super(message); }

    public DistException(String message, Throwable cause) { super(message, cause); }
}
