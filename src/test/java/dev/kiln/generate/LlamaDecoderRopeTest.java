package dev.kiln.generate;

import dev.kiln.io.Json;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Rotary frequencies per rope_scaling against transformers' formulas run in torch (testdata/decoder/llama_rope_inv_freq.json). */
class LlamaDecoderRopeTest {
    @Test
    @SuppressWarnings("unchecked")
    void invFreqEqualsTransformers() throws Exception {
        Path golden = Path.of("testdata/decoder/llama_rope_inv_freq.json");
        Map<String, Object> root = (Map<String, Object>) Json.parse(Files.readString(golden), golden.toString());
        List<Map<String, Object>> cases = (List<Map<String, Object>>) root.get("cases");
        assertEquals(9, cases.size());
        for (Map<String, Object> c : cases) {
            double theta = ((Number) c.get("theta")).doubleValue();
            int hd = ((Number) c.get("head_dim")).intValue();
            RopeScaling r = RopeScaling.of(c.get("rope_scaling"), golden.toString());
            float[] got = RopeScaling.invFreq(theta, hd, r);
            List<Object> want = (List<Object>) c.get("inv_freq");
            assertEquals(want.size(), got.length);
            for (int i = 0; i < got.length; i++) {
                double w = ((Number) want.get(i)).doubleValue();
                assertEquals(w, got[i], 2e-7 * Math.abs(w), "theta " + theta + " hd " + hd + " " + c.get("rope_scaling") + " i " + i);
            }
        }
    }

    @Test
    void unsupportedKindsAreOneLineErrors() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> RopeScaling.of(Map.of("rope_type", "yarn", "factor", 4.0), "m/config.json"));
        assertTrue(e.getMessage().contains("m/config.json: rope_scaling type yarn is not supported (default, linear, llama3)"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> RopeScaling.of(Map.of("type", "llama3", "factor", 8.0), "c.json"));
        assertTrue(e.getMessage().contains("rope_scaling.low_freq_factor must be a positive number"), e.getMessage());
        assertEquals(null, RopeScaling.of(Map.of("rope_type", "default"), "c.json"));
        assertEquals("linear", RopeScaling.of(Map.of("type", "linear", "factor", 2.0), "c.json").type());
    }
}
