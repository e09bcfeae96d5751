package dev.kiln.ops;

public enum PoolOp { MAX, AVG }
