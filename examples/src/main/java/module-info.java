/** Kiln's examples as a named module: run with {@code -p <jars> -m dev.kiln.examples/dev.kiln.examples.X}. */
module dev.kiln.examples {
    requires dev.kiln;
}
