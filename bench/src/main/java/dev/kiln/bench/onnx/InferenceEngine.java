package dev.kiln.bench.onnx;

/**
 * One side of the ONNX inference comparison: a loaded model with a single float input and a
 * single float output, run on a row-major buffer. Both sides include the copy of the input in
 * and of the output out, so the comparison is end to end.
 */
interface InferenceEngine extends AutoCloseable {
    String name();

    /** The model's input shape; symbolic dims (e.g. "batch") are -1. */
    long[] inputShape();

    /** Runs the model once; returns the output values, row-major. */
    float[] run(float[] input, long[] shape) throws Exception;

    @Override
    void close() throws Exception;
}
