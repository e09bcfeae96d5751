package dev.kiln.torchscript.interp;

/** Python arithmetic and ordering on ints (Long), floats (Double) and bools (as ints). */
final class Scalars {
    private Scalars() {}

    private static boolean bothInt(Object a, Object b) {
        return (a instanceof Long || a instanceof Boolean) && (b instanceof Long || b instanceof Boolean);
    }

    static Object arith(String op, Object a, Object b) {
        if (bothInt(a, b)) {
            long x = Values.toLong(a, op), y = Values.toLong(b, op);
            return switch (op) {
                case "add" -> Math.addExact(x, y);
                case "sub" -> Math.subtractExact(x, y);
                case "mul" -> Math.multiplyExact(x, y);
                case "div" -> (double) x / y;
                case "floordiv" -> { nonZero(y); yield Math.floorDiv(x, y); }
                case "remainder" -> { nonZero(y); yield Math.floorMod(x, y); }
                case "pow" -> y >= 0 ? (Object) ipow(x, y) : (Object) Math.pow(x, y);
                case "max" -> Math.max(x, y);
                case "min" -> Math.min(x, y);
                case "and" -> x & y;
                case "or" -> x | y;
                case "xor" -> x ^ y;
                case "lshift" -> x << y;
                case "rshift" -> x >> y;
                default -> throw new ScriptException(op + ": unsupported for ints");
            };
        }
        double x = Values.toDouble(a, op), y = Values.toDouble(b, op);
        return switch (op) {
            case "add" -> x + y;
            case "sub" -> x - y;
            case "mul" -> x * y;
            case "div" -> x / y;
            case "floordiv" -> Math.floor(x / y);
            case "remainder" -> x - Math.floor(x / y) * y;
            case "pow" -> Math.pow(x, y);
            case "max" -> Math.max(x, y);
            case "min" -> Math.min(x, y);
            default -> throw new ScriptException(op + ": unsupported for floats");
        };
    }

    private static void nonZero(long y) {
        if (y == 0) throw new ScriptException("ZeroDivisionError: integer division or modulo by zero");
    }

    private static long ipow(long x, long y) {
        long r = 1;
        for (long i = 0; i < y; i++) r = Math.multiplyExact(r, x);
        return r;
    }

    /** Python ordering for numbers and strings; op is lt, le, gt, ge. */
    static boolean order(String op, Object a, Object b) {
        int c;
        if (a instanceof String s && b instanceof String t) c = s.compareTo(t);
        else if (bothInt(a, b)) c = Long.compare(Values.toLong(a, op), Values.toLong(b, op));
        else {
            double x = Values.toDouble(a, op), y = Values.toDouble(b, op);
            if (Double.isNaN(x) || Double.isNaN(y)) return false;
            c = Double.compare(x, y);
        }
        return switch (op) {
            case "lt" -> c < 0;
            case "le" -> c <= 0;
            case "gt" -> c > 0;
            case "ge" -> c >= 0;
            default -> throw new ScriptException("unknown comparison " + op);
        };
    }

    static Object unary(String op, Object v) {
        if (v instanceof Long || v instanceof Boolean) {
            long x = Values.toLong(v, op);
            switch (op) {
                case "neg": return Math.negateExact(x);
                case "abs": return Math.abs(x);
                default: break;
            }
        }
        double x = Values.toDouble(v, op);
        return switch (op) {
            case "neg" -> -x;
            case "abs" -> Math.abs(x);
            case "sqrt" -> Math.sqrt(x);
            case "exp" -> Math.exp(x);
            case "log" -> Math.log(x);
            case "tanh" -> Math.tanh(x);
            case "sin" -> Math.sin(x);
            case "cos" -> Math.cos(x);
            case "floor" -> (long) Math.floor(x);
            case "ceil" -> (long) Math.ceil(x);
            case "sigmoid" -> 1 / (1 + Math.exp(-x));
            default -> throw new ScriptException(op + ": unsupported for scalars");
        };
    }
}
