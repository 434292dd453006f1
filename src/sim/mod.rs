//! Simulators of the two remote systems casebridge talks to, for the demo
//! and the tests: real servers on loopback, faithful to the specs in
//! `shared/spec`, quirks included.

pub mod gsem;
pub mod pki;
pub mod servicenow;
