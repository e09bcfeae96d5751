package dev.kiln.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParseResult;
import picocli.CommandLine.ScopeType;
import picocli.CommandLine.Spec;

import java.io.EOFException;
import java.io.FileNotFoundException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.FileSystemException;

/**
 * The {@code kiln} command line. Exit codes: 0 ok, 1 failure, 2 bad usage or bad input. Every
 * error is reported as one line on stderr ({@code kiln: <message>}); the stack trace follows only
 * with {@code --verbose}.
 * <p>
 * Bad input (exit 2): picocli usage errors, {@link IllegalArgumentException} (bad shapes, values,
 * options), missing or unreadable input files ({@link FileSystemException} such as
 * {@code NoSuchFileException}, {@link FileNotFoundException}, {@link EOFException},
 * {@link UncheckedIOException}) and {@link OutOfMemoryError} (a size too large for this machine).
 * Everything else (including {@link UnsupportedOperationException}) is a failure (exit 1).
 */
@Command(name = "kiln", mixinStandardHelpOptions = true, version = "kiln 0.1.0",
        description = "Kiln tensor engine: Vector API CPU kernels over off-heap tensors.",
        subcommands = {InfoCommand.class, OpsCommand.class, DemoCommand.class, TrainCommand.class, PruneCommand.class, DistillCommand.class, FuseCommand.class, QuantizeCommand.class, ExportCommand.class, GenerateCommand.class, LaunchCommand.class, BenchCommand.class, LabCommand.class, RunCommand.class, CheckOnnxCommand.class, CommandLine.HelpCommand.class},
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {"0:ok", "1:failure", "2:bad usage or bad input"})
public final class Main implements Runnable {
    public static final int OK = 0;
    public static final int FAILURE = 1;
    public static final int BAD_INPUT = 2;

    private boolean verbose;

    /** Global: inherited by every subcommand, so {@code kiln bench elementwise --verbose} works too. */
    @Option(names = "--verbose", scope = ScopeType.INHERIT,
            description = "Print stack traces of errors (and more detail where commands have it).")
    void setVerbose(boolean v) { verbose = v; }

    public boolean verbose() { return verbose; }

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the CLI in this JVM and returns its exit code (never throws). */
    public static int run(String... args) {
        Main main = new Main();
        CommandLine cl = main.commandLine();
        try {
            return cl.execute(modelBench(args));
        } catch (Throwable t) { // Errors escape picocli's handlers
            return main.report(cl.getErr(), t);
        } finally {
            cl.getOut().flush();
            cl.getErr().flush();
        }
    }

    /**
     * {@code kiln bench FILE ...} (or a SavedModel directory) is {@code kiln bench model FILE ...}: named here, before parsing,
     * so an option value that is also a suite's name ({@code --precision bf16}) is not taken for
     * that suite.
     */
    static String[] modelBench(String[] args) {
        if (args.length < 2 || !args[0].equals("bench") || !BenchCommand.isModel(args[1])) return args;
        String[] r = new String[args.length + 1];
        r[0] = "bench";
        r[1] = "model";
        System.arraycopy(args, 1, r, 2, args.length - 1);
        return r;
    }

    /** The configured command line (tests call {@code execute} on it, with their own out/err). */
    public CommandLine commandLine() {
        CommandLine cl = new CommandLine(this);
        cl.setExecutionExceptionHandler(this::onExecutionError);
        cl.setParameterExceptionHandler(this::onParameterError);
        // output paths are checked before any command starts its work (exit 2 naming the path)
        cl.setExecutionStrategy(parsed -> {
            CliChecks.checkOutputs(parsed);
            return new CommandLine.RunLast().execute(parsed);
        });
        // `kiln bench jmh Regex -f 1 -wi 1`: JMH's own options are passed through as arguments
        cl.getSubcommands().get("bench").getSubcommands().get("jmh").setUnmatchedOptionsArePositionalParams(true);
        ensureHelpOptions(cl);
        return cl;
    }

    /** Gives every (sub)command -h/--help and -V/--version, even one declared without them. */
    private static void ensureHelpOptions(CommandLine cl) {
        CommandSpec spec = cl.getCommandSpec();
        if (spec.options().stream().noneMatch(OptionSpec::usageHelp)) spec.mixinStandardHelpOptions(true);
        for (CommandLine sub : cl.getSubcommands().values()) ensureHelpOptions(sub);
    }

    @Spec private CommandSpec spec;

    /** {@code kiln} alone prints the usage (a request for help, exit 0). */
    @Override
    public void run() { spec.commandLine().usage(spec.commandLine().getOut()); }

    private int onParameterError(ParameterException ex, String[] args) {
        PrintWriter err = ex.getCommandLine().getErr();
        String cmd = ex.getCommandLine().getCommandSpec().qualifiedName();
        err.println("kiln: " + oneLine(ex.getMessage()) + " (see '" + cmd + " --help')");
        if (verbose) ex.printStackTrace(err);
        err.flush();
        return BAD_INPUT;
    }

    private int onExecutionError(Exception ex, CommandLine cl, ParseResult parsed) {
        return report(cl.getErr(), ex);
    }

    /** Prints the one-line message (plus the trace when verbose) and returns the exit code. */
    int report(PrintWriter err, Throwable t) {
        String hint = verbose || isBadInput(t) ? "" : " (rerun with --verbose for the stack trace)";
        err.println("kiln: " + message(t) + hint);
        if (verbose) t.printStackTrace(err);
        err.flush();
        return exitCode(t);
    }

    /** 2 for bad input (see the class comment), 1 for everything else. */
    static int exitCode(Throwable t) {
        return isBadInput(t) ? BAD_INPUT : FAILURE;
    }

    static boolean isBadInput(Throwable t) {
        return t instanceof IllegalArgumentException
                || t instanceof dev.kiln.io.KilnFormatException
                || t instanceof FileSystemException
                || t instanceof FileNotFoundException
                || t instanceof EOFException
                || t instanceof UncheckedIOException
                || t instanceof OutOfMemoryError
                || t instanceof ParameterException;
    }

    /** A one-line description: the message for bad input, the exception type too for failures. */
    static String message(Throwable t) {
        Throwable m = (t instanceof UncheckedIOException || t instanceof ExceptionInInitializerError) && t.getCause() != null ? t.getCause() : t;
        String text = m.getMessage() == null ? "" : oneLine(m.getMessage()).replaceFirst("^kiln: ", "");
        if (m instanceof FileSystemException fs) text = fileError(fs);
        else if (m instanceof OutOfMemoryError) text = "out of memory: " + text;
        else if (m instanceof NoClassDefFoundError && text.startsWith("jdk/incubator/vector"))
            return "the Vector API is not loaded: start java with --add-modules jdk.incubator.vector (./kiln does)";
        if (isBadInput(t)) return text.isEmpty() ? m.getClass().getSimpleName() : text;
        String type = m.getClass().getSimpleName();
        return text.isEmpty() ? type : type + ": " + text;
    }

    private static String fileError(FileSystemException fs) {
        String what = reason(fs);
        String file = fs.getFile() == null ? "" : fs.getFile();
        return fs.getOtherFile() == null ? what + ": " + file : what + ": " + file + " -> " + fs.getOtherFile();
    }

    /** The cause of a file error in words: "no such file", "permission denied", or the OS's reason. */
    static String reason(FileSystemException fs) {
        return fs.getReason() != null ? fs.getReason() : switch (fs) {
            case java.nio.file.NoSuchFileException e -> "no such file";
            case java.nio.file.AccessDeniedException e -> "permission denied";
            case java.nio.file.NotDirectoryException e -> "not a directory";
            default -> "file error";
        };
    }

    static String oneLine(String s) {
        return s == null ? "" : s.strip().replaceAll("\\s*\\R\\s*", "; ");
    }
}
