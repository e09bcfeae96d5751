package dev.kiln.fuzz;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/**
 * Build step for fuzzing mode only: lowers the class-file major version of compiled classes from
 * 69 (Java 25) to 67 (Java 23). Jazzer 0.24.0 instruments classes for coverage with a bundled ASM
 * that stops at version 67 ("Unsupported class file major version 69": the classes then run
 * uninstrumented and the fuzzer is blind). Java 24 and 25 added no class-file structures that
 * javac emits for ordinary code, so the relabelled classes load and run on JDK 25 (the fuzz runs
 * exercise every reader this way); were a class ever to use a newer feature, the JVM would refuse
 * it with a ClassFormatError rather than misbehave.
 * Run on a separate build directory (tools/fuzz.sh does), never on target/classes.
 * <pre>java -cp target/fuzz/test-classes dev.kiln.fuzz.ClassFileVersion target/fuzz/classes target/fuzz/test-classes</pre>
 */
public final class ClassFileVersion {
    private ClassFileVersion() {}

    static final int FROM = 69, TO = 67;

    public static void main(String[] args) throws IOException {
        int changed = 0;
        for (String dir : args) {
            List<Path> classes;
            try (Stream<Path> s = Files.walk(Path.of(dir))) {
                classes = s.filter(p -> p.toString().endsWith(".class")).toList();
            }
            for (Path p : classes) if (relabel(p)) changed++;
        }
        System.out.println("ClassFileVersion: " + changed + " class files relabelled from major " + FROM + " to " + TO);
    }

    /** Rewrites one class file's major version in place; false when it was not FROM. */
    static boolean relabel(Path p) throws IOException {
        byte[] b = Files.readAllBytes(p);
        if (b.length < 8 || (b[0] & 0xff) != 0xCA || (b[1] & 0xff) != 0xFE) return false;
        int major = (b[6] & 0xff) << 8 | (b[7] & 0xff);
        if (major != FROM) return false;
        b[6] = (byte) (TO >> 8);
        b[7] = (byte) TO;
        Files.write(p, b);
        return true;
    }
}
