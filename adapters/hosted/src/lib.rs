//! # irq-hosted
//!
//! **Skeleton.** Partitions as Linux processes, the runnable main job. Filled by the
//! hosted-runner issue; no API yet.
