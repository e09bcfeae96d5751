package dev.kiln.pickle;

import java.util.List;
import java.util.Map;

/**
 * An instance of an allow-listed Python class rebuilt from a pickle without running any code:
 * its qualified class name ("__torch__.torch.nn.modules.linear.Linear"), the constructor
 * arguments NEWOBJ/REDUCE gave (often empty), and the state BUILD set (attribute name -> value).
 * <p>
 * Pickled values map to Java as: None -> null, bool -> Boolean, int -> Long (BigInteger when it
 * does not fit), float -> Double, str -> String, bytes -> byte[], list -> java.util.ArrayList,
 * tuple -> {@link PyTuple}, dict -> java.util.LinkedHashMap, torch tensors -> dev.kiln.tensor.Tensor,
 * other allow-listed objects -> PyObject.
 * <p>
 * Also (see {@link Unpickler} and {@link TorchGlobals}): bytearray -> byte[], set ->
 * java.util.LinkedHashSet, frozenset -> an unmodifiable Set, collections.OrderedDict ->
 * {@link PyOrderedDict} (a LinkedHashMap with BUILD's attributes), a global used as a value
 * (torch.float32, torch.FloatStorage) -> {@link PyGlobal}, torch.device -> PyObject("torch.device",
 * [type(, index)], {}). A class with __setstate__ whose state is not a dict keeps it whole in
 * state under "__state__".
 */
public record PyObject(String className, List<Object> args, Map<String, Object> state) {
    public Object get(String attr) { return state.get(attr); }
}
