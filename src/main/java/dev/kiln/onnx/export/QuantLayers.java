package dev.kiln.onnx.export;

import dev.kiln.compress.fuse.Epilogue;
import dev.kiln.compress.quant.QParams;
import dev.kiln.compress.quant.QuantizedConv2d;
import dev.kiln.compress.quant.QuantizedLinear;
import dev.kiln.ops.Conv2dParams;
import dev.kiln.tensor.Tensor;

/**
 * What the QDQ exporter needs from a {@link QuantizedLinear} / {@link QuantizedConv2d}: int8 weight,
 * its per-channel parameters, the activation parameters (null = dynamic), the float bias and the
 * epilogue.
 */
record QuantLayers(Tensor weightInt8, QParams weightParams, QParams inputParams, float[] bias, Epilogue epilogue,
                   Conv2dParams conv) {

    static QuantLayers of(QuantizedLinear l) {
        return new QuantLayers(l.weightInt8(), l.weightParams(), l.inputParams(), l.bias(), l.epilogue(), null);
    }

    static QuantLayers of(QuantizedConv2d c) {
        return new QuantLayers(c.weightInt8(), c.weightParams(), c.inputParams(), c.bias(), c.epilogue(), c.params());
    }
}
