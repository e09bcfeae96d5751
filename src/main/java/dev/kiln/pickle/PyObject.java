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
 */
public record PyObject(String className, List<Object> args, Map<String, Object> state) {
    public Object get(String attr) { return state.get(attr); }
}
