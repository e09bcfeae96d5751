package dev.kiln.lab;

/**
 * Outcome of checking a variant against the float64 reference on every test size of its op.
 *
 * @param maxError largest |got - ref| over all sizes (NaN when an output was NaN or missing)
 * @param passed   every element within atol + rtol * |ref|
 * @param failure  null when passed, else the first failing size and why (one line)
 */
public record Validation(double maxError, boolean passed, String failure) {}
