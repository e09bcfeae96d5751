package dev.kiln.torchscript.interp;

import dev.kiln.autograd.GradMode;
import dev.kiln.pickle.PyObject;
import dev.kiln.pickle.PyTuple;
import dev.kiln.tensor.Tensor;
import dev.kiln.torchscript.lang.ClassDef;
import dev.kiln.torchscript.lang.Expr;
import dev.kiln.torchscript.lang.FunctionDef;
import dev.kiln.torchscript.lang.Stmt;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Tree-walking interpreter for TorchScript code/. Module instances are the unpickled PyObjects;
 * their methods come from the class definitions in code/ (looked up by the PyObject's class
 * name). Calls to torch.* / ops.* / Python builtins go through the {@link OpTable}, and nothing
 * else: a program can reach no Java code except the table's entries. Call depth and loop
 * iterations are bounded by {@link Limits}. Runs without autograd (inference only).
 * Expressions are evaluated by {@link Evaluator}.
 */
public final class Interpreter {
    final CodeBase code;
    final List<Object> constants;
    final OpTable ops;
    final Limits limits;
    private final Evaluator eval;
    private int depth;

    public Interpreter(CodeBase code, List<Object> constants, Limits limits) {
        this.code = code;
        this.constants = constants == null ? List.of() : constants;
        this.ops = OpTable.standard();
        this.limits = limits;
        this.eval = new Evaluator(this);
    }

    /** Builds an interpreter from the archive's pieces: code/ sources (path -> text) and constants.pkl. */
    /** The full names of every builtin a program may call ("torch.sigmoid", "ops.aten.sigmoid", ...), for the op table. */
    public static java.util.Set<String> builtins() { return new java.util.TreeSet<>(OpTable.standard().names()); }

    public static Interpreter of(Map<String, String> code, List<Object> constants) {
        return new Interpreter(CodeBase.parse(code), constants, Limits.defaults());
    }

    /**
     * Times every builtin call (torch.*, ops.*, builtins) by op name from now on, or stops when
     * on is false; returns the profile (null when off). Module calls are not ops: their time is
     * that of the ops inside them.
     */
    public dev.kiln.onnx.OnnxProfile profile(boolean on) {
        ops.profile = on ? new dev.kiln.onnx.OnnxProfile() : null;
        return ops.profile;
    }

    /** Calls self.method(args...) with autograd off. */
    public Object callMethod(PyObject self, String method, List<Object> args) {
        ClassDef cls = classOf(self);
        FunctionDef f = cls.method(method);
        if (f == null) throw new ScriptException("class " + cls.qualifiedName() + " has no method '" + method + "'");
        try (GradMode.Guard g = GradMode.noGrad()) {
            return invoke(f, self, args, Map.of());
        } catch (StackOverflowError e) { // a safety net: depth limits normally stop first
            throw new ScriptException("the Java stack was exhausted running " + cls.qualifiedName() + "." + method
                    + " (recursion too deep)");
        }
    }

    /** The class definition of a module instance. */
    public ClassDef classOf(PyObject o) {
        ClassDef c = code.classDef(o.className());
        if (c == null) throw new ScriptException("no code/ definition for class " + o.className());
        return c;
    }

    /** One activation: local variables, the function (for error locations), the returned value. */
    static final class Frame {
        final Map<String, Object> vars = new HashMap<>();
        final FunctionDef fn;
        Object ret;

        Frame(FunctionDef fn) { this.fn = fn; }

        String file() { return fn == null ? "<expr>" : fn.file(); }
    }

    private enum Flow { NORMAL, BREAK, CONTINUE, RETURN }

    Object invoke(FunctionDef fn, PyObject self, List<Object> args, Map<String, Object> kwargs) {
        if (++depth > limits.maxCallDepth()) {
            depth--;
            throw new ScriptException("call depth limit of " + limits.maxCallDepth() + " exceeded calling '" + fn.name() + "'");
        }
        try {
            Frame fr = new Frame(fn);
            bind(fn, fr, self, args, kwargs);
            Flow flow = execBlock(fn.body(), fr);
            return flow == Flow.RETURN ? fr.ret : null;
        } finally {
            depth--;
        }
    }

    private void bind(FunctionDef fn, Frame fr, PyObject self, List<Object> args, Map<String, Object> kwargs) {
        List<FunctionDef.Param> ps = fn.params();
        int first = 0;
        if (self != null) {
            if (ps.isEmpty()) throw new ScriptException("method '" + fn.name() + "' has no self parameter");
            fr.vars.put(ps.get(0).name(), self);
            first = 1;
        }
        int avail = ps.size() - first;
        if (args.size() > avail)
            throw new ScriptException(fn.name() + "() takes " + avail + " arguments but " + args.size() + " were given");
        for (int i = 0; i < args.size(); i++) fr.vars.put(ps.get(first + i).name(), args.get(i));
        int used = 0;
        for (int i = first + args.size(); i < ps.size(); i++) {
            FunctionDef.Param p = ps.get(i);
            if (kwargs.containsKey(p.name())) {
                fr.vars.put(p.name(), kwargs.get(p.name()));
                used++;
            } else if (p.defaultValue() != null) {
                fr.vars.put(p.name(), eval.eval(p.defaultValue(), new Frame(fn)));
            } else {
                throw new ScriptException(fn.name() + "() missing argument '" + p.name() + "'");
            }
        }
        if (used != kwargs.size())
            throw new ScriptException(fn.name() + "() got an unexpected keyword argument among " + kwargs.keySet());
    }

    private Flow execBlock(List<Stmt> body, Frame fr) {
        for (Stmt s : body) {
            Flow f = exec(s, fr);
            if (f != Flow.NORMAL) return f;
        }
        return Flow.NORMAL;
    }

    private Flow exec(Stmt s, Frame fr) {
        try {
            return execUnchecked(s, fr);
        } catch (ScriptException e) {
            if (e.located()) throw e;
            throw ScriptException.at(fr.file(), s.line(), e);
        } catch (IllegalArgumentException | IllegalStateException | IndexOutOfBoundsException
                 | ArithmeticException | UnsupportedOperationException | ClassCastException e) {
            throw ScriptException.at(fr.file(), s.line(), e);
        }
    }

    private Flow execUnchecked(Stmt s, Frame fr) {
        switch (s) {
            case Stmt.Assign a -> assign(a.target(), eval.eval(a.value(), fr), fr);
            case Stmt.AnnAssign a -> {
                if (a.value() != null) assign(a.target(), eval.eval(a.value(), fr), fr);
            }
            case Stmt.AugAssign a -> assign(a.target(), eval.binary(a.op(), eval.eval(a.target(), fr),
                    eval.eval(a.value(), fr)), fr);
            case Stmt.ExprStmt e -> eval.eval(e.value(), fr);
            case Stmt.If i -> {
                return execBlock(Values.truthy(eval.eval(i.test(), fr)) ? i.body() : i.orelse(), fr);
            }
            case Stmt.For f -> { return forLoop(f, fr); }
            case Stmt.While w -> { return whileLoop(w, fr); }
            case Stmt.Return r -> {
                fr.ret = r.value() == null ? null : eval.eval(r.value(), fr);
                return Flow.RETURN;
            }
            case Stmt.Pass p -> { }
            case Stmt.Break b -> { return Flow.BREAK; }
            case Stmt.Continue c -> { return Flow.CONTINUE; }
            case Stmt.Raise r -> throw new ScriptException.ScriptRaise(
                    r.exception() == null ? "Exception" : Values.str(eval.eval(r.exception(), fr)));
            case Stmt.Assert a -> {
                if (!Values.truthy(eval.eval(a.test(), fr)))
                    throw new ScriptException.ScriptRaise("AssertionError"
                            + (a.msg() == null ? "" : ": " + Values.str(eval.eval(a.msg(), fr))));
            }
            case Stmt.Def d -> throw new ScriptException("nested function definitions are not supported");
        }
        return Flow.NORMAL;
    }

    private Flow forLoop(Stmt.For f, Frame fr) {
        Object iterable = eval.eval(f.iter(), fr);
        long n = 0;
        for (Object item : Iteration.of(iterable, this)) {
            if (++n > limits.maxLoopIterations())
                throw new ScriptException("loop iteration limit of " + limits.maxLoopIterations() + " exceeded");
            assign(f.target(), item, fr);
            Flow flow = execBlock(f.body(), fr);
            if (flow == Flow.BREAK) break;
            if (flow == Flow.RETURN) return flow;
        }
        return Flow.NORMAL;
    }

    private Flow whileLoop(Stmt.While w, Frame fr) {
        long n = 0;
        while (Values.truthy(eval.eval(w.test(), fr))) {
            if (++n > limits.maxLoopIterations())
                throw new ScriptException("loop iteration limit of " + limits.maxLoopIterations() + " exceeded");
            Flow flow = execBlock(w.body(), fr);
            if (flow == Flow.BREAK) break;
            if (flow == Flow.RETURN) return flow;
        }
        return Flow.NORMAL;
    }

    @SuppressWarnings("unchecked")
    private void assign(Expr target, Object value, Frame fr) {
        switch (target) {
            case Expr.Name n -> fr.vars.put(n.id(), value);
            case Expr.TupleExpr t -> unpack(t.items(), value, fr);
            case Expr.ListExpr l -> unpack(l.items(), value, fr);
            case Expr.Attribute a -> {
                Object obj = eval.eval(a.value(), fr);
                if (!(obj instanceof PyObject o)) throw new ScriptException("cannot set attribute '" + a.attr()
                        + "' on " + Values.typeName(obj));
                o.state().put(a.attr(), value);
            }
            case Expr.Subscript s -> {
                Object obj = eval.eval(s.value(), fr);
                Object key = eval.eval(s.index(), fr);
                if (obj instanceof List<?> l && !(obj instanceof PyTuple)) {
                    int i = Iteration.index(Values.toLong(key, "list index"), l.size());
                    ((List<Object>) l).set(i, value);
                } else if (obj instanceof Map<?, ?> m) {
                    ((Map<Object, Object>) m).put(key, value);
                } else {
                    throw new ScriptException("item assignment on " + Values.typeName(obj) + " is not supported");
                }
            }
            default -> throw new ScriptException("cannot assign to " + target.getClass().getSimpleName());
        }
    }

    private void unpack(List<Expr> targets, Object value, Frame fr) {
        List<Object> items = Values.items(value, "unpacking");
        if (items.size() != targets.size())
            throw new ScriptException("cannot unpack " + items.size() + " values into " + targets.size() + " targets");
        for (int i = 0; i < targets.size(); i++) assign(targets.get(i), items.get(i), fr);
    }

    /** Attribute of a module instance: its state, then class constants, then methods. */
    Object moduleAttr(PyObject o, String attr) {
        if (o.state().containsKey(attr)) return o.state().get(attr);
        ClassDef cls = classOf(o);
        Expr c = cls.constants().get(attr);
        if (c != null) return eval.eval(c, new Frame(null));
        FunctionDef m = cls.method(attr);
        if (m != null) return new Refs.BoundMethod(o, cls, m);
        throw new ScriptException("module " + o.className() + " has no attribute '" + attr + "'");
    }

    static Map<String, Object> newKwargs() { return new LinkedHashMap<>(); }

    static List<Object> newList() { return new ArrayList<>(); }

    static boolean isTensor(Object o) { return o instanceof Tensor; }

    /** Whether a builtin name ("torch.linear", "ops.prim.dtype") is one this interpreter runs. */
    public boolean supports(String builtin) { return ops.has(builtin); }
}
