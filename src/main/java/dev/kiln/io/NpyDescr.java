package dev.kiln.io;

import dev.kiln.tensor.DType;

import java.util.List;

/**
 * The mapping between a .npy {@code descr} string and a Kiln {@link DType} plus byte order.
 * Read: {@code [<>|=]} followed by f2, f4, f8, i1, i4, i8, b1 or V2 (bfloat16, see {@link Npy}),
 * and the name {@code 'bfloat16'}; {@code '='} counts as little-endian. Everything else
 * (complex, objects, strings, unsigned, int16, datetimes, structured) is refused by name.
 */
record NpyDescr(DType dtype, boolean bigEndian) {

    /** Parses the header's descr value; name is the file for error messages. */
    static NpyDescr parse(Object descr, String name) throws KilnFormatException {
        if (descr instanceof List<?> || descr instanceof PyLiteral.Tuple)
            throw new KilnFormatException(name + ": unsupported dtype: structured arrays (descr " + descr + ") are not supported");
        if (!(descr instanceof String d))
            throw new KilnFormatException(name + ": bad header: 'descr' must be a string, got " + descr);
        if (d.equals("bfloat16")) return new NpyDescr(DType.BF16, false);
        char order = d.isEmpty() ? '|' : d.charAt(0);
        String code = !d.isEmpty() && "<>|=".indexOf(order) >= 0 ? d.substring(1) : d;
        DType t = switch (code) {
            case "f2" -> DType.F16;
            case "f4" -> DType.F32;
            case "f8" -> DType.F64;
            case "i1" -> DType.I8;
            case "i4" -> DType.I32;
            case "i8" -> DType.I64;
            case "b1" -> DType.BOOL;
            case "V2" -> DType.BF16;
            default -> throw unsupported(name, d, code);
        };
        return new NpyDescr(t, order == '>' && t.byteSize() > 1);
    }

    /** The descr Kiln writes for t (always little-endian). */
    static String of(DType t) {
        return switch (t) {
            case F16 -> "<f2";
            case F32 -> "<f4";
            case F64 -> "<f8";
            case BF16 -> "<V2";
            case I8 -> "|i1";
            case I32 -> "<i4";
            case I64 -> "<i8";
            case BOOL -> "|b1";
        };
    }

    private static KilnFormatException unsupported(String name, String descr, String code) {
        String kind = code.isEmpty() ? "empty" : switch (code.charAt(0)) {
            case 'c' -> "complex";
            case 'O' -> "Python objects (pickled)";
            case 'U', 'S', 'a' -> "string";
            case 'u' -> "unsigned integer";
            case 'i' -> "int" + (code.length() > 1 && Character.isDigit(code.charAt(1)) ? (code.charAt(1) - '0') * 8 : "");
            case 'f' -> "float of this size";
            case 'M', 'm' -> "datetime";
            case 'V' -> "raw bytes (only V2, read as bfloat16, is supported)";
            default -> "unknown";
        };
        return new KilnFormatException(name + ": unsupported dtype '" + descr + "' (" + kind + "); Kiln reads"
                + " float16/32/64 (f2, f4, f8), bfloat16 (V2), int8/32/64 (i1, i4, i8) and bool (b1)");
    }
}
