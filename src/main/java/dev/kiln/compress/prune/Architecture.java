package dev.kiln.compress.prune;

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
import dev.kiln.tensor.Generator;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A Sequential's layer structure as one line of text, stored in checkpoint metadata so a model
 * whose layer sizes differ from the standard ones (after structured pruning) can be rebuilt before
 * its weights are loaded. Layers are separated by "; ", e.g.
 * {@code flatten; linear 784 128 bias; act ReLU; linear 128 64 bias; act ReLU; linear 64 10 bias}.
 * Fields: linear IN OUT bias|nobias; conv2d IN OUT KH KW SH SW PH PW DH DW GROUPS bias|nobias;
 * batchnorm FEATURES DIMS EPS MOMENTUM; act KIND (ReLU, GELU, Flatten, Softmax(dim=1), ...);
 * maxpool|avgpool KH KW SH SW PH PW CEIL COUNT_PAD; adaptiveavg H W; dropout P.
 */
public final class Architecture {
    private Architecture() {}

    public static final String METADATA_KEY = "architecture";

    public static String describe(Sequential model) {
        List<String> parts = new ArrayList<>();
        boolean spatial = false;
        for (Module m : model.layers()) {
            if (m instanceof Conv2d) spatial = true;
            else if (m instanceof Linear) spatial = false;
            parts.add(layer(m, spatial));
        }
        return String.join("; ", parts);
    }

    private static String layer(Module m, boolean spatial) {
        if (m instanceof Linear l) return "linear " + l.inFeatures + " " + l.outFeatures + " " + (l.bias() != null ? "bias" : "nobias");
        if (m instanceof Conv2d c) {
            Conv2dParams p = c.params;
            return String.format(Locale.ROOT, "conv2d %d %d %d %d %d %d %d %d %d %d %d %s", c.inChannels, c.outChannels, c.kernelH, c.kernelW,
                    p.strideH(), p.strideW(), p.padH(), p.padW(), p.dilationH(), p.dilationW(), p.groups(), c.bias() != null ? "bias" : "nobias");
        }
        if (m instanceof BatchNorm b)
            return "batchnorm " + b.weight().shape()[0] + " " + (spatial ? 2 : 1) + " " + b.eps() + " " + b.momentum();
        if (m instanceof Activation a) return a.kind().equals("Flatten") ? "flatten" : "act " + a.kind();
        if (m instanceof Pool2d p) {
            if (p.adaptiveOutput() != null) return "adaptiveavg " + p.adaptiveOutput()[0] + " " + p.adaptiveOutput()[1];
            Pool2dParams q = p.params();
            return String.format(Locale.ROOT, "%s %d %d %d %d %d %d %b %b", p.isMax() ? "maxpool" : "avgpool", q.kernelH(), q.kernelW(),
                    q.strideH(), q.strideW(), q.padH(), q.padW(), q.ceilMode(), q.countIncludePad());
        }
        if (m instanceof Dropout d) return "dropout " + d.p();
        throw new IllegalArgumentException("architecture: cannot describe layer " + m.getClass().getSimpleName());
    }

    /** Builds the Sequential a description names (weights freshly initialized with the generator). */
    public static Sequential build(String spec, Generator g) {
        Sequential s = new Sequential();
        for (String part : spec.split(";")) {
            String t = part.trim();
            if (!t.isEmpty()) s.add(parse(t, g));
        }
        return s;
    }

    private static Module parse(String t, Generator g) {
        String[] f = t.split("\\s+");
        try {
            return switch (f[0]) {
                case "linear" -> new Linear(i(f[1]), i(f[2]), f[3].equals("bias"), g);
                case "conv2d" -> new Conv2d(i(f[1]), i(f[2]), i(f[3]), i(f[4]),
                        new Conv2dParams(i(f[5]), i(f[6]), i(f[7]), i(f[8]), i(f[9]), i(f[10]), i(f[11])), f[12].equals("bias"), g);
                case "batchnorm" -> BatchNorm.of(i(f[1]), i(f[2]), Double.parseDouble(f[3]), Double.parseDouble(f[4]));
                case "flatten" -> Activation.flatten();
                case "act" -> activation(t.substring(4).trim());
                case "maxpool", "avgpool" -> Pool2d.of(new Pool2dParams(i(f[1]), i(f[2]), i(f[3]), i(f[4]), i(f[5]), i(f[6]),
                        Boolean.parseBoolean(f[7]), Boolean.parseBoolean(f[8])), f[0].equals("maxpool"));
                case "adaptiveavg" -> Pool2d.adaptiveAvg(i(f[1]), i(f[2]));
                case "dropout" -> new Dropout(Double.parseDouble(f[1]), g);
                default -> throw new IllegalArgumentException("unknown layer '" + f[0] + "'");
            };
        } catch (ArrayIndexOutOfBoundsException | NumberFormatException e) {
            throw new IllegalArgumentException("architecture: bad layer description '" + t + "'");
        }
    }

    private static final Pattern DIM = Pattern.compile("(Softmax|LogSoftmax)\\(dim=(-?\\d+)\\)");

    private static Activation activation(String kind) {
        Matcher m = DIM.matcher(kind);
        if (m.matches()) return m.group(1).equals("Softmax") ? Activation.softmax(i(m.group(2))) : Activation.logSoftmax(i(m.group(2)));
        return switch (kind) {
            case "ReLU" -> Activation.relu();
            case "GELU" -> Activation.gelu();
            case "GELU(tanh)" -> Activation.gelu("tanh");
            case "SiLU" -> Activation.silu();
            case "Tanh" -> Activation.tanh();
            case "Sigmoid" -> Activation.sigmoid();
            case "Identity" -> Activation.identity();
            case "Flatten" -> Activation.flatten();
            default -> throw new IllegalArgumentException("architecture: unknown activation '" + kind + "'");
        };
    }

    private static int i(String s) { return Integer.parseInt(s); }
}
