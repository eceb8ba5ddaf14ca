//! The container's first process, from `clone` to `execve`, and `exec`'s process after it joins
//! a running container. Each step is a function of its own module; this one only orders them.

use std::os::fd::OwnedFd;
use std::path::Path;

use berth_types::runtime::{Process, Spec};
use rustix::fs::{Mode, OFlags};

use crate::error::{Context, Result, RuntimeError};
use crate::sync::Channel;
use crate::{console, process, rootfs};

/// What the init needs that is not in the spec: handles opened on the host side before `clone`.
pub(crate) struct InitContext<'a> {
    pub spec: &'a Spec,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub channel: Channel,
    /// The exec fifo, opened `O_PATH` before pivot_root; `None` for `run`.
    pub fifo: Option<OwnedFd>,
    pub console_socket: Option<OwnedFd>,
    /// The compiled seccomp program, made on the host side where the cache is reachable.
    pub seccomp: Option<Vec<u8>>,
}

/// Runs the init in the cloned child. Never returns: it execs the user's program or exits 1,
/// having sent the reason to the runtime.
pub(crate) fn run(ctx: InitContext<'_>) -> ! {
    let error = match prepare(&ctx) {
        Ok(program) => match start(&ctx, &program) {
            Ok(never) => match never {},
            // The runtime is gone once the container has been started: say it on stderr.
            Err(e) => {
                eprintln!("berth-runtime: {e}");
                std::process::exit(exit_code_for(&e))
            }
        },
        Err(e) => e,
    };
    ctx.channel.send_error(&error);
    std::process::exit(1)
}

fn exit_code_for(e: &RuntimeError) -> i32 {
    // The program was found before start; what fails at execve is mostly "cannot execute".
    match berth_types::runtime::start_failure_code(&e.to_string()) {
        125 => 126,
        code => code,
    }
}

fn spec_process(spec: &Spec) -> Result<&Process> {
    spec.process
        .as_ref()
        .ok_or_else(|| RuntimeError::Config("the spec has no process".into()))
}

/// Everything up to "ready": namespaces joined, filesystem built, program found.
fn prepare(ctx: &InitContext<'_>) -> Result<std::path::PathBuf> {
    let spec = ctx.spec;
    let linux = spec.linux.clone().unwrap_or_default();
    let p = spec_process(spec)?;
    crate::namespace::join_paths(&linux.namespaces)?;
    // The runtime moves this process into its cgroup (which can wait out an RCU grace period)
    // while the filesystem is built here. Only a user namespace (its maps) or a cgroup2 mount
    // inside a new cgroup namespace need the move first.
    let wants = |kind| crate::namespace::wants_new(&linux.namespaces, kind);
    let early = wants("user") || (wants("cgroup") && crate::cgroup::is_v2_host());
    if early {
        joined(ctx, &linux)?;
    }
    let readonly = spec.root.as_ref().is_some_and(|r| r.readonly);
    rootfs::setup(ctx.rootfs, &spec.mounts, &linux, ctx.bundle)?;
    if let Some(hostname) = &spec.hostname {
        rustix::system::sethostname(hostname.as_bytes())
            .context(|| "setting the hostname".into())?;
    }
    crate::namespace::write_sysctls(&linux.sysctl)?;
    if wants("network") {
        berth_sys::loopback_up().context(|| "bringing up the loopback interface".into())?;
    }
    if !early {
        joined(ctx, &linux)?;
    }
    if p.terminal {
        let socket = ctx.console_socket.as_ref().ok_or_else(|| {
            RuntimeError::Config("process.terminal needs --console-socket".into())
        })?;
        let (master, slave) = console::open_pty(p.console_size, true)?;
        console::send_fd(socket, &master, "console")?;
        process::use_terminal(&slave)?;
    }
    rootfs::finish(&linux, readonly)?;
    process::apply_rlimits(&p.rlimits)?;
    if let Some(adj) = p.oom_score_adj {
        process::set_oom_score_adj(adj)?;
    }
    if let Some(umask) = p.user.umask {
        rustix::process::umask(Mode::from_raw_mode(umask));
    }
    rootfs::ensure_dir(&p.cwd)?;
    process::enter_cwd(&p.cwd)?;
    let program = p
        .args
        .first()
        .ok_or_else(|| RuntimeError::Config("process.args is empty".into()))?;
    // Found now, so that a missing program fails `create`, as with runc.
    let program = process::find_program(program, &p.env)?;
    ctx.channel.send("ready")?;
    Ok(program)
}

/// Waits for the runtime's "go" (cgroup joined, id maps written), then becomes root of a new
/// user namespace and enters a new cgroup namespace rooted at the container's cgroup.
fn joined(ctx: &InitContext<'_>, linux: &berth_types::runtime::Linux) -> Result<()> {
    ctx.channel.expect("go")?;
    if crate::namespace::wants_new(&linux.namespaces, "user") {
        let root = (rustix::process::Uid::ROOT, rustix::process::Gid::ROOT);
        rustix::thread::set_thread_res_gid(root.1, root.1, root.1)
            .context(|| "becoming root in the user namespace".into())?;
        rustix::thread::set_thread_res_uid(root.0, root.0, root.0)
            .context(|| "becoming root in the user namespace".into())?;
    }
    if crate::namespace::wants_new(&linux.namespaces, "cgroup") {
        berth_sys::unshare_cgroup_namespace()
            .context(|| "unsharing the cgroup namespace".into())?;
    }
    Ok(())
}

/// After "ready": wait for `start`, then become the user's program.
fn start(ctx: &InitContext<'_>, program: &Path) -> Result<std::convert::Infallible> {
    if let Some(fifo) = &ctx.fifo {
        // Blocks until `start` opens the fifo for reading.
        let path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(fifo));
        let writer = rustix::fs::open(
            path.as_str(),
            OFlags::WRONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .context(|| "opening the exec fifo".into())?;
        rustix::io::write(&writer, b"0").context(|| "writing the exec fifo".into())?;
    }
    if ctx
        .spec
        .annotations
        .get(berth_types::runtime::INIT_ANNOTATION)
        .is_some_and(|v| v == "true")
    {
        crate::reaper::fork_reaper(ctx.seccomp.as_deref())?;
    }
    process::exec(spec_process(ctx.spec)?, program, ctx.seccomp.as_deref())
}
