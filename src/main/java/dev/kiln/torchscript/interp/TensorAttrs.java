package dev.kiln.torchscript.interp;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Tensor;

import java.util.Map;

/** Tensor attributes (x.shape, x.dtype ...) and named constants (torch.float32, math.pi ...). */
final class TensorAttrs {
    private static final Map<String, Object> CONSTANTS = Map.ofEntries(
            Map.entry("torch.float32", 6L), Map.entry("torch.float", 6L), Map.entry("torch.float64", 7L),
            Map.entry("torch.double", 7L), Map.entry("torch.float16", 5L), Map.entry("torch.half", 5L),
            Map.entry("torch.bfloat16", 15L), Map.entry("torch.int64", 4L), Map.entry("torch.long", 4L),
            Map.entry("torch.int32", 3L), Map.entry("torch.int", 3L), Map.entry("torch.int8", 1L),
            Map.entry("torch.uint8", 0L), Map.entry("torch.bool", 11L), Map.entry("torch.strided", 0L),
            Map.entry("torch.contiguous_format", 0L),
            Map.entry("math.pi", Math.PI), Map.entry("math.e", Math.E), Map.entry("math.inf", Double.POSITIVE_INFINITY),
            Map.entry("math.nan", Double.NaN));

    private TensorAttrs() {}

    static Object namedConstant(String dotted) { return CONSTANTS.get(dotted); }

    static Object get(Tensor t, String attr) {
        return switch (attr) {
            case "shape" -> Values.intList(t.shape());
            case "dtype" -> ScalarTypes.code(t.dtype());
            case "device" -> new Refs.Device("cpu");
            case "is_cuda", "requires_grad", "is_quantized", "is_sparse", "is_nested" -> false;
            case "ndim" -> (long) t.dim();
            case "T" -> t.dim() < 2 ? t : t.permute(reversed(t.dim()));
            case "data" -> t;
            case "is_floating_point" -> t.dtype().isFloating();
            default -> throw new ScriptException("Tensor has no attribute '" + attr + "'");
        };
    }

    private static int[] reversed(int n) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) p[i] = n - 1 - i;
        return p;
    }

    static boolean isFloat(Tensor t) { return t.dtype() != DType.BOOL && t.dtype().isFloating(); }
}
