/** Kiln benchmarks: JMH microbenchmarks of every CPU kernel and peer implementations (OpenBLAS). */
package dev.kiln.bench;
