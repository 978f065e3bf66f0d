//! Probe and lifecycle hook validation: exactly one handler, sane thresholds and timings,
//! valid ports and schemes, and which container roles may have them.

use k8s_openapi::api::core::v1::{Container, HTTPGetAction, Probe};

use super::container::{ContainerRole, validate_port_num_or_name};
use super::meta::nonnegative;
use super::path::{Path, q};
use crate::error::FieldError;
use crate::names;

pub(super) fn validate_probes_and_hooks(
    c: &Container,
    path: &Path,
    role: ContainerRole,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let probes = [
        ("livenessProbe", &c.liveness_probe),
        ("readinessProbe", &c.readiness_probe),
        ("startupProbe", &c.startup_probe),
    ];
    for (field, probe) in probes {
        let Some(probe) = probe else {
            continue;
        };
        let p = path.child(field);
        if role == ContainerRole::Init {
            errs.push(FieldError::forbidden(
                &p,
                "may not be set for init containers without restartPolicy=Always",
            ));
            continue;
        }
        errs.extend(validate_probe(probe, &p));
        if field != "readinessProbe" && probe.success_threshold.is_some_and(|t| t != 1) {
            let value = probe.success_threshold.unwrap_or(1);
            errs.push(FieldError::invalid(
                p.child("successThreshold"),
                value,
                "must be 1",
            ));
        }
        if field == "readinessProbe" && probe.termination_grace_period_seconds.is_some() {
            errs.push(FieldError::invalid(
                p.child("terminationGracePeriodSeconds"),
                probe.termination_grace_period_seconds.unwrap_or(0),
                "must not be set for readinessProbes",
            ));
        }
    }
    if let Some(lifecycle) = &c.lifecycle {
        if role == ContainerRole::Init {
            errs.push(FieldError::forbidden(
                path.child("lifecycle"),
                "may not be set for init containers without restartPolicy=Always",
            ));
        }
        for (field, handler) in [
            ("postStart", &lifecycle.post_start),
            ("preStop", &lifecycle.pre_stop),
        ] {
            if let Some(h) = handler {
                let set = [
                    ("exec", h.exec.is_some()),
                    ("httpGet", h.http_get.is_some()),
                    ("tcpSocket", h.tcp_socket.is_some()),
                    ("sleep", h.sleep.is_some()),
                ];
                let hp = path.children(&["lifecycle", field]);
                errs.extend(validate_handler_count(&set, &hp));
                if let Some(http) = &h.http_get {
                    errs.extend(validate_http_get(http, &hp.child("httpGet")));
                }
            }
        }
    }
    errs
}

fn validate_handler_count(set: &[(&str, bool)], path: &Path) -> Vec<FieldError> {
    let chosen: Vec<&str> = set.iter().filter(|(_, on)| *on).map(|(n, _)| *n).collect();
    match chosen.as_slice() {
        [] => vec![FieldError::required(path).with_message("must specify a handler type")],
        [_] => Vec::new(),
        [_, second, ..] => vec![FieldError::forbidden(
            path.child(second),
            "may not specify more than 1 handler type",
        )],
    }
}

fn validate_probe(probe: &Probe, path: &Path) -> Vec<FieldError> {
    let set = [
        ("exec", probe.exec.is_some()),
        ("httpGet", probe.http_get.is_some()),
        ("tcpSocket", probe.tcp_socket.is_some()),
        ("grpc", probe.grpc.is_some()),
    ];
    let mut errs = validate_handler_count(&set, path);
    if let Some(exec) = &probe.exec
        && exec.command.as_ref().is_none_or(Vec::is_empty)
    {
        errs.push(FieldError::required(path.children(&["exec", "command"])));
    }
    if let Some(http) = &probe.http_get {
        errs.extend(validate_http_get(http, &path.child("httpGet")));
    }
    if let Some(tcp) = &probe.tcp_socket {
        errs.extend(validate_port_num_or_name(
            &tcp.port,
            &path.children(&["tcpSocket", "port"]),
        ));
    }
    if let Some(grpc) = &probe.grpc {
        for msg in names::is_valid_port_num(i64::from(grpc.port)) {
            errs.push(FieldError::invalid(
                path.children(&["grpc", "port"]),
                grpc.port,
                msg,
            ));
        }
    }
    let numbers = [
        ("initialDelaySeconds", probe.initial_delay_seconds),
        ("timeoutSeconds", probe.timeout_seconds),
        ("periodSeconds", probe.period_seconds),
        ("successThreshold", probe.success_threshold),
        ("failureThreshold", probe.failure_threshold),
    ];
    for (field, value) in numbers {
        if let Some(v) = value {
            errs.extend(nonnegative(i64::from(v), &path.child(field)));
        }
    }
    if let Some(grace) = probe.termination_grace_period_seconds
        && grace <= 0
    {
        errs.push(FieldError::invalid(
            path.child("terminationGracePeriodSeconds"),
            grace,
            "must be greater than 0",
        ));
    }
    errs
}

fn validate_http_get(http: &HTTPGetAction, path: &Path) -> Vec<FieldError> {
    let mut errs = validate_port_num_or_name(&http.port, &path.child("port"));
    if let Some(scheme) = http.scheme.as_deref()
        && scheme != "HTTP"
        && scheme != "HTTPS"
    {
        errs.push(FieldError::not_supported(
            path.child("scheme"),
            q(scheme),
            &["HTTP", "HTTPS"],
        ));
    }
    errs
}
