//! Link arguments for the bare-metal kernel, and the partitions' program built and
//! flattened into the image it embeds (`tests/qemu-guest`): see
//! `guest_image::kernel_build_script`.

fn main() {
    // Where the partitions' image is linked and mapped (`qemu_guest::GUEST_BASE`).
    guest_image::kernel_build_script("qemu-guest", 0x40_0000);
}
