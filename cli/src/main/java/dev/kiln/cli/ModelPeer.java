package dev.kiln.cli;

import dev.kiln.tensor.Tensor;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Another inference engine run beside Kiln by {@code kiln bench MODEL --compare KEY}, found with
 * {@link java.util.ServiceLoader} (the bench module provides ONNX Runtime as "ort"; bench/tf-peer, built on demand, TensorFlow Java as "tf"), so that the
 * peer's libraries stay off the engine's own class path.
 */
public interface ModelPeer {
    /** The name --compare selects, e.g. "ort". */
    String key();

    /** Loads model for inference on {@code threads} intra-op threads. */
    Session open(Path model, int threads) throws Exception;

    /**
     * Loads one signature of a model that has several (a TensorFlow SavedModel); signature null: its
     * default. Peers of single-graph formats ignore it.
     */
    default Session open(Path model, int threads, String signature) throws Exception { return open(model, threads); }

    /** A loaded model. Inputs are bound once; each run reuses them (outside the timed call). */
    interface Session extends AutoCloseable {
        /** e.g. "onnxruntime 1.23.2". */
        String name();

        /** Binds the inputs by name (the caller keeps the tensors). */
        void prepare(Map<String, Tensor> inputs) throws Exception;

        /** One inference on the bound inputs; its outputs stay available until the next run. */
        void run() throws Exception;

        /** The last run's outputs by name, copied into new Kiln tensors the caller owns. */
        LinkedHashMap<String, Tensor> lastOutputs() throws Exception;

        @Override void close() throws Exception;
    }
}
