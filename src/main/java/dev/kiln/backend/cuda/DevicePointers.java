package dev.kiln.backend.cuda;

import org.bytedeco.javacpp.Pointer;

/**
 * Device addresses are plain longs in Kiln (the allocator hands out longs); JavaCPP's calls take a
 * {@link Pointer}. This wraps an address without owning or freeing it.
 */
final class DevicePointers {
    private DevicePointers() {}

    /** A non-owning Pointer whose address is {@code address}. */
    static Pointer at(long address) {
        return new Address(address);
    }

    private static final class Address extends Pointer {
        Address(long address) {
            this.address = address;
        }
    }
}
