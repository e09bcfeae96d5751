package dev.kiln.onnx.conformance;

import dev.kiln.backend.Backends;
import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.OnnxExecutor;
import dev.kiln.onnx.OnnxModel;
import dev.kiln.onnx.OnnxNode;
import dev.kiln.onnx.OnnxReader;
import dev.kiln.onnx.OnnxTensors;
import dev.kiln.onnx.Value;
import dev.kiln.onnx.ValueInfo;
import dev.kiln.onnx.Values;
import dev.kiln.onnx.ops.OpRegistry;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Runs the ONNX backend node tests: a directory of test folders, each holding {@code model.onnx}
 * and {@code test_data_set_N/input_i.pb, output_i.pb}. For each test it loads the model, feeds the
 * inputs to the graph inputs that are not initializers (in order, as the ONNX runner does), and
 * compares every output with {@link OutputCompare}. Every failure (unsupported op, exception,
 * mismatch, timeout) is recorded as a one-line reason; a failing test never stops the run.
 * <p>
 * Usage: {@code new NodeTestRunner().run(Path.of(".../onnx-node-tests/node"), null)} or
 * {@code ./kiln check-onnx DIR [--filter REGEX] [--json FILE]}. A test is attributed to one op:
 * the op type of its model's nodes (for {@code _expanded} tests, the op of the unexpanded sibling).
 * <p>
 * A quirk of the test data: onnx 1.12 stores bfloat16 tensors in the {@code .pb} files as
 * {@code UINT16} TensorProtos holding the raw bf16 bit patterns, while the model declares
 * {@code BFLOAT16} (numpy has no bfloat16). Where the graph declares BFLOAT16 for an input or
 * output and the file holds UINT16, the runner reinterprets the 16-bit values as bf16 bits
 * (see {@link #readData}); nothing else is reinterpreted.
 */
public final class NodeTestRunner {
    private final OpRegistry registry;
    private final long timeoutMillis;
    private ExecutorService worker;

    public NodeTestRunner() { this(OpRegistry.standard(), 20_000); }

    /** @param timeoutMillis per-test limit; a test running longer is abandoned and failed */
    public NodeTestRunner(OpRegistry registry, long timeoutMillis) {
        this.registry = registry;
        this.timeoutMillis = timeoutMillis;
    }

    /** Runs every test folder under {@code dir} whose name matches {@code filter} (null: all). */
    public ConformanceReport run(Path dir, Pattern filter) throws IOException {
        if (!Files.isDirectory(dir)) throw new java.nio.file.NoSuchFileException(dir + " (no such test directory)");
        List<Path> tests;
        try (Stream<Path> s = Files.list(dir)) {
            tests = s.filter(p -> Files.isRegularFile(p.resolve("model.onnx")))
                    .filter(p -> filter == null || filter.matcher(p.getFileName().toString()).find())
                    .sorted().toList();
        }
        List<ConformanceReport.Case> cases = new ArrayList<>();
        try {
            for (Path t : tests) cases.add(runGuarded(t));
        } finally {
            if (worker != null) worker.shutdownNow();
            worker = null;
        }
        return new ConformanceReport(cases);
    }

    /** Runs one test folder under the timeout guard. */
    public ConformanceReport.Case runGuarded(Path testDir) {
        String name = testDir.getFileName().toString();
        String op = opOf(testDir);
        long t0 = System.nanoTime();
        if (worker == null) worker = Executors.newSingleThreadExecutor(r -> {
            Thread th = new Thread(r, "kiln-onnx-node-test");
            th.setDaemon(true);
            return th;
        });
        Future<String> f = worker.submit(() -> runOne(testDir));
        String reason;
        try {
            reason = f.get(timeoutMillis, TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            f.cancel(true);
            worker.shutdownNow();
            worker = null;
            reason = "timed out after " + timeoutMillis + " ms";
        } catch (ExecutionException e) {
            reason = oneLine(e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            reason = "interrupted";
        }
        long ms = (System.nanoTime() - t0) / 1_000_000;
        return new ConformanceReport.Case(name, op, reason == null, reason, ms);
    }

    /** Runs one test folder in this thread: null when it passes, else the reason. */
    public String runOne(Path testDir) {
        try {
            OnnxModel model = OnnxReader.read(testDir.resolve("model.onnx"));
            try (OnnxExecutor exec = new OnnxExecutor(model, registry)) {
                List<Path> sets = dataSets(testDir);
                if (sets.isEmpty()) return "no test_data_set_* folder";
                for (Path set : sets) {
                    String r = runDataSet(exec, set);
                    if (r != null) return (sets.size() > 1 ? set.getFileName() + ": " : "") + r;
                }
                return null;
            }
        } catch (Throwable t) {
            if (t instanceof VirtualMachineError vme && !(t instanceof OutOfMemoryError)) throw vme;
            return oneLine(t);
        }
    }

    private String runDataSet(OnnxExecutor exec, Path set) throws IOException {
        List<ValueInfo> feeds = exec.feedInputs();
        List<ValueInfo> outs = exec.model().graph().outputs();
        Map<String, Value> inputs = new LinkedHashMap<>();
        List<Value> expected = new ArrayList<>();
        Map<String, Value> actual = null;
        try {
            for (int i = 0; Files.exists(set.resolve("input_" + i + ".pb")); i++) {
                if (i >= feeds.size()) return "test data has more inputs than the model's " + feeds.size();
                ValueInfo in = feeds.get(i);
                inputs.put(in.name(), readData(set.resolve("input_" + i + ".pb"), in));
            }
            for (int i = 0; Files.exists(set.resolve("output_" + i + ".pb")); i++) {
                if (i >= outs.size()) return "test data has more outputs than the model's " + outs.size();
                expected.add(readData(set.resolve("output_" + i + ".pb"), outs.get(i)));
            }
            actual = exec.run(inputs);
            List<Value> got = new ArrayList<>(actual.values());
            for (int i = 0; i < expected.size(); i++) {
                String r = OutputCompare.compare(expected.get(i), got.get(i));
                if (r != null) return "output '" + outs.get(i).name() + "': " + r;
            }
            return null;
        } finally {
            inputs.values().forEach(Values::close);
            expected.forEach(Values::close);
            if (actual != null) actual.values().forEach(Values::close);
        }
    }

    /**
     * Reads a test-data file as {@code decl} declares it; a UINT16 tensor where BFLOAT16 is declared
     * is taken as bf16 bit patterns (how onnx 1.12 writes bfloat16 test data).
     */
    static Value readData(Path file, ValueInfo decl) throws IOException {
        Value v = OnnxTensors.readValue(file, decl);
        if (decl != null && decl.elemType() == ElemType.BFLOAT16 && v instanceof Value.TensorValue tv
                && tv.type() == ElemType.UINT16) {
            try (Tensor bits = tv.tensor()) {
                return Value.of(bf16FromBits(bits), ElemType.BFLOAT16);
            }
        }
        return v;
    }

    /** A BF16 tensor whose elements have the bit patterns held (as 0..65535) by the int32 tensor {@code bits}. */
    static Tensor bf16FromBits(Tensor bits) {
        long[] v = bits.toLongArray();
        Tensor out = Tensor.empty(Backends.cpu(), DType.BF16, bits.shape());
        MemorySegment seg = out.segment();
        for (int i = 0; i < v.length; i++) seg.setAtIndex(Storage.I16, out.offset() + i, (short) v[i]);
        return out;
    }

    private static List<Path> dataSets(Path testDir) throws IOException {
        try (Stream<Path> s = Files.list(testDir)) {
            return s.filter(p -> p.getFileName().toString().startsWith("test_data_set_") && Files.isDirectory(p))
                    .sorted().toList();
        }
    }

    // ------------------------------------------------------------------ attribution to an op

    /** The op a test exercises: for "_expanded" tests the op of the unexpanded sibling. */
    static String opOf(Path testDir) {
        String name = testDir.getFileName().toString();
        if (name.endsWith("_expanded")) {
            Path sibling = testDir.resolveSibling(name.substring(0, name.length() - "_expanded".length()));
            if (Files.isRegularFile(sibling.resolve("model.onnx"))) return opOf(sibling);
        }
        try {
            OnnxModel m = OnnxReader.read(testDir.resolve("model.onnx"));
            try (OnnxExecutorFree ignored = new OnnxExecutorFree(m)) {
                return mainOp(name, m);
            }
        } catch (IOException | RuntimeException e) {
            return "?";
        }
    }

    /** Closes a model's tensors without planning it (used when only its op types are wanted). */
    private record OnnxExecutorFree(OnnxModel model) implements AutoCloseable {
        public void close() {
            model.graph().initializers().values().forEach(Values::close);
            for (OnnxNode n : model.graph().nodes())
                n.attributes().values().forEach(a -> {
                    if (a.t() != null) Values.close(a.t());
                });
        }
    }

    /** The single op type of the model's nodes; with several, the one the test name starts with. */
    static String mainOp(String testName, OnnxModel m) {
        Set<String> types = new LinkedHashSet<>();
        for (OnnxNode n : m.graph().nodes()) types.add(n.opType());
        if (types.size() == 1) return types.iterator().next();
        String flat = testName.replaceFirst("^test_", "").replace("_", "").toLowerCase(Locale.ROOT);
        String best = null;
        for (String t : types) {
            String lt = t.toLowerCase(Locale.ROOT);
            if (flat.startsWith(lt) && (best == null || lt.length() > best.length())) best = t;
        }
        if (best != null) return best;
        for (String t : types) if (!t.equals("Constant") && !t.equals("Identity")) return t;
        return types.isEmpty() ? "?" : types.iterator().next();
    }

    static String oneLine(Throwable t) {
        String m = t.getMessage();
        String s = t.getClass().getSimpleName() + (m == null ? "" : ": " + m);
        if (t instanceof dev.kiln.onnx.OnnxException || t instanceof dev.kiln.io.KilnFormatException) s = m;
        s = s == null ? t.getClass().getSimpleName() : s.replace('\n', ' ');
        return s.length() > 300 ? s.substring(0, 297) + "..." : s;
    }
}
