package dev.kiln.dist;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.backend.Backend;
import dev.kiln.backend.Backends;
import dev.kiln.nn.Module;
import dev.kiln.optim.SGD;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * DDP over a process group that, like NCCL, takes only tensors on its own device, without a GPU: a
 * stand-in device backend (host memory, the CPU kernels, but a backend of its own) and a one-rank
 * group that rejects tensors elsewhere. The gradient bucket must live on the parameters' device (it
 * was a CPU tensor, which NCCL rejects), and DistributedTraining must refuse a model that is not on
 * the group's device with a one-line error.
 */
class DeviceGroupTest {
    /** A backend of its own that allocates host memory and runs the CPU kernels. */
    static Backend fakeDevice() {
        Backend cpu = Backends.cpu();
        Backend[] self = new Backend[1];
        self[0] = (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[] {Backend.class}, (proxy, m, args) -> {
            switch (m.getName()) {
                case "name", "toString": return "fakedev";
                case "hashCode": return System.identityHashCode(proxy);
                case "equals": return proxy == args[0];
                case "allocate": return Storage.allocateHost(self[0], (Long) args[0]);
                case "allocateUninitialized": return Storage.allocateHost(self[0], (Long) args[0], false);
                default:
                    try {
                        return m.invoke(cpu, args);
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    }
            }
        });
        return self[0];
    }

    /** A one-rank group whose collectives, like NCCL's, take tensors on {@code device} only. */
    static ProcessGroup deviceGroup(Backend device) {
        ProcessGroup inner = new LocalProcessGroup.World(1, Duration.ofSeconds(30)).group(0);
        return (ProcessGroup) Proxy.newProxyInstance(ProcessGroup.class.getClassLoader(), new Class<?>[] {ProcessGroup.class}, (proxy, m, args) -> {
            if (m.getName().equals("tensorBackend")) return device;
            if (m.getName().equals("backend")) return "fakenccl";
            for (Object a : args == null ? new Object[0] : args) {
                List<?> ts = a instanceof Tensor t ? List.of(t) : a instanceof List<?> l ? l : List.of();
                for (Object o : ts)
                    if (o instanceof Tensor t && t.backend() != device)
                        throw new IllegalArgumentException("fakenccl " + m.getName() + ": tensor lives on " + t.backend().name());
            }
            try {
                return m.invoke(inner, args);
            } catch (InvocationTargetException e) {
                throw e.getCause();
            }
        });
    }

    /** y = x * w, with w on a chosen backend. */
    static final class Scale extends Module {
        final Tensor w;

        Scale(Backend b) {
            Tensor host = Tensor.fromArray(new float[] {1, 2, 3}, 3);
            w = registerParameter("w", host.to(b));
            host.close();
        }

        @Override public Tensor forward(Tensor x) { return x.mul(w); }
    }

    @Test
    void gradientBucketLivesOnTheParametersDevice() {
        Backend dev = fakeDevice();
        try (Scale m = new Scale(dev); GradBucket b = new GradBucket(0, List.of(m.w), List.of("w"))) {
            assertSame(dev, b.backend());
        }
    }

    @Test
    void ddpStepRunsOnAGroupThatTakesDeviceTensorsOnly() {
        Backend dev = fakeDevice();
        try (Scale m = new Scale(dev); DistributedTraining dist = DistributedTraining.of(deviceGroup(dev))) {
            assertSame(dev, dist.device());
            Module net = dist.wrap(m);
            var opt = dist.wrap(new SGD(m.parameters(), 0.5));
            try (Tensor x = Tensor.fromArray(new float[] {1, 1, 1}, 3).to(dev)) {
                net.forward(x).sum().backward();
            }
            opt.step();  // finishes the all-reduce of the (device) bucket, then steps
            assertArrayEquals(new float[] {0.5f, 1.5f, 2.5f}, m.w.toFloatArray());
        }
    }

    @Test
    void aModelOffTheGroupsDeviceIsRefusedInOneLine() {
        Backend dev = fakeDevice();
        try (Scale m = new Scale(Backends.cpu()); DistributedTraining dist = DistributedTraining.of(deviceGroup(dev))) {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> dist.wrap(m));
            assertTrue(e.getMessage().startsWith("DistributedTraining: the fakenccl group takes tensors on fakedev but w is on cpu"),
                    e.getMessage());
        }
    }

    @Test
    void theCpuGroupsTakeHostTensors() {
        try (LocalProcessGroup g = new LocalProcessGroup.World(1, Duration.ofSeconds(5)).group(0)) {
            assertSame(Backends.cpu(), g.tensorBackend());
        }
    }
}
