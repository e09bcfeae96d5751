package dev.kiln.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Unmatched;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code kiln bench <suite>}: benchmarks reported as ratios to a peer measured in the same run. */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = {"Benchmarks against peers measured in the same run (and JMH microbenchmarks).",
                "kiln bench MODEL.onnx|MODEL.pt [options]: the latency of one model file (see 'kiln bench model --help')."},
        subcommands = {BenchModel.class, BenchGemm.class, BenchElementwise.class, BenchSparse.class, BenchInt8.class, BenchBf16.class, BenchAllreduce.class, BenchDdp.class, BenchJmh.class})
public final class BenchCommand implements Callable<Integer> {
    @Spec private CommandSpec spec;

    /** {@code kiln bench FILE ...}: a path that is a file selects the model benchmark. */
    @Unmatched private List<String> rest = new ArrayList<>();

    /** A model file, or a TensorFlow SavedModel directory. */
    static boolean isModel(String arg) {
        Path p = Path.of(arg);
        return Files.isRegularFile(p) || dev.kiln.savedmodel.SavedModel.isSavedModel(p);
    }

    /** {@code kiln bench} alone lists the suites. */
    @Override
    public Integer call() {
        if (rest.isEmpty()) {
            spec.commandLine().usage(spec.commandLine().getOut());
            return Main.OK;
        }
        if (isModel(rest.get(0)))
            return spec.subcommands().get("model").execute(rest.toArray(String[]::new));
        throw new ParameterException(spec.commandLine(), "'" + rest.get(0) + "' is neither a benchmark suite nor a model file");
    }
}
