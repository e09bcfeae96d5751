package dev.kiln.cli;

import dev.kiln.io.FileKind;
import picocli.CommandLine;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.ParseResult;

import java.io.IOException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Set;

/**
 * Checks the CLI makes before a command does any work, so a bad path or value fails in a second
 * with one line naming it, not after an epoch of training:
 * <ul>
 *   <li>every output path ({@link #OUTPUT_FILES}, {@link #OUTPUT_DIRS}) of every command, by
 *       {@link Main} before the command runs: not a directory, its parent an existing writable
 *       directory (proven by creating and deleting a probe file there);</li>
 *   <li>input files by content ({@link FileKind}): a Kiln checkpoint where one is expected, with
 *       "PATH is an ONNX model; quantize takes a Kiln checkpoint" and the like otherwise;</li>
 *   <li>numeric options, naming the option: {@code --batch must be >= 1, got 0}.</li>
 * </ul>
 * Failures are {@link IllegalArgumentException}s (exit 2, one line).
 */
final class CliChecks {
    private CliChecks() {}

    /** Options that name a file a command writes. */
    static final Set<String> OUTPUT_FILES = Set.of("--out", "--save", "--json", "--crossover", "--plot");
    /** Output options whose file must have a given extension (the file's format follows from it). */
    static final java.util.Map<String, String> OUTPUT_EXTENSIONS = java.util.Map.of("--plot", ".png");
    /** Options that name a directory a command writes into (created if missing). */
    static final Set<String> OUTPUT_DIRS = Set.of("--output-dir");

    /** Checks every output option given on the command line (the whole subcommand chain); skipped when help is asked for. */
    static void checkOutputs(ParseResult parsed) {
        for (ParseResult pr = parsed; pr != null; pr = pr.subcommand())
            if (pr.isUsageHelpRequested() || pr.isVersionHelpRequested()) return;
        for (ParseResult pr = parsed; pr != null; pr = pr.subcommand()) {
            for (OptionSpec o : pr.matchedOptions()) {
                if (!(o.getValue() instanceof Path p)) continue;
                String name = o.longestName();
                try {
                    if (OUTPUT_FILES.contains(name)) outputFile(name, p);
                    else if (OUTPUT_DIRS.contains(name)) outputDir(name, p);
                } catch (IllegalArgumentException e) {
                    throw new CommandLine.ParameterException(pr.commandSpec().commandLine(), e.getMessage());
                }
            }
        }
    }

    /** A file the command will write: not a directory, the extension {@link #OUTPUT_EXTENSIONS} asks for; its directory exists and is writable. */
    static void outputFile(String option, Path p) {
        if (Files.isDirectory(p)) throw new IllegalArgumentException(option + " " + p + " is a directory");
        String ext = OUTPUT_EXTENSIONS.get(option);
        if (ext != null && !p.getFileName().toString().toLowerCase(java.util.Locale.ROOT).endsWith(ext))
            throw new IllegalArgumentException(option + " " + p + ": the file is written as " + ext.substring(1).toUpperCase(java.util.Locale.ROOT)
                    + "; give a name ending in " + ext);
        if (Files.exists(p) && !Files.isWritable(p)) throw new IllegalArgumentException(option + " " + p + " is not writable");
        writableDirectory(option, p, p.toAbsolutePath().getParent());
    }

    /** A directory the command will write into, created when missing: an existing one must be writable, else its parent. */
    static void outputDir(String option, Path p) {
        if (Files.exists(p) && !Files.isDirectory(p)) throw new IllegalArgumentException(option + " " + p + " is not a directory");
        Path dir = p.toAbsolutePath();
        while (dir != null && !Files.exists(dir)) dir = dir.getParent();  // the nearest existing ancestor is where it is created
        writableDirectory(option, p, dir);
    }

    private static void writableDirectory(String option, Path p, Path dir) {
        if (dir == null) return; // the file system root's parent: nothing to check
        if (!Files.exists(dir)) throw new IllegalArgumentException("folder for " + option + " does not exist: " + dir + " (" + option + " " + p + ")");
        if (!Files.isDirectory(dir)) throw new IllegalArgumentException(option + " " + p + ": " + dir + " is not a directory");
        try {
            Files.delete(Files.createTempFile(dir, ".kiln-write-check", ".tmp"));
        } catch (IOException e) {
            String why = e instanceof FileSystemException fs ? Main.reason(fs) : e.getMessage();
            throw new IllegalArgumentException(option + " " + p + ": cannot write in " + dir + " (" + why + ")");
        }
    }

    // ---------------------------------------------------------------- input files

    /** The kind of an input file; a missing file is "no such file: PATH" (exit 2), a directory "PATH is a directory". */
    static FileKind inputKind(Path p) throws IOException { return inputKind("", p); }

    /** As {@link #inputKind(Path)}, the directory message starting with option ("--input "). */
    static FileKind inputKind(String option, Path p) throws IOException {
        if (!Files.exists(p)) throw new NoSuchFileException(p.toString());
        FileKind k = FileKind.of(p);
        if (k == FileKind.DIRECTORY) throw new IllegalArgumentException(option + p + " is a directory");
        return k;
    }

    /** p must be a Kiln checkpoint (a safetensors file); what says otherwise names what p is and what command wants. */
    static void requireCheckpoint(String command, Path p) throws IOException {
        FileKind k = inputKind(p);
        if (k == FileKind.SAFETENSORS) return;
        if (k == FileKind.UNKNOWN) throw new IllegalArgumentException(p + " is not a Kiln checkpoint (safetensors) file");
        throw new IllegalArgumentException(p + " is " + k.description() + "; " + command + " takes a Kiln checkpoint"
                + (k.isOnnx() ? " (kiln run and kiln info read ONNX models)" : ""));
    }

    // ---------------------------------------------------------------- option values

    /** An integer option that must be at least min. */
    static void atLeast(String command, String option, long value, long min) {
        if (value < min) throw new IllegalArgumentException(command + ": " + option + " must be >= " + min + ", got " + value);
    }

    /** A finite floating-point option in [min, max] (NaN and infinities rejected). */
    static void inRange(String command, String option, double value, double min, double max) {
        if (!(value >= min && value <= max) || !Double.isFinite(value))
            throw new IllegalArgumentException(command + ": " + option + " must be a finite number in [" + num(min) + ", " + num(max) + "], got " + value);
    }

    /** A finite floating-point option greater than 0. */
    static void positive(String command, String option, double value) {
        if (!(value > 0) || !Double.isFinite(value))
            throw new IllegalArgumentException(command + ": " + option + " must be a finite number > 0, got " + value);
    }

    private static String num(double v) {
        if (v == Double.MAX_VALUE) return "inf";
        return v == Math.rint(v) ? Long.toString((long) v) : Double.toString(v);
    }

    /** The value of --precision (kiln bench, kiln run): f32 or bf16; anything else is an error naming it. */
    static dev.kiln.onnx.OnnxExecutor.Precision precision(String text) { return precision("--precision", text); }

    /** The same for an option of another name ({@code --weights}). */
    static dev.kiln.onnx.OnnxExecutor.Precision precision(String option, String text) {
        return switch (text) {
            case "f32" -> dev.kiln.onnx.OnnxExecutor.Precision.F32;
            case "bf16" -> dev.kiln.onnx.OnnxExecutor.Precision.BF16;
            default -> throw new IllegalArgumentException(option + " takes f32 or bf16, got '" + text + "'");
        };
    }
}
