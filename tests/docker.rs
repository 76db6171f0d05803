//! Containers: `make docker-demo` builds the static binaries and the image
//! FROM scratch, then runs the lab (compose.yaml) and the cluster
//! (compose.cluster.yaml) on internal networks and checks them itself
//! (`docker/demo.sh`). Docker's engine and compose come from Debian
//! (`docker.io`, `docker-compose`), installed and started by `.ci/run`.
//! Each run uses an image tag and compose projects of its own, removed at
//! the end, so that runs side by side never meet.

use std::process::Command;
use std::time::Duration;

use crate::util::{lacking, run_tool, unique};

/// The static build (about three minutes on two idle cores, nothing when
/// `.ci/run` has built it already) and both scenarios (about twenty seconds).
const DEMO_LIMIT: Duration = Duration::from_secs(20 * 60);

/// Largest image accepted: three static binaries and a few files.
const MAX_IMAGE_BYTES: u64 = 16 * 1024 * 1024;

/// Removes the test's image when the test ends.
struct Image(String);

impl Drop for Image {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["image", "rm", "-f", &self.0]).output();
    }
}

#[test]
fn make_docker_demo_runs_the_lab_and_the_cluster_in_containers() {
    let engine = Command::new("docker").args(["version", "--format", "{{.Server.Version}}"]).output();
    if !engine.as_ref().is_ok_and(|o| o.status.success()) {
        let why = match engine {
            Err(e) => format!("no docker command ({e})"),
            Ok(o) => format!("no Docker engine: {}", String::from_utf8_lossy(&o.stderr).trim()),
        };
        lacking("docker", &format!("{why}; .ci/run installs docker.io and docker-compose and starts dockerd"));
        return;
    }
    let id = format!("{}-{}", std::process::id(), unique());
    let image = Image(format!("forkftp-test:{id}"));
    let run = run_tool(
        Command::new("make")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["--no-print-directory", "docker-demo"])
            .arg(format!("IMAGE={}", image.0))
            .env("DEMO_ID", id.replace('-', "x")),
        DEMO_LIMIT,
    );
    run.assert_ok("make docker-demo");
    let out = &run.stdout;
    for expected in [
        "ok: lab: the server's volume holds /srv/ftp/from_client1.txt, byte for byte",
        "ok: lab: client2 holds /home/ftp/_CLIENTROOT/from_client1.txt, byte for byte",
        "ok: round robin: client1 reached forkftp slave 1, client2 forkftp slave 2",
        "ok: cluster: the shared volume holds /srv/ftp/from_client1.txt, byte for byte",
        "ok: cluster: client2 holds /home/ftp/_CLIENTROOT/from_client1.txt, byte for byte",
        "docker-demo: all checks passed",
    ] {
        assert!(out.contains(expected), "no {expected:?} in what make docker-demo printed:\n{out}\n{}", run.stderr);
    }
    // What each client saw is printed: the greetings and transfers.
    assert!(out.contains("---- lab client1 saw:") && out.contains("53 bytes sent"), "{out}");
    assert!(out.contains("---- cluster client2 saw:") && out.contains("220 forkftp slave 2 ready"), "{out}");
    assert_eq!(out.matches("ok: a slave logged the client's real address").count(), 2, "{out}");
    // Minimal: nothing but the static binaries and a few files.
    let size = Command::new("docker").args(["image", "inspect", "-f", "{{.Size}}", &image.0]).output().unwrap();
    let size: u64 = String::from_utf8_lossy(&size.stdout).trim().parse().expect("image size");
    assert!(size <= MAX_IMAGE_BYTES, "the image takes {size} bytes");
    let shell =
        Command::new("docker").args(["run", "--rm", "--network", "none", &image.0, "sh", "-c", "true"]).output();
    assert!(!shell.unwrap().status.success(), "the image has a shell");
}
