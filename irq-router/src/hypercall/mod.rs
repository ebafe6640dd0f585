//! The hypercall ABI: numbered, versioned calls a partition makes, decoded from raw,
//! untrusted registers into typed requests or typed errors.
