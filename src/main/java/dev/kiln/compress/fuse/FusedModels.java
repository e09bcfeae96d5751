package dev.kiln.compress.fuse;

import dev.kiln.io.Safetensors;
import dev.kiln.io.SafetensorsFile;
import dev.kiln.nn.Activation;
import dev.kiln.nn.Module;
import dev.kiln.nn.Pool2d;
import dev.kiln.nn.Sequential;
import dev.kiln.ops.Conv2dParams;
import dev.kiln.ops.Pool2dParams;
import dev.kiln.tensor.Tensor;
import dev.kiln.train.Checkpoint;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Saving and loading fused models. A fused model is not one of the named architectures of
 * {@link dev.kiln.train.Models}, so its checkpoint carries its architecture as text in the
 * metadata: "model" = "fused", "architecture" = one entry per layer, separated by "; ", e.g.
 * <pre>
 *   conv w=16x1x3x3 stride=1x1 pad=1x1 dil=1x1 groups=1 act=relu; pool max k=2x2 stride=2x2 pad=0x0 ceil=false incl=true;
 *   act Flatten; linear w=128x1568 act=relu; linear w=10x128 act=none
 * </pre>
 * {@link #build} makes the layers (zero weights) from that text and {@link Checkpoint#load} fills
 * them; parameter names ("0.weight", "0.bias", ...) follow from the layer order.
 */
public final class FusedModels {
    private FusedModels() {}

    public static final String MODEL_NAME = "fused";

    /** Writes model (a fused Sequential) with its architecture and the extra metadata. */
    public static void save(Path file, Sequential model, Map<String, String> extra) {
        LinkedHashMap<String, String> meta = new LinkedHashMap<>(extra);
        meta.put("model", MODEL_NAME);
        meta.put("architecture", describe(model));
        Checkpoint.save(file, model, null, meta);
    }

    /** Reads a checkpoint written by {@link #save}; the model is in eval mode. */
    public static Sequential load(Path file) {
        String arch;
        try (SafetensorsFile f = Safetensors.map(file)) {
            Map<String, String> meta = f.metadata();
            if (!MODEL_NAME.equals(meta.get("model")) || meta.get("architecture") == null)
                throw new IllegalArgumentException(file + ": not a fused model (metadata model=" + meta.get("model") + ")");
            arch = meta.get("architecture");
        }
        Sequential m = build(arch);
        try {
            Checkpoint.load(file, m, null);
        } catch (RuntimeException e) {
            m.close();
            throw e;
        }
        m.eval();
        return m;
    }

    /** The architecture text of a fused model (see the class comment). */
    public static String describe(Sequential model) {
        List<String> parts = new ArrayList<>();
        for (Module m : model.layers()) parts.add(describe(m));
        return String.join("; ", parts);
    }

    private static String describe(Module m) {
        return switch (m) {
            case FusedLinear f -> "linear w=" + dims(f.weight().shape()) + " act=" + f.epilogue().id();
            case FusedConv2d f -> {
                Conv2dParams p = f.params();
                yield "conv w=" + dims(f.weight().shape()) + " stride=" + p.strideH() + "x" + p.strideW() + " pad=" + p.padH() + "x" + p.padW()
                        + " dil=" + p.dilationH() + "x" + p.dilationW() + " groups=" + p.groups() + " act=" + f.epilogue().id();
            }
            case ChannelAffine a -> "affine c=" + a.channels() + " act=" + a.epilogue().id();
            case Pool2d p when p.adaptiveOutput() != null -> "pool adaptive out=" + dims(p.adaptiveOutput());
            case Pool2d p -> {
                Pool2dParams q = p.params();
                yield "pool " + (p.isMax() ? "max" : "avg") + " k=" + q.kernelH() + "x" + q.kernelW() + " stride=" + q.strideH() + "x" + q.strideW()
                        + " pad=" + q.padH() + "x" + q.padW() + " ceil=" + q.ceilMode() + " incl=" + q.countIncludePad();
            }
            case Activation a -> "act " + a.kind();
            default -> throw new IllegalArgumentException("fused model: cannot describe layer " + m.getClass().getSimpleName());
        };
    }

    /** Builds the layers of an architecture text, with zero weights. */
    public static Sequential build(String architecture) {
        Sequential s = new Sequential();
        for (String part : architecture.split(";")) {
            String p = part.strip();
            if (!p.isEmpty()) s.add(layer(p));
        }
        s.eval();
        return s;
    }

    private static Module layer(String text) {
        String[] tok = text.split("\\s+");
        Map<String, String> kv = new LinkedHashMap<>();
        for (int i = 1; i < tok.length; i++) {
            int eq = tok[i].indexOf('=');
            if (eq > 0) kv.put(tok[i].substring(0, eq), tok[i].substring(eq + 1));
        }
        try {
            return switch (tok[0]) {
                case "linear" -> {
                    int[] w = ints(kv, "w");
                    yield new FusedLinear(Tensor.zeros(w), Tensor.zeros(w[0]), Epilogue.byId(kv.get("act")));
                }
                case "conv" -> {
                    int[] w = ints(kv, "w"), st = ints(kv, "stride"), pad = ints(kv, "pad"), dil = ints(kv, "dil");
                    Conv2dParams p = new Conv2dParams(st[0], st[1], pad[0], pad[1], dil[0], dil[1], Integer.parseInt(kv.get("groups")));
                    yield new FusedConv2d(Tensor.zeros(w), Tensor.zeros(w[0]), p, Epilogue.byId(kv.get("act")));
                }
                case "affine" -> {
                    int c = Integer.parseInt(kv.get("c"));
                    yield new ChannelAffine(Tensor.zeros(c), Tensor.zeros(c), Epilogue.byId(kv.get("act")));
                }
                case "pool" -> pool(tok[1], kv);
                case "act" -> activation(text.substring(3).strip());
                default -> throw new IllegalArgumentException("unknown layer kind '" + tok[0] + "'");
            };
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("fused model: bad layer '" + text + "': " + e.getMessage(), e);
        }
    }

    private static Module pool(String kind, Map<String, String> kv) {
        if (kind.equals("adaptive")) {
            int[] o = ints(kv, "out");
            return Pool2d.adaptiveAvg(o[0], o[1]);
        }
        int[] k = ints(kv, "k"), st = ints(kv, "stride"), pad = ints(kv, "pad");
        Pool2dParams p = new Pool2dParams(k[0], k[1], st[0], st[1], pad[0], pad[1],
                Boolean.parseBoolean(kv.get("ceil")), Boolean.parseBoolean(kv.get("incl")));
        return Pool2d.of(p, kind.equals("max"));
    }

    private static Module activation(String kind) {
        return switch (kind) {
            case "Flatten" -> Activation.flatten();
            case "Identity" -> Activation.identity();
            case "ReLU" -> Activation.relu();
            case "GELU" -> Activation.gelu();
            case "GELU(tanh)" -> Activation.gelu("tanh");
            case "SiLU" -> Activation.silu();
            case "Tanh" -> Activation.tanh();
            case "Sigmoid" -> Activation.sigmoid();
            default -> {
                java.util.regex.Matcher m = java.util.regex.Pattern.compile("(Log)?Softmax\\(dim=(-?\\d+)\\)").matcher(kind);
                if (!m.matches()) throw new IllegalArgumentException("unknown activation '" + kind + "'");
                int dim = Integer.parseInt(m.group(2));
                yield m.group(1) != null ? Activation.logSoftmax(dim) : Activation.softmax(dim);
            }
        };
    }

    private static String dims(int[] d) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < d.length; i++) sb.append(i > 0 ? "x" : "").append(d[i]);
        return sb.toString();
    }

    private static int[] ints(Map<String, String> kv, String key) {
        String v = kv.get(key);
        if (v == null) throw new IllegalArgumentException("missing " + key + "=");
        String[] p = v.split("x");
        int[] out = new int[p.length];
        for (int i = 0; i < p.length; i++) out[i] = Integer.parseInt(p[i]);
        return out;
    }

    /** Bytes of every parameter and buffer (the in-memory and on-disk weight size). */
    public static long bytes(Module m) {
        long n = 0;
        for (Tensor t : m.stateDict().values()) n += t.numel() * t.dtype().byteSize();
        return n;
    }

}
