package dev.kiln.pickle;

import dev.kiln.io.KilnFormatException;

import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A pickle virtual machine for the binary protocols 2-5 as {@code torch.save} and
 * {@code torch.jit.save} write them. It executes nothing: GLOBAL / STACK_GLOBAL resolve only
 * through a {@link Globals} allow-list of Java handlers, persistent ids go to a caller's
 * {@link PersistentLoader}, and any other global is refused with an error that names it.
 * <p>
 * Hostile input gets a one-line {@link KilnFormatException}, never an OutOfMemoryError, a
 * StackOverflowError or a hang: every length is checked against the bytes left before anything is
 * allocated, the stack and memo are capped ({@link Limits}), the VM loop is iterative and each
 * opcode consumes input, and the result is checked to be acyclic and at most
 * {@link Limits#maxDepth()} containers deep (so consumers may recurse over it safely).
 * <p>
 * Values map to Java as documented on {@link PyObject}; sets become LinkedHashSet (frozenset: an
 * unmodifiable Set), {@code collections.OrderedDict} a {@link PyOrderedDict}.
 */
public final class Unpickler {
    /** Caps on the VM's memory: stack items, memo entries, container nesting of the result. */
    public record Limits(int maxStack, int maxMemo, int maxDepth) {
        public static Limits defaults() { return new Limits(1 << 20, 1 << 20, 512); }
    }

    private final String source;
    private final byte[] in;
    private final Globals globals;
    private final PersistentLoader persistent;
    private final Limits limits;
    private final ArrayList<Object> stack = new ArrayList<>();
    private int[] marks = new int[16];
    private int markCount;
    private final HashMap<Long, Object> memo = new HashMap<>();
    private int pos;
    private int opStart;

    /**
     * @param source     the name errors start with, e.g. "model.pt: archive/data.pkl"
     * @param persistent resolves persistent ids; null refuses them
     */
    public Unpickler(String source, byte[] data, Globals globals, PersistentLoader persistent, Limits limits) {
        this.source = source;
        this.in = data;
        this.globals = globals;
        this.persistent = persistent;
        this.limits = limits;
    }

    /** Unpickles data with default limits. */
    public static Object load(String source, byte[] data, Globals globals, PersistentLoader persistent) throws KilnFormatException {
        return new Unpickler(source, data, globals, persistent, Limits.defaults()).load();
    }

    /** Runs the pickle to its STOP opcode and returns the value it left on the stack. */
    public Object load() throws KilnFormatException {
        while (true) {
            if (pos >= in.length) throw fail("truncated pickle: " + in.length + " bytes end before the STOP opcode");
            opStart = pos;
            int op = in[pos++] & 0xff;
            if (op == Op.STOP) {
                Object result = pop();
                String bad = Structure.check(result, limits.maxDepth());
                if (bad != null) throw fail(bad);
                return result;
            }
            try {
                step(op);
            } catch (KilnFormatException e) {
                throw e.getMessage().startsWith(source) ? e : wrap(op, e.getMessage(), e);
            } catch (RuntimeException e) {
                throw wrap(op, e.getMessage(), e);
            }
        }
    }

    private KilnFormatException wrap(int op, String message, Exception cause) {
        return new KilnFormatException(source + ": " + Op.name(op) + " at byte " + opStart + ": " + message, cause);
    }

    private KilnFormatException fail(String message) {
        return new KilnFormatException(source + ": " + message);
    }

    // ------------------------------------------------------------------ dispatch

    private void step(int op) throws KilnFormatException {
        switch (op) {
            case Op.PROTO -> {
                int v = u8();
                if (v > 5) throw fail("unsupported pickle protocol " + v + " (Kiln reads 2 to 5)");
            }
            case Op.FRAME -> { long n = i64(); if (n > in.length - pos) throw truncated(n); }
            case Op.MARK -> pushMark();
            case Op.POP -> { if (markCount > 0 && stack.size() == marks[markCount - 1]) popMark(); else pop(); }
            case Op.POP_MARK -> popMark();
            case Op.DUP -> push(peek());
            case Op.NONE -> push(null);
            case Op.NEWTRUE -> push(Boolean.TRUE);
            case Op.NEWFALSE -> push(Boolean.FALSE);
            case Op.BININT -> push((long) i32());
            case Op.BININT1 -> push((long) u8());
            case Op.BININT2 -> push((long) u16());
            case Op.LONG1 -> push(decodeLong(bytes(u8())));
            case Op.LONG4 -> push(decodeLong(bytes(length(i32()))));
            case Op.BINFLOAT -> push(Double.longBitsToDouble(Long.reverseBytes(i64())));
            case Op.BINUNICODE -> push(utf8(bytes(length(u32()))));
            case Op.SHORT_BINUNICODE -> push(utf8(bytes(u8())));
            case Op.BINUNICODE8 -> push(utf8(bytes(length(i64()))));
            case Op.BINSTRING -> push(latin1(bytes(length(i32()))));
            case Op.SHORT_BINSTRING -> push(latin1(bytes(u8())));
            case Op.BINBYTES -> push(bytes(length(u32())));
            case Op.SHORT_BINBYTES -> push(bytes(u8()));
            case Op.BINBYTES8, Op.BYTEARRAY8 -> push(bytes(length(i64())));
            case Op.EMPTY_LIST -> push(new ArrayList<>());
            case Op.LIST -> push(new ArrayList<>(popMark()));
            case Op.APPEND -> { Object v = pop(); list(peek()).add(v); }
            case Op.APPENDS -> { List<Object> items = popMark(); list(peek()).addAll(items); }
            case Op.EMPTY_TUPLE -> push(tuple(List.of()));
            case Op.TUPLE -> push(tuple(popMark()));
            case Op.TUPLE1 -> push(tuple(popN(1)));
            case Op.TUPLE2 -> push(tuple(popN(2)));
            case Op.TUPLE3 -> push(tuple(popN(3)));
            case Op.EMPTY_DICT -> push(new LinkedHashMap<>());
            case Op.DICT -> { Map<Object, Object> d = new LinkedHashMap<>(); putPairs(d, popMark()); push(d); }
            case Op.SETITEM -> { Object v = pop(), k = pop(); map(peek()).put(key(k), v); }
            case Op.SETITEMS -> { List<Object> kv = popMark(); putPairs(map(peek()), kv); }
            case Op.EMPTY_SET -> push(new LinkedHashSet<>());
            case Op.ADDITEMS -> { List<Object> items = popMark(); set(peek()).addAll(keys(items)); }
            case Op.FROZENSET -> push(Collections.unmodifiableSet(new LinkedHashSet<>(keys(popMark()))));
            case Op.GLOBAL -> push(global(line(), line()));
            case Op.STACK_GLOBAL -> { String name = string(pop(), "name"); push(global(string(pop(), "module"), name)); }
            case Op.REDUCE -> { PyTuple args = args(pop()); push(call(pop(), args)); }
            case Op.NEWOBJ -> { PyTuple args = args(pop()); push(call(pop(), args)); }
            case Op.NEWOBJ_EX -> newObjEx();
            case Op.BUILD -> { Object state = pop(); build(peek(), state); }
            case Op.BINPERSID -> push(persistentLoad(pop()));
            case Op.PERSID -> push(persistentLoad(line()));
            case Op.BINPUT -> memoPut(u8());
            case Op.LONG_BINPUT -> memoPut(u32());
            case Op.PUT -> memoPut(decimal(line()));
            case Op.MEMOIZE -> memoPut(memo.size());
            case Op.BINGET -> push(memoGet(u8()));
            case Op.LONG_BINGET -> push(memoGet(u32()));
            case Op.GET -> push(memoGet(decimal(line())));
            case Op.INST -> { refuseInstClass(); throw fail("unsupported pickle opcode " + Op.name(op) + " at byte " + opStart); }
            case Op.EXT1, Op.EXT2, Op.EXT4 -> throw fail(Op.name(op) + " at byte " + opStart + ": extension-registry globals are refused (not on the allow-list)");
            default -> throw fail("unsupported pickle opcode " + Op.name(op) + " at byte " + opStart);
        }
    }

    // ------------------------------------------------------------------ globals, calls, BUILD

    private PyGlobal global(String module, String name) throws KilnFormatException {
        PyGlobal g = globals.resolve(module, name);
        if (g == null) throw fail("refused global " + printable(module + "." + name) + " (not on the allow-list)");
        return g;
    }

    /**
     * INST (protocol 0) names its class inline as two text lines; Kiln does not run INST, but a
     * class off the allow-list is refused by name first, as GLOBAL would refuse it.
     */
    private void refuseInstClass() throws KilnFormatException {
        int first = indexOfNewline(pos), second = first < 0 ? -1 : indexOfNewline(first + 1);
        if (second < 0) return;
        String module = new String(in, pos, first - pos, StandardCharsets.UTF_8);
        String name = new String(in, first + 1, second - first - 1, StandardCharsets.UTF_8);
        global(module, name);
    }

    private int indexOfNewline(int from) {
        for (int i = from; i < in.length; i++) if (in[i] == '\n') return i;
        return -1;
    }

    private Object call(Object callable, PyTuple args) throws KilnFormatException {
        if (!(callable instanceof PyGlobal g)) throw new KilnFormatException("cannot call a " + typeName(callable));
        if (g.handler() == null) throw new KilnFormatException(g.qualifiedName() + " is not callable");
        return g.handler().call(args);
    }

    private void newObjEx() throws KilnFormatException {
        Object kwargs = pop();
        PyTuple args = args(pop());
        Object cls = pop();
        if (!(kwargs instanceof Map<?, ?> m) || !m.isEmpty()) throw new KilnFormatException("keyword arguments are not supported");
        push(call(cls, args));
    }

    /** BUILD: sets an object's state (a dict of attributes, or (dict, slots) as Python writes it). */
    @SuppressWarnings("unchecked")
    private void build(Object target, Object state) throws KilnFormatException {
        if (target instanceof PyObject o) {
            if (state instanceof Map<?, ?> || isSlotState(state)) putAttributes(o.state(), state);
            else o.state().put("__state__", state); // __setstate__ classes keep their state whole
        } else if (target instanceof PyOrderedDict d) {
            putAttributes(d.attributes(), state);
        } else {
            throw new KilnFormatException("cannot set the state of a " + typeName(target));
        }
    }

    private static boolean isSlotState(Object state) {
        return state instanceof PyTuple t && t.size() == 2 && (t.get(0) == null || t.get(0) instanceof Map)
                && (t.get(1) == null || t.get(1) instanceof Map);
    }

    private void putAttributes(Map<String, Object> into, Object state) throws KilnFormatException {
        if (state instanceof PyTuple t) {
            if (t.get(0) != null) putAttributes(into, t.get(0));
            if (t.get(1) != null) putAttributes(into, t.get(1));
            return;
        }
        for (Map.Entry<?, ?> e : ((Map<?, ?>) state).entrySet()) {
            if (!(e.getKey() instanceof String k)) throw new KilnFormatException("attribute name is a " + typeName(e.getKey()));
            into.put(k, e.getValue());
        }
    }

    private Object persistentLoad(Object pid) throws KilnFormatException {
        if (persistent == null) throw new KilnFormatException("a persistent id (" + typeName(pid) + ") but no loader for them");
        return persistent.load(pid);
    }

    // ------------------------------------------------------------------ stack, marks, memo

    private void push(Object v) throws KilnFormatException {
        if (stack.size() >= limits.maxStack()) throw fail("pickle stack deeper than " + limits.maxStack() + " items");
        stack.add(v);
    }

    private Object pop() throws KilnFormatException {
        int floor = markCount > 0 ? marks[markCount - 1] : 0;
        if (stack.size() <= floor) throw fail("stack underflow at byte " + opStart);
        return stack.removeLast();
    }

    private Object peek() throws KilnFormatException {
        int floor = markCount > 0 ? marks[markCount - 1] : 0;
        if (stack.size() <= floor) throw fail("stack underflow at byte " + opStart);
        return stack.getLast();
    }

    private List<Object> popN(int n) throws KilnFormatException {
        Object[] items = new Object[n];
        for (int i = n - 1; i >= 0; i--) items[i] = pop();
        return Arrays.asList(items);
    }

    private void pushMark() throws KilnFormatException {
        if (markCount >= limits.maxStack()) throw fail("more than " + limits.maxStack() + " open MARKs");
        if (markCount == marks.length) marks = Arrays.copyOf(marks, markCount * 2);
        marks[markCount++] = stack.size();
    }

    /** The items above the topmost MARK, removed from the stack with the mark. */
    private List<Object> popMark() throws KilnFormatException {
        if (markCount == 0) throw fail("no MARK before " + Op.name(in[opStart] & 0xff) + " at byte " + opStart);
        int from = marks[--markCount];
        List<Object> tail = stack.subList(from, stack.size());
        List<Object> items = new ArrayList<>(tail);
        tail.clear();
        return items;
    }

    private void memoPut(long index) throws KilnFormatException {
        if (memo.size() >= limits.maxMemo() && !memo.containsKey(index))
            throw fail("pickle memo larger than " + limits.maxMemo() + " entries");
        memo.put(index, peek());
    }

    private Object memoGet(long index) throws KilnFormatException {
        Object v = memo.get(index);
        if (v == null && !memo.containsKey(index)) throw fail("memo entry " + index + " read at byte " + opStart + " was never stored");
        return v;
    }

    // ------------------------------------------------------------------ typed pops

    @SuppressWarnings("unchecked")
    private static List<Object> list(Object o) throws KilnFormatException {
        if (o instanceof ArrayList<?> l) return (List<Object>) l;
        throw new KilnFormatException("expected a list, found a " + typeName(o));
    }

    @SuppressWarnings("unchecked")
    private static Map<Object, Object> map(Object o) throws KilnFormatException {
        if (o instanceof Map<?, ?> m) return (Map<Object, Object>) m;
        throw new KilnFormatException("expected a dict, found a " + typeName(o));
    }

    @SuppressWarnings("unchecked")
    private static Set<Object> set(Object o) throws KilnFormatException {
        if (o instanceof LinkedHashSet<?> s) return (Set<Object>) s;
        throw new KilnFormatException("expected a set, found a " + typeName(o));
    }

    private static PyTuple args(Object o) throws KilnFormatException {
        if (o instanceof PyTuple t) return t;
        throw new KilnFormatException("call arguments are a " + typeName(o) + ", not a tuple");
    }

    private static String string(Object o, String what) throws KilnFormatException {
        if (o instanceof String s) return s;
        throw new KilnFormatException("STACK_GLOBAL " + what + " is a " + typeName(o) + ", not a str");
    }

    private static PyTuple tuple(List<Object> items) {
        return new PyTuple(Collections.unmodifiableList(new ArrayList<>(items)));
    }

    /**
     * A dict or set key: scalars, strings, bytes, globals and tuples of them (Python refuses lists,
     * dicts and sets). Tuple keys are capped at 4096 nodes, since hashing one walks all of it.
     */
    static Object key(Object k) throws KilnFormatException {
        ArrayDeque<Object> todo = new ArrayDeque<>();
        todo.push(new Object[]{k});
        int budget = 4096;
        while (!todo.isEmpty()) {
            for (Object item : (Object[]) todo.pop()) {
                if (--budget < 0) throw new KilnFormatException("dict or set key is a tuple of more than 4096 items");
                switch (item) {
                    case null -> { }
                    case String s -> { }
                    case Long l -> { }
                    case BigInteger b -> { }
                    case Double d -> { }
                    case Boolean b -> { }
                    case byte[] b -> { }
                    case PyGlobal g -> { }
                    case PyTuple t -> todo.push(t.items().toArray());
                    default -> throw new KilnFormatException("unsupported dict or set key of type " + typeName(item));
                }
            }
        }
        return k;
    }

    private static List<Object> keys(List<Object> items) throws KilnFormatException {
        for (Object k : items) key(k);
        return items;
    }

    private static void putPairs(Map<Object, Object> into, List<Object> kv) throws KilnFormatException {
        if (kv.size() % 2 != 0) throw new KilnFormatException("odd number of items (" + kv.size() + ") for key/value pairs");
        for (int i = 0; i < kv.size(); i += 2) into.put(key(kv.get(i)), kv.get(i + 1));
    }

    /** The Python type name of a value, for errors. */
    static String typeName(Object o) {
        return switch (o) {
            case null -> "None";
            case Boolean b -> "bool";
            case Long l -> "int";
            case BigInteger b -> "int";
            case Double d -> "float";
            case String s -> "str";
            case byte[] b -> "bytes";
            case PyTuple t -> "tuple";
            case PyOrderedDict d -> "OrderedDict";
            case Map<?, ?> m -> "dict";
            case List<?> l -> "list";
            case Set<?> s -> "set";
            case PyObject p -> p.className();
            case PyGlobal g -> g.qualifiedName();
            default -> o.getClass().getSimpleName();
        };
    }

    // ------------------------------------------------------------------ input

    private KilnFormatException truncated(long need) {
        return fail("truncated pickle: " + Op.name(in[opStart] & 0xff) + " at byte " + opStart + " needs " + need
                + " bytes, " + (in.length - pos) + " left");
    }

    private void need(long n) throws KilnFormatException {
        if (n > in.length - pos) throw truncated(n);
    }

    private int u8() throws KilnFormatException { need(1); return in[pos++] & 0xff; }

    private int u16() throws KilnFormatException { need(2); int v = (in[pos] & 0xff) | (in[pos + 1] & 0xff) << 8; pos += 2; return v; }

    private int i32() throws KilnFormatException {
        need(4);
        int v = (in[pos] & 0xff) | (in[pos + 1] & 0xff) << 8 | (in[pos + 2] & 0xff) << 16 | (in[pos + 3] & 0xff) << 24;
        pos += 4;
        return v;
    }

    private long u32() throws KilnFormatException { return i32() & 0xffffffffL; }

    private long i64() throws KilnFormatException {
        need(8);
        long v = 0;
        for (int i = 7; i >= 0; i--) v = v << 8 | (in[pos + i] & 0xff);
        pos += 8;
        return v;
    }

    /** A declared length, checked against the bytes left (so nothing huge is ever allocated). */
    private int length(long n) throws KilnFormatException {
        if (n < 0) throw fail(Op.name(in[opStart] & 0xff) + " at byte " + opStart + " declares a negative length " + n);
        need(n);
        return (int) n;
    }

    private byte[] bytes(int n) throws KilnFormatException {
        need(n);
        byte[] b = Arrays.copyOfRange(in, pos, pos + n);
        pos += n;
        return b;
    }

    /** A text line (protocol 0 arguments, GLOBAL names) without its newline. */
    private String line() throws KilnFormatException {
        int end = pos;
        while (end < in.length && in[end] != '\n') end++;
        if (end >= in.length) throw fail("truncated pickle: " + Op.name(in[opStart] & 0xff) + " at byte " + opStart + " has no end of line");
        String s = new String(in, pos, end - pos, StandardCharsets.UTF_8);
        pos = end + 1;
        return s;
    }

    private long decimal(String s) throws KilnFormatException {
        try {
            return Long.parseLong(s.trim());
        } catch (NumberFormatException e) {
            throw new KilnFormatException("bad memo index " + printable(s));
        }
    }

    private static String utf8(byte[] b) { return new String(b, StandardCharsets.UTF_8); }

    private static String latin1(byte[] b) { return new String(b, StandardCharsets.ISO_8859_1); }

    /** A little-endian two's-complement integer: Long when it fits, else BigInteger. */
    static Object decodeLong(byte[] le) {
        if (le.length == 0) return 0L;
        byte[] be = new byte[le.length];
        for (int i = 0; i < le.length; i++) be[i] = le[le.length - 1 - i];
        BigInteger v = new BigInteger(be);
        return v.bitLength() < 64 ? (Object) v.longValue() : v;
    }

    /** Untrusted text for an error message: control characters escaped, at most 120 chars. */
    static String printable(String s) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < s.length() && sb.length() < 120; i++) {
            char c = s.charAt(i);
            if (c < 0x20 || c == 0x7f) sb.append(String.format("\\x%02x", (int) c));
            else sb.append(c);
        }
        if (sb.length() >= 120) sb.append("...");
        return sb.toString();
    }
}
