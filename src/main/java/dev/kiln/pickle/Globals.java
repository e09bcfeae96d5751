package dev.kiln.pickle;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The allow-list of Python globals an {@link Unpickler} may name. A pickle can only build objects
 * through globals listed here, each mapped to a Java {@link PyGlobal.Handler}; every other name
 * ({@code os.system}, {@code builtins.eval}, ...) is refused when the pickle names it, before
 * anything could be called. Nothing is ever imported or executed.
 * <pre>
 * Globals g = Globals.torch();                       // what torch.save / torch.jit.save need
 * g.allow("mylib", "Point", args -&gt; ...);             // extend it for another producer
 * </pre>
 */
public final class Globals {
    private final Map<String, PyGlobal> exact = new HashMap<>();
    private final List<String> classModules = new ArrayList<>();

    /** An empty allow-list: every global is refused. */
    public Globals() {}

    /** The globals {@code torch.save} and {@code torch.jit.save} write (see {@link TorchGlobals}). */
    public static Globals torch() {
        Globals g = new Globals();
        TorchGlobals.register(g);
        return g;
    }

    /** Allows module.name, built by handler when called. */
    public Globals allow(String module, String name, PyGlobal.Handler handler) {
        exact.put(key(module, name), new PyGlobal(module, name, handler));
        return this;
    }

    /** Allows module.name as a marker value only (calling it is an error). */
    public Globals allowMarker(String module, String name) { return allow(module, name, null); }

    /**
     * Allows every class of a module and its submodules (e.g. "__torch__" for TorchScript's module
     * classes): calling one, or NEWOBJ, makes an empty {@link PyObject} that BUILD fills.
     */
    public Globals allowClasses(String module) {
        classModules.add(module);
        return this;
    }

    /** The allowed global, or null when the allow-list refuses it. */
    public PyGlobal resolve(String module, String name) {
        PyGlobal g = exact.get(key(module, name));
        if (g != null) return g;
        for (String m : classModules) {
            if ((module.equals(m) || module.startsWith(m + ".")) && isIdentifier(name)) {
                String cls = module + "." + name;
                return new PyGlobal(module, name, args -> new PyObject(cls, args.items(), new LinkedHashMap<>()));
            }
        }
        return null;
    }

    private static String key(String module, String name) { return module + "\u0000" + name; }

    private static boolean isIdentifier(String s) {
        if (s.isEmpty() || !Character.isJavaIdentifierStart(s.charAt(0))) return false;
        for (int i = 1; i < s.length(); i++) if (!Character.isJavaIdentifierPart(s.charAt(i))) return false;
        return true;
    }
}
