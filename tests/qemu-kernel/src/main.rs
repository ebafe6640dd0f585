//! **Skeleton.** The end-to-end test kernel; filled by the x86 issue. On the host this
//! binary does nothing.

fn main() {}
