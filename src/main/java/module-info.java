/** Kiln: a tensor engine for the JVM. */
module dev.kiln {
    // transitive: public signatures carry Vector API types (e.g. CpuConfig.F32)
    requires transitive jdk.incubator.vector;
    requires static org.bytedeco.javacpp;
    requires static org.bytedeco.cuda;

    exports dev.kiln.tensor;
    exports dev.kiln.backend;
    exports dev.kiln.backend.cpu;
    exports dev.kiln.backend.cuda;
    exports dev.kiln.ops;
    exports dev.kiln.autograd;
    exports dev.kiln.nn;
    exports dev.kiln.optim;
    exports dev.kiln.train;
    exports dev.kiln.io;
    exports dev.kiln.data;
    exports dev.kiln.lab;
    exports dev.kiln.optable;
    exports dev.kiln.onnx;
    exports dev.kiln.onnx.ops;
    exports dev.kiln.onnx.export;
    exports dev.kiln.onnx.conformance;
    exports dev.kiln.torchscript;
    exports dev.kiln.pickle;
    exports dev.kiln.compress;
    exports dev.kiln.compress.sparse;
    exports dev.kiln.compress.prune;
    exports dev.kiln.compress.distill;
    exports dev.kiln.compress.fuse;
    exports dev.kiln.compress.quant;
    exports dev.kiln.dist;

    // backends are found through ServiceLoader (Backends.get); a backend in another module provides one too
    uses dev.kiln.backend.BackendProvider;
    provides dev.kiln.backend.BackendProvider with dev.kiln.backend.cpu.CpuBackendProvider, dev.kiln.backend.cuda.CudaBackendProvider;
}
