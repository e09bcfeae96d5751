package dev.kiln.bench.generate;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import dev.kiln.backend.cpu.CpuConfig;
import dev.kiln.generate.BpeTokenizer;
import dev.kiln.generate.TextGenerator;
import dev.kiln.generate.OnnxDecoder;
import dev.kiln.generate.Sampler;
import dev.kiln.onnx.OnnxExecutor;

import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Greedy decoding speed of one ONNX decoder with past key/values (optimum names) in Kiln's
 * {@link TextGenerator} and in ONNX Runtime Java driven by the same loop (prefill with an empty cache,
 * then one token per step, presents fed back as pasts, argmax of the last logits), interleaved
 * round by round in one process with the same threads. Prints per round the prefill and decode
 * tokens/s of each, then the medians and whether the ids agree.
 *
 * <pre>
 *   DecodeBench MODEL.onnx TOKENIZER.json --prompt TEXT [--new-tokens 64] [--rounds 5] [--warmup-rounds 2] [--threads 2]
 *               [--kiln-hf HF_DIR]   (Kiln on its own GPT-2 layers from the same weights in Hugging Face layout)
 *               [--weights f32|bf16|int8|int4]   (with --kiln-hf: the native decoder's weight format)
 *   MODEL '-' (with --kiln-hf): Kiln alone, for checkpoints without an ONNX export (e.g. the 1.1B Llama)
 * </pre>
 */
public final class DecodeBench {
    public static void main(String[] args) throws Exception {
        Path model = Path.of(args[0]), tokFile = Path.of(args[1]);
        String prompt = "The quick brown fox";
        int newTokens = 64, rounds = 5, warmupRounds = 2, threads = CpuConfig.threads();
        Path hf = null;
        dev.kiln.generate.WeightFormat weights = dev.kiln.generate.WeightFormat.F32;
        for (int i = 2; i < args.length; i++) {
            switch (args[i]) {
                case "--prompt" -> prompt = args[++i];
                case "--new-tokens" -> newTokens = Integer.parseInt(args[++i]);
                case "--rounds" -> rounds = Integer.parseInt(args[++i]);
                case "--warmup-rounds" -> warmupRounds = Integer.parseInt(args[++i]);
                case "--kiln-hf" -> hf = Path.of(args[++i]);
                case "--weights" -> weights = dev.kiln.generate.WeightFormat.parse("--weights", args[++i]);
                case "--threads" -> threads = Integer.parseInt(args[++i]);
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        CpuConfig.setThreads(threads);
        BpeTokenizer tok = BpeTokenizer.fromTokenizerJson(tokFile);
        int[] ids = tok.encode(prompt);
        System.out.printf(Locale.ROOT, "%s: prompt %d tokens, %d new tokens, %d threads, %d rounds (Kiln then ORT, alternating)%n",
                model.getFileName(), ids.length, newTokens, threads, rounds);
        List<Double> kDecode = new ArrayList<>(), oDecode = new ArrayList<>(), kPrefill = new ArrayList<>(), oPrefill = new ArrayList<>();
        int[] kIds = null, oIds = null;
        // Kiln runs the ONNX file, or with --kiln-hf DIR the same weights from a Hugging Face directory on its own GPT-2 layers
        boolean withOrt = !model.toString().equals("-");
        try (dev.kiln.generate.Decoder d = hf != null ? dev.kiln.generate.Decoder.huggingFace(hf, weights) : OnnxDecoder.open(model, OnnxExecutor.Precision.F32, 0);
             OrtLoop ort = withOrt ? new OrtLoop(model, threads) : null) {
            System.out.println("kiln runs " + (hf != null ? "its native decoder on " + hf + ", weights " + weights : "the ONNX file")
                    + (withOrt ? "" : "; no ONNX Runtime peer (MODEL '-')"));
            TextGenerator g = new TextGenerator(d, tok);
            for (int r = 0; r < warmupRounds; r++) {   // JIT warm-up (Kiln) and allocator warm-up (both), not counted
                g.generate(ids, new TextGenerator.Options(newTokens, Set.of(), List.of()), Sampler.greedy(), null, null);
                if (withOrt) ort.generate(ids, newTokens);
            }
            for (int r = 0; r < rounds; r++) {
                TextGenerator.Result kr = g.generate(ids, new TextGenerator.Options(newTokens, Set.of(), List.of()), Sampler.greedy(), null, null);
                double[] or = withOrt ? ort.generate(ids, newTokens) : new double[] {Double.NaN, Double.NaN};
                kIds = kr.ids();
                oIds = withOrt ? ort.lastIds : null;
                kPrefill.add(kr.prefillTokensPerSecond());
                kDecode.add(kr.decodeTokensPerSecond());
                oPrefill.add(or[0]);
                oDecode.add(or[1]);
                System.out.printf(Locale.ROOT, "round %d: kiln prefill %.1f tok/s decode %.1f tok/s | ort prefill %.1f tok/s decode %.1f tok/s%n",
                        r, kr.prefillTokensPerSecond(), kr.decodeTokensPerSecond(), or[0], or[1]);
            }
        }
        double kd = median(kDecode), od = median(oDecode);
        System.out.printf(Locale.ROOT, "median decode tokens/s: kiln %.1f, onnxruntime %.1f, kiln/ort %.2f (higher is better for Kiln)%n", kd, od, kd / od);
        System.out.printf(Locale.ROOT, "median prefill tokens/s: kiln %.1f, onnxruntime %.1f%n", median(kPrefill), median(oPrefill));
        if (withOrt) System.out.println("ids equal: " + Arrays.equals(kIds, oIds) + (Arrays.equals(kIds, oIds) ? "" : " kiln " + Arrays.toString(kIds) + " ort " + Arrays.toString(oIds)));
        else System.out.println("kiln ids " + Arrays.toString(kIds));
    }

    static double median(List<Double> v) {
        double[] s = v.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        return s[s.length / 2];
    }

    /** ONNX Runtime driven by the same greedy loop. */
    static final class OrtLoop implements AutoCloseable {
        private final OrtEnvironment env = OrtEnvironment.getEnvironment();
        private final OrtSession session;
        private final List<String> pastNames = new ArrayList<>();
        private final Map<String, long[]> pastShapes = new HashMap<>();
        int[] lastIds;

        OrtLoop(Path model, int threads) throws OrtException {
            try (OrtSession.SessionOptions o = new OrtSession.SessionOptions()) {
                o.setIntraOpNumThreads(threads);
                o.setInterOpNumThreads(1);
                o.addConfigEntry("session.intra_op.allow_spinning", "0");
                o.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
                session = env.createSession(model.toString(), o);
            }
            for (var e : session.getInputInfo().entrySet())
                if (e.getKey().startsWith("past_key_values.")) {
                    pastNames.add(e.getKey());
                    pastShapes.put(e.getKey(), ((TensorInfo) e.getValue().getInfo()).getShape());
                }
        }

        /** Greedy generation; returns {prefill tokens/s, decode tokens/s}. */
        double[] generate(int[] prompt, int newTokens) throws OrtException {
            Map<String, OnnxTensor> past = new HashMap<>();
            List<OnnxTensor> empty = new ArrayList<>();
            for (String n : pastNames) {
                long[] s = pastShapes.get(n);
                OnnxTensor t = OnnxTensor.createTensor(env, FloatBuffer.allocate(0), new long[] {1, s[1], 0, s[3]});
                empty.add(t);
                past.put(n, t);
            }
            List<OrtSession.Result> held = new ArrayList<>();
            int[] out = new int[newTokens];
            int length = 0;
            double prefillMs = 0, decodeMs = 0;
            long[] step = Arrays.stream(prompt).asLongStream().toArray();
            try {
                for (int k = 0; k < newTokens; k++) {
                    long t0 = System.nanoTime();
                    Map<String, OnnxTensor> in = new HashMap<>(past);
                    OnnxTensor idsT = OnnxTensor.createTensor(env, LongBuffer.wrap(step), new long[] {1, step.length});
                    long[] mask = new long[length + step.length];
                    Arrays.fill(mask, 1);
                    OnnxTensor maskT = OnnxTensor.createTensor(env, LongBuffer.wrap(mask), new long[] {1, mask.length});
                    in.put("input_ids", idsT);
                    in.put("attention_mask", maskT);
                    OrtSession.Result r = session.run(in);
                    idsT.close();
                    maskT.close();
                    OnnxTensor logits = (OnnxTensor) r.get("logits").orElseThrow();
                    long[] ls = logits.getInfo().getShape();
                    FloatBuffer fb = logits.getFloatBuffer();
                    int vocab = (int) ls[2], base = (int) ((ls[1] - 1) * vocab);
                    int best = 0;
                    for (int v = 1; v < vocab; v++) if (fb.get(base + v) > fb.get(base + best)) best = v;
                    out[k] = best;
                    for (String n : pastNames) past.put(n, (OnnxTensor) r.get(n.replace("past_key_values.", "present.")).orElseThrow());
                    for (OrtSession.Result old : held) old.close();
                    held.clear();
                    held.add(r);
                    length += step.length;
                    double ms = (System.nanoTime() - t0) / 1e6;
                    if (k == 0) prefillMs = ms;
                    else decodeMs += ms;
                    step = new long[] {best};
                }
            } finally {
                for (OrtSession.Result old : held) old.close();
                for (OnnxTensor t : empty) t.close();
            }
            lastIds = out;
            return new double[] {prompt.length / (prefillMs / 1000), (newTokens - 1) / (decodeMs / 1000)};
        }

        @Override
        public void close() throws OrtException { session.close(); }
    }
}
