package dev.kiln.onnx;

/**
 * An ONNX model Kiln cannot run: an unsupported op (the message names the op, the node and the
 * opset) or an op given inputs that violate the spec. Unchecked, like shape errors elsewhere.
 */
public class OnnxException extends IllegalArgumentException {
    public OnnxException(String message) { super(message); }

    public OnnxException(String message, Throwable cause) { super(message, cause); }
}
