package dev.kiln.compress;

import dev.kiln.compress.fuse.ChannelAffine;
import dev.kiln.compress.fuse.Epilogue;
import dev.kiln.compress.fuse.FusedConv2d;
import dev.kiln.compress.fuse.FusedLinear;
import dev.kiln.compress.quant.QParams;
import dev.kiln.compress.quant.QuantizedConv2d;
import dev.kiln.compress.quant.QuantizedLinear;
import dev.kiln.nn.Activation;
import dev.kiln.nn.BatchNorm;
import dev.kiln.nn.Conv2d;
import dev.kiln.nn.Dropout;
import dev.kiln.nn.Linear;
import dev.kiln.nn.Module;
import dev.kiln.nn.Pool2d;
import dev.kiln.nn.Sequential;
import dev.kiln.ops.Conv2dParams;
import dev.kiln.ops.Pool2dParams;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A Sequential's layer structure as one line of text, kept in checkpoint metadata (see
 * {@link ModelCheckpoint}) so that a model which is not one of the named {@link dev.kiln.train.Models}
 * (structurally pruned, fused, ...) can be rebuilt before its weights are loaded. Layers are
 * separated by "; ", each a kind followed by key=value fields (sizes as HxW):
 * <pre>
 *   linear in=784 out=128 bias=true
 *   conv2d in=1 out=16 k=3x3 stride=1x1 pad=1x1 dil=1x1 groups=1 bias=true
 *   batchnorm c=16 dims=2 eps=1.0E-5 momentum=0.1
 *   act ReLU | act Flatten | act Softmax(dim=1) | act GELU(tanh) | ...
 *   pool max|avg k=2x2 stride=2x2 pad=0x0 ceil=false incl=true
 *   pool adaptive out=1x1
 *   dropout p=0.2
 *   fused_linear in=128 out=10 act=relu
 *   fused_conv2d in=1 out=16 k=3x3 stride=1x1 pad=1x1 dil=1x1 groups=1 act=relu
 *   affine c=16 act=none
 *   quantized_linear in=784 out=128 bias=true act=relu input=dynamic
 *   quantized_conv2d in=1 out=16 k=3x3 stride=1x1 pad=1x1 dil=1x1 groups=1 bias=true act=relu input_scale=0.0123 input_zero=-5 input_range=-128x127
 * </pre>
 * The fused kinds are {@link FusedLinear}, {@link FusedConv2d} and {@link ChannelAffine}; "act" of
 * a fused layer is an {@link Epilogue} id. The quantized kinds are {@link QuantizedLinear} and
 * {@link QuantizedConv2d}: "input" is either "dynamic" (per-batch activation ranges) or replaced by
 * the calibrated per-tensor input parameters input_scale (a float, written so that it reads back
 * exactly), input_zero and input_range (qmin x qmax); their int8 weights, per-channel scales and
 * bias are state tensors, and a loader must call their {@code reloadState()} after filling them
 * (as {@link ModelCheckpoint#load} does). {@link #build} makes the layers with freshly initialized
 * (plain) or zero (fused, quantized) weights; parameter names ("1.weight", ...) follow from the layer order.
 */
public final class Architecture {
    private Architecture() {}

    /** The architecture line of a Sequential of the layer kinds above. */
    public static String describe(Sequential model) {
        List<String> parts = new ArrayList<>();
        for (Module m : model.layers()) parts.add(describe(m));
        return String.join("; ", parts);
    }

    private static String describe(Module m) {
        return switch (m) {
            case Linear l -> "linear in=" + l.inFeatures + " out=" + l.outFeatures + " bias=" + (l.bias() != null);
            case Conv2d c -> "conv2d in=" + c.inChannels + " out=" + c.outChannels + " k=" + c.kernelH + "x" + c.kernelW + conv(c.params)
                    + " bias=" + (c.bias() != null);
            case BatchNorm b -> "batchnorm c=" + b.weight().size(0) + " dims=" + b.spatialDims() + " eps=" + b.eps() + " momentum=" + b.momentum();
            case Activation a -> "act " + a.kind();
            case Pool2d p when p.adaptiveOutput() != null -> "pool adaptive out=" + p.adaptiveOutput()[0] + "x" + p.adaptiveOutput()[1];
            case Pool2d p -> {
                Pool2dParams q = p.params();
                yield "pool " + (p.isMax() ? "max" : "avg") + " k=" + q.kernelH() + "x" + q.kernelW() + " stride=" + q.strideH() + "x" + q.strideW()
                        + " pad=" + q.padH() + "x" + q.padW() + " ceil=" + q.ceilMode() + " incl=" + q.countIncludePad();
            }
            case Dropout d -> "dropout p=" + d.p();
            case dev.kiln.compress.quant.AbsorbedPool a -> describe(a.pool());   // rebuilt as the pool; the planner takes it in again
            case FusedLinear f -> "fused_linear in=" + f.inFeatures() + " out=" + f.outFeatures() + " act=" + f.epilogue().id();
            case FusedConv2d f -> {
                int[] w = f.weight().shape();
                yield "fused_conv2d in=" + w[1] * f.params().groups() + " out=" + w[0] + " k=" + w[2] + "x" + w[3] + conv(f.params())
                        + " act=" + f.epilogue().id();
            }
            case ChannelAffine a -> "affine c=" + a.channels() + " act=" + a.epilogue().id();
            case QuantizedLinear q -> "quantized_linear in=" + q.inFeatures() + " out=" + q.outFeatures() + " bias=" + q.hasBias()
                    + " act=" + q.epilogue().id() + input(q.inputParams());
            case QuantizedConv2d q -> "quantized_conv2d in=" + q.inChannels() + " out=" + q.outChannels() + " k=" + q.kernelH() + "x" + q.kernelW()
                    + conv(q.params()) + " bias=" + q.hasBias() + " act=" + q.epilogue().id() + input(q.inputParams());
            default -> throw new IllegalArgumentException("architecture: cannot describe layer " + m.getClass().getSimpleName()
                    + " (supported: Linear, Conv2d, BatchNorm, Activation, Pool2d, Dropout, FusedLinear, FusedConv2d, ChannelAffine, QuantizedLinear, QuantizedConv2d)");
        };
    }

    private static String conv(Conv2dParams p) {
        return " stride=" + p.strideH() + "x" + p.strideW() + " pad=" + p.padH() + "x" + p.padW() + " dil=" + p.dilationH() + "x" + p.dilationW()
                + " groups=" + p.groups();
    }

    private static String input(QParams act) {
        if (act == null) return " input=dynamic";
        return " input_scale=" + act.scale0() + " input_zero=" + act.zero0() + " input_range=" + act.qmin() + "x" + act.qmax();
    }

    /**
     * Builds the Sequential an architecture line names (plain weights initialized from a fixed
     * seed, fused weights zero: a checkpoint load fills them).
     *
     * @throws IllegalArgumentException naming the first layer that cannot be read
     */
    public static Sequential build(String architecture) {
        Generator g = new Generator(0);
        Sequential s = new Sequential();
        try {
            for (String part : architecture.split(";")) {
                String text = part.strip();
                if (!text.isEmpty()) s.add(layer(text, g));
            }
        } catch (RuntimeException e) {
            s.close();
            throw e;
        }
        if (s.size() == 0) throw new IllegalArgumentException("architecture: no layers in '" + architecture + "'");
        return s;
    }

    private static Module layer(String text, Generator g) {
        String[] tok = text.split("\\s+");
        try {
            if (tok[0].equals("act")) return activation(text.substring(3).strip());
            Fields f = new Fields(tok, tok[0].equals("pool") ? 2 : 1);
            Module m = switch (tok[0]) {
                case "linear" -> new Linear(f.integer("in"), f.integer("out"), f.bool("bias"), g);
                case "conv2d" -> {
                    int in = f.integer("in"), out = f.integer("out");
                    int[] k = f.pair("k");
                    yield new Conv2d(in, out, k[0], k[1], convParams(f), f.bool("bias"), g);
                }
                case "batchnorm" -> BatchNorm.of(f.integer("c"), f.integer("dims"), f.real("eps"), f.real("momentum"));
                case "pool" -> pool(tok.length > 1 ? tok[1] : "", f);
                case "dropout" -> new Dropout(f.real("p"), g);
                case "fused_linear" -> {
                    int in = f.integer("in"), out = f.integer("out");
                    yield new FusedLinear(Tensor.zeros(out, in), Tensor.zeros(out), Epilogue.byId(f.text("act")));
                }
                case "fused_conv2d" -> fusedConv(f);
                case "quantized_linear" -> quantizedLinear(f);
                case "quantized_conv2d" -> quantizedConv(f);
                case "affine" -> {
                    int c = f.integer("c");
                    yield new ChannelAffine(Tensor.zeros(c), Tensor.zeros(c), Epilogue.byId(f.text("act")));
                }
                default -> throw new IllegalArgumentException("unknown layer kind '" + tok[0] + "'");
            };
            f.requireAllUsed();
            return m;
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("architecture: bad layer '" + text + "': " + e.getMessage(), e);
        }
    }

    private static Conv2dParams convParams(Fields f) {
        int[] st = f.pair("stride"), pad = f.pair("pad"), dil = f.pair("dil");
        return new Conv2dParams(st[0], st[1], pad[0], pad[1], dil[0], dil[1], f.integer("groups"));
    }

    private static Module fusedConv(Fields f) {
        int in = f.integer("in"), out = f.integer("out");
        int[] k = f.pair("k");
        Conv2dParams p = convParams(f);
        if (p.groups() <= 0 || in % p.groups() != 0) throw new IllegalArgumentException("in=" + in + " is not a multiple of groups=" + p.groups());
        return new FusedConv2d(Tensor.zeros(out, in / p.groups(), k[0], k[1]), Tensor.zeros(out), p, Epilogue.byId(f.text("act")));
    }

    /** A quantized Linear with zero int8 weights and unit scales (a checkpoint load fills them). */
    private static Module quantizedLinear(Fields f) {
        int in = f.integer("in"), out = f.integer("out");
        boolean bias = f.bool("bias");
        Epilogue epi = Epilogue.byId(f.text("act"));
        QParams act = inputParams(f);
        positive(in, "in");
        positive(out, "out");
        try (Tensor q = Tensor.zeros(DType.I8, out, in); Tensor s = Tensor.ones(out); Tensor b = bias ? Tensor.zeros(out) : null) {
            return QuantizedLinear.fromInt8(q, s, b, epi, act);
        }
    }

    private static Module quantizedConv(Fields f) {
        int in = f.integer("in"), out = f.integer("out");
        int[] k = f.pair("k");
        Conv2dParams p = convParams(f);
        boolean bias = f.bool("bias");
        Epilogue epi = Epilogue.byId(f.text("act"));
        QParams act = inputParams(f);
        positive(in, "in");
        positive(out, "out");
        positive(k[0], "kernel height");
        positive(k[1], "kernel width");
        try (Tensor q = Tensor.zeros(DType.I8, out, in * k[0] * k[1]); Tensor s = Tensor.ones(out); Tensor b = bias ? Tensor.zeros(out) : null) {
            return QuantizedConv2d.fromInt8(q, s, b, in, k[0], k[1], p, epi, act);
        }
    }

    /** input=dynamic, or input_scale / input_zero / input_range of calibrated per-tensor parameters. */
    private static QParams inputParams(Fields f) {
        if (f.has("input")) {
            String v = f.text("input");
            if (!v.equals("dynamic")) throw new IllegalArgumentException("input=" + v + " (expected input=dynamic or input_scale=, input_zero=, input_range=)");
            return null;
        }
        if (!f.has("input_scale")) throw new IllegalArgumentException("missing input=dynamic or input_scale=");
        double scale = f.real("input_scale");
        int zero = f.integer("input_zero");
        int[] range = f.pair("input_range");
        if (range[0] < QParams.QMIN || range[1] > QParams.QMAX || range[0] >= range[1] || zero < range[0] || zero > range[1])
            throw new IllegalArgumentException("input_range=" + range[0] + "x" + range[1] + " with input_zero=" + zero + " is not an int8 range holding the zero point");
        return QParams.perTensor((float) scale, zero, range[0], range[1]);
    }

    private static void positive(int v, String what) {
        if (v <= 0) throw new IllegalArgumentException(what + " must be positive, got " + v);
    }

    private static Module pool(String kind, Fields f) {
        if (kind.equals("adaptive")) {
            int[] o = f.pair("out");
            return Pool2d.adaptiveAvg(o[0], o[1]);
        }
        if (!kind.equals("max") && !kind.equals("avg")) throw new IllegalArgumentException("pool kind must be max, avg or adaptive");
        int[] k = f.pair("k"), st = f.pair("stride"), pad = f.pair("pad");
        return Pool2d.of(new Pool2dParams(k[0], k[1], st[0], st[1], pad[0], pad[1], f.bool("ceil"), f.bool("incl")), kind.equals("max"));
    }

    private static final Pattern WITH_DIM = Pattern.compile("(Log)?Softmax\\(dim=(-?\\d+)\\)");

    private static Activation activation(String kind) {
        Matcher m = WITH_DIM.matcher(kind);
        if (m.matches()) {
            int dim = Integer.parseInt(m.group(2));
            return m.group(1) != null ? Activation.logSoftmax(dim) : Activation.softmax(dim);
        }
        return switch (kind) {
            case "ReLU" -> Activation.relu();
            case "GELU" -> Activation.gelu();
            case "GELU(tanh)" -> Activation.gelu("tanh");
            case "SiLU" -> Activation.silu();
            case "Tanh" -> Activation.tanh();
            case "Sigmoid" -> Activation.sigmoid();
            case "Identity" -> Activation.identity();
            case "Flatten" -> Activation.flatten();
            default -> throw new IllegalArgumentException("unknown activation '" + kind + "'");
        };
    }

    /** The key=value fields of one layer; each read removes its key, so leftovers are reported. */
    private static final class Fields {
        private final Map<String, String> kv = new LinkedHashMap<>();

        Fields(String[] tok, int from) {
            for (int i = from; i < tok.length; i++) {
                int eq = tok[i].indexOf('=');
                if (eq <= 0) throw new IllegalArgumentException("expected key=value, got '" + tok[i] + "'");
                kv.put(tok[i].substring(0, eq), tok[i].substring(eq + 1));
            }
        }

        boolean has(String key) { return kv.containsKey(key); }

        String text(String key) {
            String v = kv.remove(key);
            if (v == null) throw new IllegalArgumentException("missing " + key + "=");
            return v;
        }

        int integer(String key) {
            String v = text(key);
            try {
                return Integer.parseInt(v);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(key + "=" + v + " is not an integer");
            }
        }

        double real(String key) {
            String v = text(key);
            try {
                return Double.parseDouble(v);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(key + "=" + v + " is not a number");
            }
        }

        boolean bool(String key) {
            String v = text(key);
            if (!v.equals("true") && !v.equals("false")) throw new IllegalArgumentException(key + "=" + v + " is not true or false");
            return v.equals("true");
        }

        /** An HxW pair, e.g. k=3x3. */
        int[] pair(String key) {
            String v = text(key);
            String[] p = v.split("x");
            try {
                if (p.length == 2) return new int[]{Integer.parseInt(p[0]), Integer.parseInt(p[1])};
            } catch (NumberFormatException ignored) {
                // reported below
            }
            throw new IllegalArgumentException(key + "=" + v + " is not HxW");
        }

        void requireAllUsed() {
            if (!kv.isEmpty()) throw new IllegalArgumentException("unexpected field(s) " + kv.keySet());
        }
    }
}
