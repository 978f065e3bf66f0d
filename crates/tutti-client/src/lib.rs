//! tutti-client: what every component that talks to the API shares — the scheduler, the
//! controllers and the node agent all record Events the same way.

pub mod events;

pub use events::{EventType, Recorder, reference};
