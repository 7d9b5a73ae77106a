//! Third-party programs (Chromium, nginx, python `websockets`, node `ws`): finding them,
//! the "missing → skip locally, fail under CI" rule, and a guard that kills a program's
//! whole process group.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command};

/// Chromium flags for every headless run in the tests: no sandbox (containers), no GPU, no
/// side traffic (this machine's network is closed); each run adds a fresh `--user-data-dir`.
pub const CHROMIUM_HEADLESS: [&str; 8] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// Applies the rule for a third-party program a test needs: `.ci/run` installs them all, so
/// under CI (`CI` set) a missing one (`present == false`) fails the test; on a developer
/// machine the test says it skips and should return early. Returns `present`.
pub fn available(what: &str, present: bool) -> bool {
    if !present {
        assert!(
            std::env::var_os("CI").is_none(),
            "{what} is missing under CI (.ci/run should install it)"
        );
        eprintln!("skipping: {what} is not installed");
    }
    present
}

/// Finds `name` on PATH or in the sbin directories (nginx lives in /usr/sbin, which a
/// non-root PATH may lack), under the rule of [`available`]: `None` means "skip".
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file());
    available(name, found.is_some());
    found
}

/// A child started as the leader of its own process group; dropping it kills the whole
/// group (Chromium's helper processes, nginx's workers) and reaps the child.
pub struct GroupGuard(Child);

impl GroupGuard {
    /// Spawns `cmd` as the leader of a new process group; `what` names it in the panic if it
    /// cannot start.
    pub fn spawn(cmd: &mut Command, what: &str) -> GroupGuard {
        cmd.process_group(0);
        GroupGuard(
            cmd.spawn()
                .unwrap_or_else(|e| panic!("starting {what}: {e}")),
        )
    }

    /// The child, for its pipes and `try_wait`.
    pub fn child(&mut self) -> &mut Child {
        &mut self.0
    }

    /// True while some process of the group is alive.
    pub fn group_alive(&self) -> bool {
        // SAFETY: kill(2) with signal 0 only checks that our child's process group exists.
        i32::try_from(self.0.id()).is_ok_and(|pid| unsafe { libc::kill(-pid, 0) } == 0)
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.0.id()) {
            // SAFETY: kill(2) with a negative pid signals our own child's process group; the
            // child is not reaped yet, so the group id cannot have been reused.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
