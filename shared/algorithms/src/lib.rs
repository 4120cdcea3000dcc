//! Switchyard's pure decision code: which target serves a request, how large a fleet should be.
//!
//! Nothing here performs I/O, awaits, reads a clock or draws randomness: time and random numbers
//! are passed in, so every decision is deterministic under test and cheap to benchmark.
