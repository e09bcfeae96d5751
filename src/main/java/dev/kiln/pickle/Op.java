package dev.kiln.pickle;

/** Pickle opcodes (as in CPython's Lib/pickle.py) and their names for error messages. */
final class Op {
    private Op() {}

    static final int MARK = '(', STOP = '.', POP = '0', POP_MARK = '1', DUP = '2';
    static final int BININT = 'J', BININT1 = 'K', BININT2 = 'M', NONE = 'N', PERSID = 'P', BINPERSID = 'Q';
    static final int REDUCE = 'R', BINSTRING = 'T', SHORT_BINSTRING = 'U', BINUNICODE = 'X';
    static final int APPEND = 'a', BUILD = 'b', GLOBAL = 'c', DICT = 'd', EMPTY_DICT = '}', APPENDS = 'e';
    static final int GET = 'g', BINGET = 'h', LONG_BINGET = 'j', LIST = 'l', EMPTY_LIST = ']';
    static final int PUT = 'p', BINPUT = 'q', LONG_BINPUT = 'r', SETITEM = 's', TUPLE = 't', EMPTY_TUPLE = ')';
    static final int SETITEMS = 'u', BINFLOAT = 'G', INST = 'i', OBJ = 'o';
    // protocol 2
    static final int PROTO = 0x80, NEWOBJ = 0x81, EXT1 = 0x82, EXT2 = 0x83, EXT4 = 0x84;
    static final int TUPLE1 = 0x85, TUPLE2 = 0x86, TUPLE3 = 0x87, NEWTRUE = 0x88, NEWFALSE = 0x89;
    static final int LONG1 = 0x8a, LONG4 = 0x8b;
    // protocol 3
    static final int BINBYTES = 'B', SHORT_BINBYTES = 'C';
    // protocol 4
    static final int SHORT_BINUNICODE = 0x8c, BINUNICODE8 = 0x8d, BINBYTES8 = 0x8e, EMPTY_SET = 0x8f;
    static final int ADDITEMS = 0x90, FROZENSET = 0x91, NEWOBJ_EX = 0x92, STACK_GLOBAL = 0x93, MEMOIZE = 0x94, FRAME = 0x95;
    // protocol 5
    static final int BYTEARRAY8 = 0x96, NEXT_BUFFER = 0x97, READONLY_BUFFER = 0x98;

    /** "BINUNICODE (0x58)"; unknown bytes as "0xNN". */
    static String name(int op) {
        String n = switch (op) {
            case MARK -> "MARK"; case STOP -> "STOP"; case POP -> "POP"; case POP_MARK -> "POP_MARK"; case DUP -> "DUP";
            case BININT -> "BININT"; case BININT1 -> "BININT1"; case BININT2 -> "BININT2"; case NONE -> "NONE";
            case PERSID -> "PERSID"; case BINPERSID -> "BINPERSID"; case REDUCE -> "REDUCE";
            case BINSTRING -> "BINSTRING"; case SHORT_BINSTRING -> "SHORT_BINSTRING"; case BINUNICODE -> "BINUNICODE";
            case APPEND -> "APPEND"; case BUILD -> "BUILD"; case GLOBAL -> "GLOBAL"; case DICT -> "DICT";
            case EMPTY_DICT -> "EMPTY_DICT"; case APPENDS -> "APPENDS"; case GET -> "GET"; case BINGET -> "BINGET";
            case LONG_BINGET -> "LONG_BINGET"; case LIST -> "LIST"; case EMPTY_LIST -> "EMPTY_LIST"; case PUT -> "PUT";
            case BINPUT -> "BINPUT"; case LONG_BINPUT -> "LONG_BINPUT"; case SETITEM -> "SETITEM"; case TUPLE -> "TUPLE";
            case EMPTY_TUPLE -> "EMPTY_TUPLE"; case SETITEMS -> "SETITEMS"; case BINFLOAT -> "BINFLOAT";
            case PROTO -> "PROTO"; case NEWOBJ -> "NEWOBJ"; case EXT1 -> "EXT1"; case EXT2 -> "EXT2"; case EXT4 -> "EXT4";
            case TUPLE1 -> "TUPLE1"; case TUPLE2 -> "TUPLE2"; case TUPLE3 -> "TUPLE3"; case NEWTRUE -> "NEWTRUE";
            case NEWFALSE -> "NEWFALSE"; case LONG1 -> "LONG1"; case LONG4 -> "LONG4"; case BINBYTES -> "BINBYTES";
            case SHORT_BINBYTES -> "SHORT_BINBYTES"; case SHORT_BINUNICODE -> "SHORT_BINUNICODE";
            case BINUNICODE8 -> "BINUNICODE8"; case BINBYTES8 -> "BINBYTES8"; case EMPTY_SET -> "EMPTY_SET";
            case ADDITEMS -> "ADDITEMS"; case FROZENSET -> "FROZENSET"; case NEWOBJ_EX -> "NEWOBJ_EX";
            case STACK_GLOBAL -> "STACK_GLOBAL"; case MEMOIZE -> "MEMOIZE"; case FRAME -> "FRAME";
            case BYTEARRAY8 -> "BYTEARRAY8"; case NEXT_BUFFER -> "NEXT_BUFFER"; case READONLY_BUFFER -> "READONLY_BUFFER";
            case 'I' -> "INT"; case 'L' -> "LONG"; case 'F' -> "FLOAT"; case 'S' -> "STRING"; case 'V' -> "UNICODE";
            case INST -> "INST"; case OBJ -> "OBJ";
            default -> null;
        };
        String hex = String.format("0x%02x", op);
        return n == null ? hex : n + " (" + hex + ")";
    }
}
