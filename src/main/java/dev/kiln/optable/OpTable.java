package dev.kiln.optable;

import dev.kiln.backend.cpu.CpuBackend;
import dev.kiln.io.Json;
import dev.kiln.onnx.ops.OpRegistry;
import dev.kiln.ops.BinaryOp;
import dev.kiln.ops.ReduceOp;
import dev.kiln.ops.Reductions;
import dev.kiln.tensor.Tensor;
import dev.kiln.ops.UnaryOp;
import dev.kiln.savedmodel.TfImporter;
import dev.kiln.tensor.DType;
import dev.kiln.torchscript.interp.Interpreter;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What Kiln has for each op, read from the code itself: the engine's unary ops ({@link UnaryOp},
 * each defined in one place) with the kernel each backend runs per dtype, the gradient, and the
 * importer names that map onto it; and every op name each importer (ONNX, TorchScript, TensorFlow
 * SavedModel) accepts, with the engine op it lowers to where that is an engine unary op. Nothing
 * here is a hand-kept list: CPU kernels come from the CPU backend, CUDA kernels from the
 * {@code kiln_*} kernels that {@code kernels/elementwise.cu} defines (the names the CUDA backend
 * launches), importer names from the importers' own registries. {@code kiln ops} prints it.
 *
 * <p>The elementwise ops (unary, binary, comparisons) and the reductions are defined in one place
 * each (their enums); the backend's other kernels (matrix products, convolution, pooling,
 * normalization, attention, the optimizer steps, gather/scatter) are rows by {@code Backend}
 * method: which backend implements each, read by reflection (CUDA's missing ones from
 * {@code CudaBackend.NOT_IMPLEMENTED}, which its throwing methods check). Their shape rules and
 * gradients are still spread over their front ends in {@code dev.kiln.ops} (issue #18), and the
 * importers' other ops run their own implementations or compositions of engine ops, which this
 * table does not see into.
 */
public final class OpTable {
    private OpTable() {}

    /** One engine op: per backend and dtype the kernel that runs it ("-": none), its gradient, its importer names. */
    public record Row(String op, String family, String cpuF32, String cpuF64, String cpuInt, String cudaF32, String cudaF64,
                      String gradient, String onnx, List<String> torchscript, List<String> tensorflow) {}

    /** One op name an importer accepts, and the engine op it runs as (null: the importer's own implementation). */
    public record ImporterOp(String importer, String name, String engineOp) {}

    /** The rows: one per {@link UnaryOp}, then one per {@link BinaryOp}. */
    public static List<Row> rows() {
        Set<String> cuda = cudaKernels();
        List<Row> rows = new ArrayList<>();
        for (UnaryOp op : UnaryOp.values()) {
            rows.add(new Row(name(op), "unary elementwise", CpuBackend.unaryKernel(op, DType.F32), CpuBackend.unaryKernel(op, DType.F64),
                    CpuBackend.unaryKernel(op, DType.I64), cudaKernel(cuda, name(op), "f32"), cudaKernel(cuda, name(op), "f64"),
                    "formula (UnaryOp)", op.names().onnx(), op.names().torchscript(), op.names().tensorflow()));
        }
        for (BinaryOp op : BinaryOp.values()) {
            rows.add(new Row(name(op), op.isComparison() ? "comparison" : "binary elementwise", CpuBackend.binaryKernel(op, DType.F32),
                    CpuBackend.binaryKernel(op, DType.F64), CpuBackend.binaryKernel(op, DType.I64), cudaKernel(cuda, name(op), "f32"),
                    cudaKernel(cuda, name(op), "f64"), op.hasGradient() ? "formula (BinaryOp)" : "none (piecewise constant)",
                    op.onnxNames().isEmpty() ? null : String.join(" ", op.onnxNames()), op.names().torchscript(), op.names().tensorflow()));
        }
        Set<String> reduceCuda = kernels("kernels/reduce.cu", REDUCE_DEF);
        for (ReduceOp op : ReduceOp.values()) {
            String k32 = "kiln_" + name(op) + "_last_f32", k64 = "kiln_" + name(op) + "_last_f64";
            rows.add(new Row(name(op), "reduction", "kernel (CpuReduce)", "kernel (CpuReduce)", reducesIntegers(op) ? "accepted" : "-",
                    reduceCuda.contains(k32) ? k32 + " (last axis)" : "-", reduceCuda.contains(k64) ? k64 + " (last axis)" : "-",
                    op.hasGradient() ? "formula (ReduceOp)" : "none", op.names().onnx(), op.names().torchscript(), op.names().tensorflow()));
        }
        for (java.lang.reflect.Method m : dev.kiln.backend.Backend.class.getMethods()) {
            String n = m.getName();
            if (BACKEND_ELEMENTWISE_OR_MEMORY.contains(n) || rows.stream().anyMatch(r -> r.op().equals(n))) continue;
            rows.add(new Row(n, "backend op", cpuHas(m) ? "kernel (CpuBackend)" : "default", cpuHas(m) ? "kernel (CpuBackend)" : "default", "-",
                    cuda(m), cuda(m), "-", null, List.of(), List.of()));
        }
        return rows;
    }

    /** Backend methods that are rows of other families or not ops (memory, copies, the elementwise and reduce entries). */
    private static final Set<String> BACKEND_ELEMENTWISE_OR_MEMORY = Set.of("name", "isHost", "allocate", "allocateUninitialized", "copy",
            "copyFromHost", "copyToHost", "synchronize", "unary", "binary", "reduce");

    private static boolean cpuHas(java.lang.reflect.Method m) {
        try {
            CpuBackend.class.getDeclaredMethod(m.getName(), m.getParameterTypes());
            return true;
        } catch (NoSuchMethodException e) {
            return false;
        }
    }

    /** The CUDA backend's kernel for a Backend method, "not implemented", or "default" (the interface's fallback: the caller composes it). */
    private static String cuda(java.lang.reflect.Method m) {
        if (dev.kiln.backend.cuda.CudaBackend.NOT_IMPLEMENTED.contains(m.getName())) return "not implemented";
        for (java.lang.reflect.Method d : dev.kiln.backend.cuda.CudaBackend.class.getDeclaredMethods())
            if (d.getName().equals(m.getName())) return "kernel (CudaBackend)";   // any overload (gemm's epilogue form defaults to the plain one)
        return m.isDefault() ? "default" : "-";
    }

    /** Whether the reduction runs on an integer tensor (tried on a tiny one). */
    private static boolean reducesIntegers(ReduceOp op) {
        try (Tensor t = Tensor.fromArray(new int[] {3, 1, 2}, 3);
             Tensor r = op == ReduceOp.ARGMAX || op == ReduceOp.ARGMIN ? Reductions.argReduce(op, t, 0, false)
                     : Reductions.reduce(op, t, new int[] {0}, false, 0)) {
            return r.numel() == 1;
        } catch (RuntimeException e) {
            return false;
        }
    }

    /** The op's name in the table (and in its CUDA kernels): the constant's name in lower case. */
    public static String name(Enum<?> op) { return op.name().toLowerCase(Locale.ROOT); }

    /** Every op name of the three importers, sorted by importer and name. */
    public static List<ImporterOp> importerOps() {
        List<Map<String, String>> byImporter = importerNames();
        List<ImporterOp> out = new ArrayList<>();
        for (String key : new TreeSet<>(OpRegistry.standard().names()))
            out.add(new ImporterOp("onnx", key, key.contains(".") ? null : byImporter.get(0).get(key)));
        for (String full : Interpreter.builtins()) {
            String shortName = full.substring(full.lastIndexOf('.') + 1);
            boolean aten = full.startsWith("torch.") || full.startsWith("ops.aten.");
            out.add(new ImporterOp("torchscript", full, aten ? byImporter.get(1).get(shortName) : null));
        }
        for (String tf : TfImporter.supportedOps()) out.add(new ImporterOp("tensorflow", tf, byImporter.get(2).get(tf)));
        return out;
    }

    /** For ONNX, TorchScript and TensorFlow in that order: each importer name of an engine op, to the op's table name (first op wins). */
    private static List<Map<String, String>> importerNames() {
        List<Map.Entry<Enum<?>, UnaryOp.Names>> ops = new ArrayList<>();
        for (UnaryOp op : UnaryOp.values()) ops.add(Map.entry(op, op.names()));
        for (BinaryOp op : BinaryOp.values()) ops.add(Map.entry(op, op.names()));
        for (ReduceOp op : ReduceOp.values()) ops.add(Map.entry(op, op.names()));
        List<Map<String, String>> maps = List.of(new java.util.HashMap<>(), new java.util.HashMap<>(), new java.util.HashMap<>());
        for (Map.Entry<Enum<?>, UnaryOp.Names> e : ops) {
            UnaryOp.Names n = e.getValue();
            String op = name(e.getKey());
            // BinaryOp's ONNX entry may list several names ("Add Sum")
            if (n.onnx() != null) for (String o : n.onnx().split(" ")) maps.get(0).putIfAbsent(o, op);
            for (String t : n.torchscript()) maps.get(1).putIfAbsent(t, op);
            for (String t : n.tensorflow()) maps.get(2).putIfAbsent(t, op);
        }
        return maps;
    }

    /** "kiln_&lt;op&gt;_&lt;dt&gt;" when elementwise.cu defines it and its strided twin, else "-". */
    private static String cudaKernel(Set<String> defined, String op, String dt) {
        String k = "kiln_" + op + "_" + dt;
        return defined.contains(k) && defined.contains(k + "_strided") ? k : "-";
    }

    private static final Pattern REDUCE_DEF = Pattern.compile("^KILN_DEF_REDUCE\\((\\w+),", Pattern.MULTILINE);

    /** The first macro argument of every match of def in a kernel source on the classpath. */
    private static Set<String> kernels(String path, Pattern def) {
        Set<String> names = new TreeSet<>();
        Matcher m = def.matcher(resource(path));
        while (m.find()) names.add(m.group(1));
        return names;
    }

    private static final Pattern DEF = Pattern.compile("^KILN_DEF_(UNARY|BINARY)\\((\\w+),\\s*(\\w+),", Pattern.MULTILINE);

    /** The unary and binary kernels (and their strided twins) that kernels/elementwise.cu defines. */
    public static Set<String> cudaKernels() { return cudaKernels("UNARY", "BINARY"); }

    /** The kernels elementwise.cu defines with KILN_DEF_&lt;kind&gt; for the given kinds. */
    public static Set<String> cudaKernels(String... kinds) {
        String src = resource("kernels/elementwise.cu");
        Set<String> names = new TreeSet<>();
        Matcher m = DEF.matcher(src);
        while (m.find()) {
            if (!List.of(kinds).contains(m.group(1))) continue;
            names.add(m.group(2));
            names.add(m.group(3));
        }
        return names;
    }

    private static String resource(String path) {
        try (InputStream in = OpTable.class.getClassLoader().getResourceAsStream(path)) {
            if (in == null) throw new IllegalStateException("kiln: " + path + " is not on the classpath (the jar packs the kernel sources)");
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalStateException("kiln: cannot read " + path + ": " + e.getMessage(), e);
        }
    }

    /** The table as JSON: {"ops": [rows], "importers": [ops]}. */
    public static String json() {
        StringBuilder sb = new StringBuilder("{\n  \"ops\": [\n");
        List<Row> rows = rows();
        for (int i = 0; i < rows.size(); i++) {
            Row r = rows.get(i);
            sb.append("    {").append(field("op", r.op())).append(", ").append(field("family", r.family()))
                    .append(", \"cpu\": {").append(field("f32", r.cpuF32())).append(", ").append(field("f64", r.cpuF64()))
                    .append(", ").append(field("int", r.cpuInt())).append("}, \"cuda\": {").append(field("f32", r.cudaF32()))
                    .append(", ").append(field("f64", r.cudaF64())).append("}, ").append(field("grad", r.gradient()))
                    .append(", ").append(field("onnx", r.onnx())).append(", \"torchscript\": ").append(list(r.torchscript()))
                    .append(", \"savedmodel\": ").append(list(r.tensorflow())).append('}').append(i + 1 < rows.size() ? ",\n" : "\n");
        }
        sb.append("  ],\n  \"importers\": [\n");
        List<ImporterOp> ops = importerOps();
        for (int i = 0; i < ops.size(); i++) {
            ImporterOp o = ops.get(i);
            sb.append("    {").append(field("importer", o.importer())).append(", ").append(field("name", o.name())).append(", ")
                    .append(field("engineOp", o.engineOp())).append('}').append(i + 1 < ops.size() ? ",\n" : "\n");
        }
        return sb.append("  ]\n}\n").toString();
    }

    private static String field(String k, String v) { return Json.quote(k) + ": " + (v == null ? "null" : Json.quote(v)); }

    private static String list(Collection<String> vs) {
        List<String> q = new ArrayList<>();
        for (String v : vs) q.add(Json.quote(v));
        return "[" + String.join(", ", q) + "]";
    }
}
