//! The manager's flags for its controllers (`--event-ttl`), shared by `tutti server`,
//! `tutti dev` and `tutti join --manager`. Only the Raft leader runs controllers, so the
//! setting in force is the leader's: give every manager the same.

use std::time::Duration;

/// Flags of the controllers the leader runs.
#[derive(clap::Args, Clone, Debug)]
pub struct ControllerArgs {
    /// How long an Event is kept after it was last written (created, or updated e.g. its
    /// count bumped), as Kubernetes' `--event-ttl`: a Go duration such as 1h, 30m, 1h30m or
    /// 90s; at least 1s.
    #[arg(long, default_value = "1h", value_parser = parse_event_ttl)]
    pub event_ttl: Duration,
}

impl ControllerArgs {
    /// The controllers' settings: these flags and the cluster's pod range.
    pub fn config(
        &self,
        network: &crate::node::NetworkArgs,
    ) -> tutti_controllers::ControllerConfig {
        tutti_controllers::ControllerConfig {
            cluster_cidr: (network.cluster_cidr.addr, network.cluster_cidr.prefix),
            event_ttl: self.event_ttl,
            ..Default::default()
        }
    }
}

/// `--event-ttl`: a positive Go duration of at least a second. Zero is refused rather than
/// read as "never": Kubernetes has no such setting, and Events kept forever are what this
/// flag exists to prevent.
fn parse_event_ttl(s: &str) -> Result<Duration, String> {
    let ttl = tutti_core::duration::parse_go_duration(s).ok_or_else(|| {
        format!("{s:?} is not a duration: use a number and h, m, s or ms, like 1h, 30m or 1h30m")
    })?;
    if ttl.is_zero() {
        return Err(format!(
            "{s:?}: Events would expire as soon as they are written; give a positive TTL \
             (1h is Kubernetes' default; there is no setting that keeps Events forever, \
             a long one such as 720h comes close)"
        ));
    }
    if ttl < Duration::from_secs(1) {
        return Err(format!("{s:?}: the TTL must be at least 1s"));
    }
    Ok(ttl)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        controllers: ControllerArgs,
    }

    fn ttl(args: &[&str]) -> Result<Duration, String> {
        Flags::try_parse_from(std::iter::once("tutti").chain(args.iter().copied()))
            .map(|f| f.controllers.event_ttl)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn event_ttl_defaults_to_an_hour_and_takes_go_durations() {
        assert_eq!(ttl(&[]), Ok(Duration::from_secs(3600)));
        assert_eq!(ttl(&["--event-ttl", "30m"]), Ok(Duration::from_secs(1800)));
        assert_eq!(ttl(&["--event-ttl=1h30m"]), Ok(Duration::from_secs(5400)));
        assert_eq!(
            ttl(&["--event-ttl", "1h0m0s"]),
            Ok(Duration::from_secs(3600))
        );
        assert_eq!(
            ttl(&["--event-ttl", "1.5s"]),
            Ok(Duration::from_millis(1500))
        );
        assert_eq!(
            ttl(&["--event-ttl", "720h"]),
            Ok(Duration::from_secs(720 * 3600))
        );
    }

    #[test]
    fn event_ttl_refuses_zero_short_and_malformed_values_saying_why() {
        let zero = ttl(&["--event-ttl", "0"]).unwrap_err();
        assert!(
            zero.contains("expire as soon as they are written"),
            "{zero}"
        );
        assert!(
            ttl(&["--event-ttl", "0s"])
                .unwrap_err()
                .contains("positive TTL")
        );
        assert!(
            ttl(&["--event-ttl", "500ms"])
                .unwrap_err()
                .contains("at least 1s")
        );
        for bad in ["1d", "10", "h", "-1h", "1h-5m", ""] {
            let e = ttl(&[&format!("--event-ttl={bad}")]).unwrap_err();
            assert!(e.contains("is not a duration"), "{bad}: {e}");
        }
    }
}
