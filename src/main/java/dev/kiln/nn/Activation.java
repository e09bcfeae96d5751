package dev.kiln.nn;

import dev.kiln.tensor.Tensor;

import java.util.function.UnaryOperator;

/** Parameter-free elementwise layers: ReLU, GELU, SiLU, Tanh, Sigmoid, Softmax, Flatten, Identity. */
public final class Activation extends Module {
    private final String name;
    private final UnaryOperator<Tensor> f;

    private Activation(String name, UnaryOperator<Tensor> f) {
        this.name = name;
        this.f = f;
    }

    public static Activation relu() { return new Activation("ReLU", Tensor::relu); }
    /** approximate = "none" (erf) or "tanh", as torch.nn.GELU. */
    public static Activation gelu(String approximate) {
        return "tanh".equals(approximate) ? new Activation("GELU(tanh)", Tensor::geluTanh) : new Activation("GELU", Tensor::gelu);
    }
    public static Activation gelu() { return gelu("none"); }
    public static Activation silu() { return new Activation("SiLU", Tensor::silu); }
    public static Activation tanh() { return new Activation("Tanh", Tensor::tanh); }
    public static Activation sigmoid() { return new Activation("Sigmoid", Tensor::sigmoid); }
    public static Activation softmax(int dim) { return new Activation("Softmax(dim=" + dim + ")", x -> x.softmax(dim)); }
    public static Activation logSoftmax(int dim) { return new Activation("LogSoftmax(dim=" + dim + ")", x -> x.logSoftmax(dim)); }
    public static Activation identity() { return new Activation("Identity", x -> x); }

    /** torch.nn.Flatten(start_dim = 1): [N, ...] -> [N, prod(...)]. */
    public static Activation flatten() {
        return new Activation("Flatten", x -> x.dim() <= 1 ? x.reshape(-1) : x.reshape(x.shape()[0], -1));
    }

    @Override public Tensor forward(Tensor x) { return f.apply(x); }

    /** The activation's name: "ReLU", "GELU", "GELU(tanh)", "Softmax(dim=1)", "Flatten", ... */
    public String kind() { return name; }

    @Override public String toString() { return name + "()"; }
}
