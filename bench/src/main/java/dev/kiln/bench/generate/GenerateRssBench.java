package dev.kiln.bench.generate;

import dev.kiln.generate.BpeTokenizer;
import dev.kiln.generate.Decoder;
import dev.kiln.generate.Sampler;
import dev.kiln.generate.TextGenerator;
import dev.kiln.generate.WeightFormat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * Resident memory while generating: a Hugging Face directory's native decoder samples N tokens
 * (seeded, after the fixture prompt "The quick brown fox") and VmRSS is read every N/10 tokens; a
 * cache allocated once per session and temporaries freed per step keep it flat.
 * <pre>
 *   GenerateRssBench HF_DIR [f32|bf16|int8|int4] [N=1000]
 * </pre>
 */
public final class GenerateRssBench {
    static long rssMb() throws java.io.IOException {
        for (String l : Files.readAllLines(Path.of("/proc/self/status"))) if (l.startsWith("VmRSS:")) return Long.parseLong(l.replaceAll("[^0-9]", "")) / 1024;
        return -1;
    }

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        WeightFormat format = args.length > 1 ? WeightFormat.parse("format", args[1]) : WeightFormat.F32;
        int n = args.length > 2 ? Integer.parseInt(args[2]) : 1000, every = Math.max(1, n / 10);
        BpeTokenizer tok = BpeTokenizer.fromPath(dir);
        try (Decoder d = Decoder.huggingFace(dir, format)) {
            long[] rss = new long[n / every + 1];
            int[] count = {0};
            long t0 = System.nanoTime();
            TextGenerator.Result r = new TextGenerator(d, tok).generate(tok.encode("The quick brown fox"), new TextGenerator.Options(n, Set.of(), List.of()),
                    Sampler.sampling(1f, 0, 1f, 1f, 7), (id, t) -> {
                        if (++count[0] % every == 0) {
                            try { rss[count[0] / every] = rssMb(); } catch (java.io.IOException e) { throw new java.io.UncheckedIOException(e); }
                        }
                        return true;
                    }, null);
            System.out.printf(Locale.ROOT, "%s %s: %d tokens in %.1f s (decode %.1f tok/s); VmRSS MB every %d tokens: %s; live storages %d%n",
                    dir.getFileName(), format, r.ids().length, (System.nanoTime() - t0) / 1e9, r.decodeTokensPerSecond(), every,
                    Arrays.toString(Arrays.copyOfRange(rss, 1, rss.length)), dev.kiln.tensor.Storage.liveCountIgnoringCleaner());
        }
    }
}
