package dev.kiln.lab;

/**
 * One row of a lab run: a variant's validation, and its timing at one size (seconds is NaN when
 * it was not timed, e.g. after failing validation).
 *
 * @param rate    GB/s or GFLOP/s (see unit)
 * @param ceiling the device's ceiling in the same unit
 */
public record LabResult(String op, String variant, String device, Validation validation, String size,
                        double seconds, double rate, String unit, double ceiling) {
    /** Rate as a percentage of the ceiling. */
    public double percentOfCeiling() { return 100.0 * rate / ceiling; }
}
