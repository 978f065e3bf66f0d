//! node lifecycle controller (in progress)

pub fn spawn(_client: kube::Client, _config: crate::ControllerConfig) {}
