package dev.kiln.generate;

import java.util.Map;

/**
 * A Llama config's rope_scaling: how the rotary frequencies inv_freq[i] = 1 / theta^(2i / d) are
 * changed for a longer context, computed in float32 as transformers does
 * (modeling_rope_utils: _compute_linear_scaling_rope_parameters, _compute_llama3_parameters):
 * <ul>
 *   <li>"linear": every frequency divided by factor;</li>
 *   <li>"llama3" (Llama 3.1/3.2): wavelengths 2 pi / f longer than original / low_freq_factor are
 *       divided by factor, those shorter than original / high_freq_factor kept, those between
 *       blended with s = (original / wavelength - low) / (high - low): (1 - s) f / factor + s f.</li>
 * </ul>
 * "default" (or no rope_scaling) leaves them; other kinds (dynamic, yarn, longrope) are refused in
 * one line naming the file. LlamaDecoderRopeTest checks against transformers' formulas in torch.
 */
record RopeScaling(String type, double factor, double lowFreqFactor, double highFreqFactor, double originalContext) {
    /** From config.json's rope_scaling object (null or "default": none). */
    static RopeScaling of(Object config, String source) {
        if (config == null) return null;
        if (!(config instanceof Map<?, ?> m)) throw new IllegalArgumentException(source + ": rope_scaling is not an object");
        Object t = m.containsKey("rope_type") ? m.get("rope_type") : m.get("type");
        String type = String.valueOf(t);
        return switch (type) {
            case "default" -> null;
            case "linear" -> new RopeScaling(type, number(m, "factor", source), 0, 0, 0);
            case "llama3" -> {
                RopeScaling r = new RopeScaling(type, number(m, "factor", source), number(m, "low_freq_factor", source),
                        number(m, "high_freq_factor", source), number(m, "original_max_position_embeddings", source));
                if (!(r.highFreqFactor > r.lowFreqFactor)) throw new IllegalArgumentException(source + ": rope_scaling high_freq_factor must exceed low_freq_factor");
                yield r;
            }
            default -> throw new IllegalArgumentException(source + ": rope_scaling type " + type
                    + " is not supported (default, linear, llama3)");
        };
    }

    private static double number(Map<?, ?> m, String key, String source) {
        if (m.get(key) instanceof Number n && n.doubleValue() > 0) return n.doubleValue();
        throw new IllegalArgumentException(source + ": rope_scaling." + key + " must be a positive number, got " + m.get(key));
    }

    /** The hd / 2 rotary frequencies for base theta, scaled by r (null: none), in float32. */
    static float[] invFreq(double theta, int hd, RopeScaling r) {
        float[] inv = new float[hd / 2];
        for (int i = 0; i < inv.length; i++) inv[i] = 1.0f / (float) Math.pow(theta, (float) (2 * i) / hd);
        if (r == null) return inv;
        float factor = (float) r.factor;
        if (r.type.equals("linear")) {
            for (int i = 0; i < inv.length; i++) inv[i] /= factor;
            return inv;
        }
        float old = (float) r.originalContext, low = (float) r.lowFreqFactor, high = (float) r.highFreqFactor;
        float lowWavelen = old / low, highWavelen = old / high;
        for (int i = 0; i < inv.length; i++) {
            float f = inv[i], wavelen = (float) (2 * Math.PI) / f;
            float scaled = wavelen > lowWavelen ? f / factor : f;
            boolean medium = !(wavelen < highWavelen) && !(wavelen > lowWavelen);
            if (medium) {
                float smooth = (old / wavelen - low) / (high - low);
                scaled = (1 - smooth) * scaled / factor + smooth * scaled;
            }
            inv[i] = scaled;
        }
        return inv;
    }
}
