package dev.kiln.examples;

import dev.kiln.io.Npy;
import dev.kiln.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The inputs and expected outputs that sit beside a model in {@code testdata/real-models}:
 * {@code NAME_op17.onnx} (or {@code NAME_script.pt}, ...) has inputs {@code NAME_in0.npy, NAME_in1.npy, ...}
 * and the eager PyTorch model's outputs {@code NAME_out0.npy, ...}.
 */
final class Goldens {
    private Goldens() {}

    /** The files NAME_{kind}0.npy, NAME_{kind}1.npy, ... beside the model (kind "in" or "out"), read in order; empty if none. */
    static List<Tensor> beside(Path model, String kind) throws IOException {
        String file = model.getFileName().toString();
        String name = file.substring(0, Math.max(0, file.lastIndexOf('_')));  // "resnet50_op17.onnx" -> "resnet50"
        List<Tensor> out = new ArrayList<>();
        for (int i = 0; ; i++) {
            Path p = model.resolveSibling(name + "_" + kind + i + ".npy");
            if (!Files.exists(p)) return out;
            out.add(Npy.read(p));
        }
    }

    /** Prints one output (shape and first values); if a golden is given, checks it to 1e-4 + 1e-4 |want|. */
    static boolean report(String name, Tensor got, Tensor want) {
        float[] g = got.toFloatArray();
        System.out.printf("  %s %s %s first values %s%n", name, got.dtype(), Arrays.toString(got.shape()),
                Arrays.toString(Arrays.copyOf(g, Math.min(4, g.length))));
        if (want == null) return true;
        if (!Arrays.equals(got.shape(), want.shape())) {
            System.out.println("    MISMATCH: golden shape " + Arrays.toString(want.shape()));
            return false;
        }
        float[] w = want.toFloatArray();
        double maxDiff = 0;
        boolean ok = true;
        for (int i = 0; i < g.length; i++) {
            double d = Math.abs(g[i] - w[i]);
            maxDiff = Math.max(maxDiff, d);
            if (!(d <= 1e-4 + 1e-4 * Math.abs(w[i]))) ok = false;  // NaN fails too
        }
        System.out.printf("    max |diff| vs golden %.3g: %s%n", maxDiff, ok ? "ok" : "MISMATCH");
        return ok;
    }
}
