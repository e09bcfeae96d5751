package dev.kiln.generate;

import java.util.Locale;

/**
 * How a native decoder ({@link Gpt2Decoder}) holds its linear layers' weights for decode steps:
 * float32; bf16 products with f32 sums; or weight-only int8 / int4 (symmetric, one scale per 32
 * inputs of each output, activations quantized to int8 per 32 in the products: the arithmetic of
 * ONNX MatMulNBits at accuracy_level 4, on {@link dev.kiln.backend.cpu.NBitsVnni}).
 */
public enum WeightFormat {
    F32, BF16, INT8, INT4;

    /** Bits per quantized weight (8 or 4), or 0 for the float formats. */
    public int bits() { return this == INT8 ? 8 : this == INT4 ? 4 : 0; }

    /** "f32", "bf16", "int8" or "int4" (any case); else an error listing them. */
    public static WeightFormat parse(String option, String text) {
        for (WeightFormat f : values()) if (f.name().equalsIgnoreCase(text)) return f;
        throw new IllegalArgumentException(option + " takes f32, bf16, int8 or int4, got '" + text + "'");
    }

    @Override public String toString() { return name().toLowerCase(Locale.ROOT); }
}
