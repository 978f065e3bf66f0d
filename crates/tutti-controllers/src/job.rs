//! job controller (in progress)

pub fn spawn(_client: kube::Client) {}
