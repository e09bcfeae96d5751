package dev.kiln.generate;

import dev.kiln.io.KilnFormatException;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Tensor;
import dev.kiln.torchscript.TorchScriptModel;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A decoder saved as TorchScript (torch.jit.trace or script), run by Kiln's TorchScript interpreter,
 * that takes its cache as tensors and returns the new one:
 * <pre>
 * forward(input_ids [1, T] int64, [attention_mask [1, P + T] int64,] past_0, ..., past_{2L-1})
 *     -> (logits [1, T, V], present_0, ..., present_{2L-1})      past/present [1, kv heads, P, head size]
 * </pre>
 * (key then value per layer; the attention mask is passed when forward's second parameter is named
 * attention_mask or the forward takes 2 + 2L inputs). The sizes come from the config next to the
 * file ({@link ModelConfig}: layers, key/value heads, head size or width / heads); the first step
 * runs with empty (P = 0) past tensors. Each step hands the returned presents back as the next
 * past, so the model's own concatenation grows the cache (a copy of it per step, unlike the ONNX
 * and native decoders' in-place caches).
 */
public final class TorchScriptDecoder implements Decoder {
    private final TorchScriptModel model;
    private final int layers, kvHeads, headDim, ctx;
    private final boolean mask;
    private final Path file;

    private TorchScriptDecoder(Path file, TorchScriptModel model, ModelConfig cfg) {
        this.file = file;
        this.model = model;
        String where = cfg.source() == null ? file + ": no " + file.getFileName().toString().replaceFirst("\\.[A-Za-z0-9]+$", "")
                + "_config.json or config.json next to it" : cfg.source().toString();
        layers = cfg.intOf("n_layer", "num_hidden_layers");
        int heads = cfg.intOf("n_head", "num_attention_heads"), width = cfg.intOf("n_embd", "hidden_size");
        kvHeads = cfg.intOf("num_key_value_heads") > 0 ? cfg.intOf("num_key_value_heads") : heads;
        headDim = cfg.intOf("head_dim") > 0 ? cfg.intOf("head_dim") : heads > 0 ? width / heads : 0;
        ctx = cfg.contextLength();
        if (layers == 0 || kvHeads == 0 || headDim == 0)
            throw new IllegalArgumentException(where + ": needs the layer count, heads and width (n_layer/n_head/n_embd or num_hidden_layers/num_attention_heads/hidden_size)");
        List<String> args = model.forwardArgumentNames();
        mask = args.size() == 2 + 2 * layers;                     // the mask, named or not, is the second input
        boolean namedMask = args.size() > 1 && args.get(1).equals("attention_mask");
        if (!mask && (args.size() != 1 + 2 * layers || namedMask))
            throw new IllegalArgumentException(file + ": forward takes " + args.size() + " inputs " + args + "; a decoder with " + layers
                    + " layers takes input_ids, an optional attention_mask and " + 2 * layers + " past tensors");
    }

    /** Loads a TorchScript decoder file and the config next to it. */
    public static TorchScriptDecoder open(Path file) throws IOException {
        ModelConfig cfg = ModelConfig.near(file);
        TorchScriptModel m;
        try {
            m = TorchScriptModel.load(file);
        } catch (KilnFormatException e) {
            throw new IllegalArgumentException(e.getMessage(), e);
        }
        try {
            return new TorchScriptDecoder(file, m, cfg);
        } catch (RuntimeException e) {
            m.close();
            throw e;
        }
    }

    @Override public int contextLength() { return ctx; }

    @Override public int layers() { return layers; }

    @Override public Session newSession() { return new TsSession(); }

    @Override public void close() { model.close(); }

    private final class TsSession implements Session {
        private final List<Tensor> past = new ArrayList<>();
        private int length;

        TsSession() {
            for (int i = 0; i < 2 * layers; i++) past.add(Tensor.zeros(DType.F32, 1, kvHeads, 0, headDim));
        }

        @Override public int length() { return length; }

        @Override
        public float[] step(int[] ids) {
            int n = ids.length, total = length + n;
            if (n == 0) throw new IllegalArgumentException("a step needs at least one token");
            if (ctx > 0 && total > ctx) throw new IllegalArgumentException("the sequence would hold " + total + " tokens; the context holds " + ctx);
            long[] lid = new long[n], ones = new long[total];
            for (int i = 0; i < n; i++) lid[i] = ids[i];
            java.util.Arrays.fill(ones, 1);
            List<Object> in = new ArrayList<>();
            Tensor idsT = Tensor.fromArray(lid, 1, n), maskT = mask ? Tensor.fromArray(ones, 1, total) : null;
            in.add(idsT);
            if (maskT != null) in.add(maskT);
            in.addAll(past);
            List<Object> out;
            try {
                out = model.forward(in.toArray());
            } finally {
                idsT.close();
                if (maskT != null) maskT.close();
            }
            if (out.size() != 1 + 2 * layers || !(out.get(0) instanceof Tensor logits) || logits.dim() != 3 || logits.size(1) != n)
                throw new IllegalStateException(file + ": forward returned " + out.size() + " values; expected logits [1, " + n + ", vocab] and "
                        + 2 * layers + " present tensors");
            float[] last;
            try (Tensor row = logits.narrow(1, n - 1, 1)) {
                last = row.toFloatArray();
            }
            logits.close();
            past.forEach(Tensor::close);
            past.clear();
            for (int i = 1; i < out.size(); i++) {
                if (!(out.get(i) instanceof Tensor t) || t.dim() != 4 || t.size(2) != total)
                    throw new IllegalStateException(file + ": present " + (i - 1) + " is not a [1, heads, " + total + ", head size] tensor");
                past.add(t);
            }
            length = total;
            return last;
        }

        @Override public void close() { past.forEach(Tensor::close); }
    }
}
