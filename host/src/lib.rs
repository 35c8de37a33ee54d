//! RingKernel host runtime.
