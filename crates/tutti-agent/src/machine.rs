//! Facts about the machine the agent runs on, for the Node's capacity and nodeInfo:
//! cores, memory, machine id, kernel, OS image, architecture. Reading is best-effort.

use std::path::Path;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Machine {
    pub cpus: u32,
    /// `MemTotal` from /proc/meminfo, in KiB.
    pub memory_kib: u64,
    pub machine_id: String,
    pub boot_id: String,
    pub system_uuid: String,
    pub kernel_version: String,
    pub os_image: String,
    /// Go's spelling: `amd64`, `arm64`.
    pub architecture: String,
}

impl Machine {
    /// Read this machine's facts; what cannot be read stays empty (or 0).
    pub fn read() -> Machine {
        let text = |p: &str| read_trimmed(Path::new(p));
        Machine {
            cpus: std::thread::available_parallelism()
                .map(|n| n.get() as u32)
                .unwrap_or(1),
            memory_kib: std::fs::read_to_string("/proc/meminfo")
                .ok()
                .and_then(|s| parse_meminfo_total(&s))
                .unwrap_or(0),
            machine_id: text("/etc/machine-id"),
            boot_id: text("/proc/sys/kernel/random/boot_id"),
            system_uuid: text("/sys/class/dmi/id/product_uuid"),
            kernel_version: text("/proc/sys/kernel/osrelease"),
            os_image: std::fs::read_to_string("/etc/os-release")
                .ok()
                .and_then(|s| parse_os_release(&s))
                .unwrap_or_else(|| "Linux".to_string()),
            architecture: go_arch(std::env::consts::ARCH).to_string(),
        }
    }
}

/// The effective uid of this process (from /proc/self/status), if it can be read.
pub fn effective_uid() -> Option<i64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_effective_uid(&status)
}

/// `Uid:\t1000\t1000\t1000\t1000` → 1000 (the second field is the effective uid).
pub fn parse_effective_uid(status: &str) -> Option<i64> {
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

fn read_trimmed(path: &Path) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// `MemTotal:       16318412 kB` → 16318412.
pub fn parse_meminfo_total(meminfo: &str) -> Option<u64> {
    meminfo.lines().find_map(|line| {
        let rest = line.strip_prefix("MemTotal:")?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"` → `Debian GNU/Linux 12 (bookworm)`.
pub fn parse_os_release(os_release: &str) -> Option<String> {
    os_release.lines().find_map(|line| {
        let value = line.strip_prefix("PRETTY_NAME=")?;
        Some(value.trim().trim_matches('"').to_string())
    })
}

/// Rust's architecture names as Go (and Kubernetes labels) spell them.
pub fn go_arch(rust_arch: &str) -> &str {
    match rust_arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo() {
        let s = "MemTotal:       16318412 kB\nMemFree:         1234 kB\n";
        assert_eq!(parse_meminfo_total(s), Some(16318412));
        assert_eq!(parse_meminfo_total("MemFree: 1 kB"), None);
    }

    #[test]
    fn os_release() {
        let s = "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n";
        assert_eq!(
            parse_os_release(s).as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
    }

    #[test]
    fn uid() {
        assert_eq!(
            parse_effective_uid("Name:\tx\nUid:\t1000\t0\t1000\t1000\n"),
            Some(0)
        );
    }

    #[test]
    fn arch() {
        assert_eq!(go_arch("x86_64"), "amd64");
        assert_eq!(go_arch("aarch64"), "arm64");
        assert_eq!(go_arch("riscv64"), "riscv64");
    }
}
