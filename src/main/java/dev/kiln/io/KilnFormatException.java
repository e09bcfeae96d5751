package dev.kiln.io;

import java.io.IOException;

/**
 * A file Kiln cannot read: corrupt, truncated, or using a feature Kiln does not support. The
 * message always starts with the file (or archive member) name, e.g.
 * {@code "w.npy: truncated data: expected 4000 bytes, found 12"}.
 */
public class KilnFormatException extends IOException {
    public KilnFormatException(String message) { super(message); }

    public KilnFormatException(String message, Throwable cause) { super(message, cause); }
}
