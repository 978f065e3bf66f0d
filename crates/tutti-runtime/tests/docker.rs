//! The conformance suite against the docker driver, plus what only it promises: pod
//! network, images by pull policy, OOMKilled, securityContext, bind mounts.
//!
//! Requires a running Docker Engine and the locally built images: these tests FAIL (never
//! skip) without them. Run `scripts/docker.sh && scripts/images.sh` first.

mod conformance;

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use conformance::{DriverFactory, IDLE, exited, logs, pod, sandbox, shell, start, wait_for_log};
use tutti_runtime::docker::DockerDriver;
use tutti_runtime::{
    ContainerSpec, ContainerState, Mount, PortMapping, PullPolicy, RuntimeDriver, RuntimeError,
    SandboxSpec,
};

const REQUIRED: &str = "Docker is required: run scripts/docker.sh && scripts/images.sh";

/// The node the conformance drivers work for (every restart of one is the same node).
const NODE: &str = "conformance";

struct Docker;

impl DriverFactory for Docker {
    type D = DockerDriver;

    async fn make(&self) -> DockerDriver {
        connect(NODE).await
    }

    fn image(&self) -> &str {
        "busybox:latest"
    }
}

crate::conformance_suite!(Docker);

/// The driver of node `name` on the local engine.
async fn connect(name: &str) -> DockerDriver {
    DockerDriver::connect(name)
        .await
        .unwrap_or_else(|e| panic!("{REQUIRED} ({e})"))
}

/// A one-container pod running `script`; its exit code, reason and logs.
async fn run_once(
    name: &str,
    script: &str,
    edit: impl FnOnce(&mut ContainerSpec),
) -> (i32, String, String) {
    let d = Docker.make().await;
    let pod = pod(name);
    let sb = sandbox(&d, &pod).await;
    let mut spec = shell(&Docker, &pod, name, script);
    edit(&mut spec);
    let c = start(&d, &sb, &spec).await;
    let (code, reason) = exited(&d, &c.id).await;
    let out = logs(&d, &c.id, Default::default()).await;
    conformance::cleanup(&d, &pod, &[&c.id]).await;
    (code, reason, out)
}

#[tokio::test]
async fn images_follow_the_pull_policy() {
    let d = Docker.make().await;
    let absent = "tutti/absent-image:1";
    match d.ensure_image(absent, PullPolicy::Never).await {
        Err(RuntimeError::ImageNeverPull { image }) => assert_eq!(image, absent),
        other => panic!("expected ImageNeverPull, got {other:?}"),
    }
    match d.ensure_image(absent, PullPolicy::IfNotPresent).await {
        Err(RuntimeError::ImagePull { image, detail }) => {
            assert_eq!(image, absent);
            assert!(!detail.is_empty());
        }
        other => panic!("expected ImagePull, got {other:?}"),
    }
    for image in ["busybox", "nginx", "busybox:latest"] {
        let info = d
            .ensure_image(image, PullPolicy::Never)
            .await
            .expect(REQUIRED);
        assert!(info.image_id.starts_with("docker://sha256:"), "{info:?}");
    }
    // `Always` with no registry: the local image is used.
    d.ensure_image("busybox", PullPolicy::Always)
        .await
        .expect("local busybox");
    assert!(d.version().await.expect("version").starts_with("docker://"));
}

#[tokio::test]
async fn a_container_over_its_memory_limit_is_oom_killed() {
    let (code, reason, _) = run_once(
        "oom",
        "x=aaaaaaaaaaaaaaaa; while true; do x=$x$x; done",
        |s| {
            s.memory_limit_bytes = Some(16 << 20);
        },
    )
    .await;
    assert_eq!((code, reason.as_str()), (137, "OOMKilled"));
}

#[tokio::test]
async fn a_cpu_limit_becomes_a_cfs_quota() {
    // cgroup v2 shows "25000 100000" in cpu.max; v1 the quota in cpu.cfs_quota_us.
    let script =
        "cat /sys/fs/cgroup/cpu.max 2>/dev/null || cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us";
    let (code, _, out) = run_once("cpu", script, |s| s.cpu_limit_millis = Some(250)).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("25000"), "{out}");
}

#[tokio::test]
async fn containers_of_a_pod_share_its_ip_hostname_and_localhost() {
    let d = Docker.make().await;
    let host_port = free_port();
    let pod = SandboxSpec {
        ports: vec![PortMapping {
            container_port: 80,
            host_port,
            host_ip: None,
            protocol: "TCP".into(),
        }],
        dns_servers: vec!["10.96.0.10".into()],
        dns_search: vec!["conformance.svc.cluster.local".into()],
        ..pod("network")
    };
    let sb = sandbox(&d, &pod).await;
    let ip: Ipv4Addr = sb
        .ip
        .parse()
        .unwrap_or_else(|e| panic!("pod IP {:?}: {e}", sb.ip));
    assert!(!ip.is_loopback());
    d.ensure_image("nginx", PullPolicy::IfNotPresent)
        .await
        .expect(REQUIRED);
    let web = ContainerSpec {
        image: "nginx".into(),
        command: vec![],
        args: vec![],
        ..shell(&Docker, &pod, "web", "")
    };
    let web = start(&d, &sb, &web).await;
    let script = "hostname; grep -E 'nameserver|search' /etc/resolv.conf; \
        for i in $(seq 1 100); do wget -qO- http://127.0.0.1/ && exit 0; sleep 0.1; done; exit 1";
    let client = start(&d, &sb, &shell(&Docker, &pod, "client", script)).await;
    let (code, _) = exited(&d, &client.id).await;
    let out = logs(&d, &client.id, Default::default()).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Welcome to nginx"), "{out}");
    assert!(out.contains(&format!("{}\n", pod.hostname)), "{out}");
    assert!(
        out.contains("nameserver 10.96.0.10") && out.contains("conformance.svc.cluster.local"),
        "{out}"
    );
    // nginx logs the request to stdout.
    wait_for_log(&d, &web.id, "GET / HTTP").await;
    // The hostPort reaches it from the node.
    let page = http_get(host_port).await;
    assert!(page.contains("Welcome to nginx"), "{page}");
    let stats = d.stats(&web.id).await.expect("stats");
    assert!(stats.memory_bytes > 0, "{stats:?}");
    conformance::cleanup(&d, &pod, &[&web.id, &client.id]).await;
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind :0");
    listener.local_addr().expect("local_addr").port()
}

/// `GET /` on 127.0.0.1:port, retried until it answers.
async fn http_get(port: u16) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let deadline = tokio::time::Instant::now() + conformance::WAIT;
    loop {
        if let Ok(mut conn) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            let request = "GET / HTTP/1.0\r\nHost: localhost\r\n\r\n";
            let mut page = String::new();
            if conn.write_all(request.as_bytes()).await.is_ok()
                && conn.read_to_string(&mut page).await.is_ok()
                && !page.is_empty()
            {
                return page;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "nothing answers on port {port}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn read_only_root_filesystem_refuses_writes() {
    let (code, _, out) = run_once(
        "readonly",
        "touch /x 2>&1 && echo wrote || echo refused",
        |s| {
            s.security.read_only_root_filesystem = true;
        },
    )
    .await;
    assert_eq!(code, 0);
    assert!(
        out.contains("Read-only file system") && out.contains("refused"),
        "{out}"
    );
}

#[tokio::test]
async fn run_as_user_group_and_dropped_capabilities_show_in_the_process() {
    let (_, _, out) = run_once("user", "id; grep CapEff /proc/self/status", |s| {
        s.security.run_as_user = Some(1000);
        s.security.run_as_group = Some(2000);
        s.security.cap_drop = vec!["all".into()];
    })
    .await;
    assert!(out.contains("uid=1000 gid=2000"), "{out}");
    assert!(out.contains("CapEff:\t0000000000000000"), "{out}");

    // Privileged means every capability: possible only where the engine's bounding set is
    // full (on some VMs it is not, and Docker 20.10 then refuses; the error must say why).
    let d = Docker.make().await;
    let pod = pod("privileged");
    let sb = sandbox(&d, &pod).await;
    let mut spec = shell(&Docker, &pod, "privileged", "grep CapEff /proc/self/status");
    spec.security.privileged = true;
    if full_bounding_set() {
        let c = start(&d, &sb, &spec).await;
        exited(&d, &c.id).await;
        let out = logs(&d, &c.id, Default::default()).await;
        let hex = out.trim().rsplit('\t').next().unwrap_or_default();
        let caps = u64::from_str_radix(hex, 16).unwrap_or_else(|e| panic!("{out}: {e}"));
        assert_ne!(caps & (1 << 21), 0, "privileged has CAP_SYS_ADMIN: {out}");
        conformance::cleanup(&d, &pod, &[&c.id]).await;
    } else {
        match d.start_container(&sb, &spec).await {
            Err(RuntimeError::StartFailed(msg)) => assert!(msg.contains("bounding set"), "{msg}"),
            other => panic!("expected StartFailed on this host, got {other:?}"),
        }
        d.remove_sandbox(&pod.pod_uid)
            .await
            .expect("remove_sandbox");
    }
}

/// Whether this process (root, like dockerd here) may hold every capability the kernel has.
fn full_bounding_set() -> bool {
    let last: u32 = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40);
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let bounding = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0);
    let all = if last >= 63 {
        u64::MAX
    } else {
        (1u64 << (last + 1)) - 1
    };
    bounding & all == all
}

#[tokio::test]
async fn run_as_non_root_refuses_a_root_image_user() {
    let d = Docker.make().await;
    let pod = pod("nonroot");
    let sb = sandbox(&d, &pod).await;
    let mut spec = shell(&Docker, &pod, "root", "id");
    spec.security.run_as_non_root = true;
    match d.start_container(&sb, &spec).await {
        Err(RuntimeError::StartFailed(msg)) => assert!(msg.contains("runAsNonRoot"), "{msg}"),
        other => panic!("expected StartFailed, got {other:?}"),
    }
    spec.security.run_as_user = Some(65534);
    let c = start(&d, &sb, &spec).await;
    assert_eq!(exited(&d, &c.id).await.0, 0);
    conformance::cleanup(&d, &pod, &[&c.id]).await;
}

#[tokio::test]
async fn bind_mounts_are_visible_and_read_only_ones_refuse_writes() {
    let host = tempfile::tempdir().expect("tempdir");
    std::fs::write(host.path().join("in.txt"), "hello-from-host\n").expect("write");
    let script = "cat /data/in.txt; echo written > /data/out.txt; \
        touch /ro/x 2>&1 || echo ro-refused";
    let path = host.path().to_path_buf();
    let (code, _, out) = run_once("mounts", script, |s| {
        s.mounts = vec![
            Mount {
                host_path: path.clone(),
                container_path: "/data".into(),
                read_only: false,
            },
            Mount {
                host_path: path,
                container_path: "/ro".into(),
                read_only: true,
            },
        ];
    })
    .await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("hello-from-host") && out.contains("ro-refused"),
        "{out}"
    );
    let written = std::fs::read_to_string(host.path().join("out.txt")).expect("out.txt");
    assert_eq!(written, "written\n");
}

#[tokio::test]
async fn a_missing_executable_fails_to_start_with_the_engines_reason() {
    let d = Docker.make().await;
    let pod = pod("noexec");
    let sb = sandbox(&d, &pod).await;
    let mut spec = shell(&Docker, &pod, "noexec", IDLE);
    spec.command = vec!["/no/such/binary".into()];
    match d.start_container(&sb, &spec).await {
        Err(RuntimeError::StartFailed(msg)) => assert!(msg.contains("/no/such/binary"), "{msg}"),
        other => panic!("expected StartFailed, got {other:?}"),
    }
    // The failed attempt was removed: nothing of this pod is listed.
    let listed = d.list().await.expect("list");
    assert!(
        !listed.iter().any(|c| c.pod_uid == pod.pod_uid),
        "{listed:?}"
    );
    d.remove_sandbox(&pod.pod_uid)
        .await
        .expect("remove_sandbox");
}

/// Two nodes' agents sharing one engine (nodes in network namespaces over one dockerd), both
/// running the *same* pod: each driver lists only its own node's container and sandbox, and
/// one node's orphan cleanup — remove everything it lists — leaves the other's running pod,
/// and a container an older version left without a node label, alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drivers_of_two_nodes_on_one_engine_see_and_remove_only_their_own() {
    let run = std::process::id();
    let (a, b) = (
        connect(&format!("node-a-{run}")).await,
        connect(&format!("node-b-{run}")).await,
    );
    let pod = pod("two-nodes");
    let legacy = legacy_container(&a, &pod).await;

    let sb_a = sandbox(&a, &pod).await;
    let sb_b = sandbox(&b, &pod).await;
    assert_ne!(sb_a.id, sb_b.id, "each node has its own sandbox");
    let spec = shell(&Docker, &pod, "web", IDLE);
    let c_a = start(&a, &sb_a, &spec).await;
    let c_b = start(&b, &sb_b, &spec).await;
    assert_ne!(c_a.id, c_b.id, "each node has its own container");
    let ContainerState::Running { started_at } = c_b.state else {
        panic!("not running: {:?}", c_b.state)
    };

    for (d, mine, theirs) in [(&a, &c_a.id, &c_b.id), (&b, &c_b.id, &c_a.id)] {
        let ids: Vec<String> = d
            .list()
            .await
            .expect("list")
            .into_iter()
            .map(|c| c.id)
            .collect();
        assert!(
            ids.contains(mine),
            "{} lists its own container: {ids:?}",
            d.node_name()
        );
        assert!(
            !ids.contains(theirs),
            "{} lists the other node's: {ids:?}",
            d.node_name()
        );
        assert!(
            !ids.contains(&legacy),
            "{} lists an unlabelled container",
            d.node_name()
        );
    }
    for (d, mine) in [(&a, &sb_a.id), (&b, &sb_b.id)] {
        let ids: Vec<String> = d
            .list_sandboxes()
            .await
            .expect("list_sandboxes")
            .into_iter()
            .map(|s| s.id)
            .collect();
        assert_eq!(
            ids.as_slice(),
            std::slice::from_ref(mine),
            "{} lists only its own sandbox",
            d.node_name()
        );
    }
    // create_sandbox finds this node's sandbox of the pod, not the other node's.
    assert_eq!(sandbox(&b, &pod).await.id, sb_b.id);

    // Node a's agent restarts and finds the pod gone: it removes everything it lists.
    for c in a.list().await.expect("list") {
        a.stop_container(&c.id, Duration::from_secs(1))
            .await
            .expect("stop");
        a.remove_container(&c.id).await.expect("remove_container");
    }
    for s in a.list_sandboxes().await.expect("list_sandboxes") {
        a.remove_sandbox(&s.pod_uid).await.expect("remove_sandbox");
    }
    assert!(a.list().await.expect("list").is_empty());
    assert!(a.list_sandboxes().await.expect("list_sandboxes").is_empty());

    // Node b's pod runs on, untouched.
    assert_eq!(
        b.inspect(&c_b.id).await.expect("inspect").state,
        ContainerState::Running { started_at },
        "node a's cleanup stopped node b's container"
    );
    let sandboxes = b.list_sandboxes().await.expect("list_sandboxes");
    assert!(
        sandboxes.iter().any(|s| s.id == sb_b.id && s.running),
        "node a's cleanup removed node b's sandbox: {sandboxes:?}"
    );
    assert!(
        a.client().inspect_container(&legacy, None).await.is_ok(),
        "node a's cleanup removed a container no node owns"
    );

    conformance::cleanup(&b, &pod, &[&c_b.id]).await;
    a.client()
        .remove_container(
            &legacy,
            Some(bollard::query_parameters::RemoveContainerOptions {
                force: true,
                ..Default::default()
            }),
        )
        .await
        .expect("remove the legacy container");
}

/// A container of `pod` as an older version made it: managed, but with no node label, under
/// the name it gave (`tutti_<container>_<pod>_<namespace>_<uid8>_<attempt>`). Created, not
/// started; its id.
async fn legacy_container(d: &DockerDriver, pod: &SandboxSpec) -> String {
    let labels = HashMap::from([
        ("io.tutti.managed".to_string(), "true".to_string()),
        ("io.tutti.kind".to_string(), "container".to_string()),
        ("io.tutti.pod-uid".to_string(), pod.pod_uid.clone()),
        ("io.tutti.container-name".to_string(), "web".to_string()),
        ("io.tutti.attempt".to_string(), "0".to_string()),
    ]);
    let uid8: String = pod.pod_uid.chars().take(8).collect();
    let name = format!("tutti_web_{}_{}_{uid8}_0", pod.pod_name, pod.namespace);
    let body = bollard::models::ContainerCreateBody {
        image: Some("busybox:latest".to_string()),
        cmd: Some(vec!["true".to_string()]),
        labels: Some(labels),
        ..Default::default()
    };
    let options = bollard::query_parameters::CreateContainerOptions {
        name: Some(name),
        ..Default::default()
    };
    d.client()
        .create_container(Some(options), body)
        .await
        .expect(REQUIRED)
        .id
}

#[tokio::test]
async fn a_driver_needs_a_node_name() {
    match DockerDriver::connect(" ").await {
        Err(RuntimeError::Other(msg)) => assert!(msg.contains("node"), "{msg}"),
        other => panic!("expected an error naming the node, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exit_feed_reports_this_nodes_container_deaths_only() {
    use futures::StreamExt;
    let run = std::process::id();
    let (a, b) = (
        connect(&format!("exits-a-{run}")).await,
        connect(&format!("exits-b-{run}")).await,
    );
    let mut feed = a.exits().await.expect("exit feed");
    let pod = pod("exits");
    let sb_a = sandbox(&a, &pod).await;
    let sb_b = sandbox(&b, &pod).await;
    let spec = shell(&Docker, &pod, "web", IDLE);
    let c_a = start(&a, &sb_a, &spec).await;
    let c_b = start(&b, &sb_b, &spec).await;

    // The other node's container dies first: a's feed must not report it.
    b.stop_container(&c_b.id, Duration::ZERO)
        .await
        .expect("stop b");
    a.stop_container(&c_a.id, Duration::ZERO)
        .await
        .expect("stop a");
    let first = tokio::time::timeout(Duration::from_secs(10), feed.next())
        .await
        .expect("an exit within 10 s")
        .expect("the feed is open")
        .expect("an exit, not an error");
    assert_eq!(first.id, c_a.id, "the first exit is node a's container");
    assert_eq!(first.pod_uid, pod.pod_uid);

    conformance::cleanup(&a, &pod, &[&c_a.id]).await;
    conformance::cleanup(&b, &pod, &[&c_b.id]).await;
}
