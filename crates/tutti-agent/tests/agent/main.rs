//! The agent against a real (in-process) API server, with an in-memory fake driver and
//! with the real process driver.

mod fake;
mod hollow;
mod lifecycle;
mod logs;
mod node;
mod pods;
mod probes;
mod process;
mod readopt;
mod support;
mod volumes;
