package dev.kiln.io;

import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The GGUF reader on the tiny Llama fixtures: metadata, tensor infos and dequantization; and hostile
 * files (truncated anywhere, bytes flipped in the header, a bad magic): a one-line
 * KilnFormatException naming the file, or a file that parses (never another exception).
 */
class GgufTest {
    static final Path DIR = Path.of("testdata/decoder");

    @Test
    void readsTheFixtures() throws Exception {
        try (Gguf f = Gguf.open(DIR.resolve("llama_tiny_f32.gguf")); Gguf q8 = Gguf.open(DIR.resolve("llama_tiny_q8_0.gguf"));
             Gguf q4 = Gguf.open(DIR.resolve("llama_tiny_q4_0.gguf"))) {
            assertEquals("llama", f.metadata().get("general.architecture"));
            assertEquals(2L, f.metadata().get("llama.block_count"));
            assertArrayEquals(new int[] {557, 64}, f.info("token_embd.weight").shape());
            assertEquals(Gguf.F32, f.info("blk.0.attn_q.weight").type());
            assertEquals(Gguf.Q8_0, q8.info("blk.0.attn_q.weight").type());
            assertEquals(Gguf.Q4_0, q4.info("blk.0.ffn_up.weight").type());
            assertEquals(Gguf.F32, q4.info("blk.0.ffn_down.weight").type());   // 172 inputs: not whole blocks of 32, kept in float
            // dequantized blocks stay within a quantization step of the float weights
            for (Gguf q : new Gguf[] {q8, q4})
                for (String name : new String[] {"blk.0.attn_q.weight", "blk.1.ffn_up.weight", "output.weight"}) {
                    float[] a = f.f32(f.info(name)).toFloatArray(), b = q.f32(q.info(name)).toFloatArray();
                    double max = 0, err = 0;
                    for (int i = 0; i < a.length; i++) {
                        max = Math.max(max, Math.abs(a[i]));
                        err = Math.max(err, Math.abs(a[i] - b[i]));
                    }
                    assertTrue(err <= max / (q == q8 ? 127 : 7), name + ": " + err + " of " + max);
                }
            KilnFormatException e = assertThrows(KilnFormatException.class, () -> f.info("nope.weight"));
            assertTrue(e.getMessage().contains("no tensor nope.weight"), e.getMessage());
        }
    }

    @Test
    void hostileFilesAreOneLineErrors() throws Exception {
        byte[] good = Files.readAllBytes(DIR.resolve("llama_tiny_q4_0.gguf"));
        Path tmp = Files.createTempFile("kiln-gguf", ".gguf");
        try {
            Random r = new Random(9);
            int dataStart = 0;
            try (Gguf g = Gguf.open(DIR.resolve("llama_tiny_q4_0.gguf"))) {
                dataStart = (int) g.tensors().values().stream().mapToLong(Gguf.TensorInfo::offset).min().orElseThrow();
            }
            for (int trial = 0; trial < 300; trial++) {
                byte[] b;
                if (trial < 100) {
                    b = java.util.Arrays.copyOf(good, r.nextInt(good.length));             // truncated
                } else {
                    b = good.clone();                                                      // header bytes changed
                    for (int k = 0; k < 1 + r.nextInt(4); k++) b[r.nextInt(dataStart)] = (byte) r.nextInt(256);
                }
                Files.write(tmp, b);
                try (Gguf g = Gguf.open(tmp)) {
                    for (Gguf.TensorInfo t : g.tensors().values()) if (t.elements() < 1 << 20) g.f32(t).close();
                } catch (KilnFormatException e) {
                    assertTrue(e.getMessage().startsWith(tmp.toString()), e.getMessage());
                    assertFalse(e.getMessage().contains("\n"), e.getMessage());
                }
            }
            byte[] bad = good.clone();
            bad[0] = 'X';
            Files.write(tmp, bad);
            KilnFormatException e = assertThrows(KilnFormatException.class, () -> Gguf.open(tmp));
            assertTrue(e.getMessage().contains("not a GGUF file"), e.getMessage());
        } finally {
            Files.delete(tmp);
        }
    }
}
