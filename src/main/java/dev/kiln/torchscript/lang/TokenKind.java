package dev.kiln.torchscript.lang;

/** Kinds of TorchScript source tokens; INDENT/DEDENT/NEWLINE carry Python's block structure. */
public enum TokenKind { NAME, INT, FLOAT, STRING, OP, NEWLINE, INDENT, DEDENT, EOF }
