//! What /proc says about a host process: is it still the one we started (start time, not a
//! zombie), its process group's memory and CPU, and its environment and working directory
//! (for exec).

use std::path::PathBuf;

use rustix::process::Pid;

/// Fields of /proc/<pid>/stat we use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stat {
    pub state: char,
    pub pgrp: i32,
    pub utime: u64,
    pub stime: u64,
    pub start_ticks: u64,
    pub rss_pages: u64,
}

/// Parse /proc/<pid>/stat; the command name may hold spaces and parentheses, so fields are
/// counted after the last `)`.
pub(crate) fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (state) of proc(5).
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
    Some(Stat {
        state: fields.first()?.chars().next()?,
        pgrp: fields.get(5 - 3)?.parse().ok()?,
        utime: field(14)?,
        stime: field(15)?,
        start_ticks: field(22)?,
        rss_pages: field(24)?,
    })
}

pub(crate) fn stat(pid: i32) -> Option<Stat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// The process we started is still running: same start time, not a zombie.
pub(crate) fn alive(pid: i32, start_ticks: u64) -> bool {
    match stat(pid) {
        Some(s) => s.start_ticks == start_ticks && s.state != 'Z' && s.state != 'X',
        None => false,
    }
}

/// Memory (resident bytes) and CPU time (ns) of every process in the group `pgid`.
pub(crate) fn group_usage(pgid: i32) -> (u64, u64) {
    let page = rustix::param::page_size() as u64;
    let tick_ns = 1_000_000_000 / rustix::param::clock_ticks_per_second().max(1);
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return (0, 0);
    };
    let mut memory = 0u64;
    let mut cpu = 0u64;
    for pid in entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
    {
        if let Some(s) = stat(pid).filter(|s| s.pgrp == pgid) {
            memory = memory.saturating_add(s.rss_pages.saturating_mul(page));
            cpu = cpu.saturating_add((s.utime + s.stime).saturating_mul(tick_ns));
        }
    }
    (memory, cpu)
}

/// The process's environment (NUL-separated `K=V`).
pub(crate) fn environ(pid: i32) -> Vec<(String, String)> {
    let Ok(bytes) = std::fs::read(format!("/proc/{pid}/environ")) else {
        return Vec::new();
    };
    bytes
        .split(|b| *b == 0)
        .filter_map(|kv| {
            let kv = String::from_utf8_lossy(kv);
            let (k, v) = kv.split_once('=')?;
            Some((k.to_string(), v.to_string()))
        })
        .collect()
}

pub(crate) fn cwd(pid: i32) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/cwd")).ok()
}

/// Real uid and gid from /proc/<pid>/status.
pub(crate) fn owner(pid: i32) -> Option<(u32, u32)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let first = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u32>().ok())
    };
    Some((first("Uid:")?, first("Gid:")?))
}

pub(crate) fn pid(raw: i32) -> Option<Pid> {
    Pid::from_raw(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_survives_odd_command_names() {
        let line = "1234 (a) b (c) S 1 1234 1234 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 98765 1000 250 18446744073709551615";
        let s = parse_stat(line);
        assert_eq!(
            s,
            Some(Stat {
                state: 'S',
                pgrp: 1234,
                utime: 7,
                stime: 3,
                start_ticks: 98765,
                rss_pages: 250
            })
        );
    }

    #[test]
    fn this_process_is_alive_and_pid_reuse_is_detected() {
        let me = std::process::id() as i32;
        let Some(s) = stat(me) else {
            panic!("no /proc/self/stat")
        };
        assert!(alive(me, s.start_ticks));
        assert!(!alive(me, s.start_ticks + 1));
        assert!(environ(me).iter().any(|(k, _)| k == "PATH") || std::env::var("PATH").is_err());
    }
}
