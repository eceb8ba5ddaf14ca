//! berth-sys: the only crate in berth with `unsafe`. Each function is a thin, io-safe wrapper over
//! one system call that rustix does not expose safely; every unsafe block says why it is sound.
//!
//! Invariants: no wrapper keeps state, and none is called from a multi-threaded process where it
//! says so (`clone_process`). It must not depend on any other berth crate.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use rustix::process::Pid;

/// Namespace flags for [`clone_process`], as `clone(2)` takes them.
pub mod clone_flags {
    pub const NEWNS: u64 = libc::CLONE_NEWNS as u64;
    pub const NEWUTS: u64 = libc::CLONE_NEWUTS as u64;
    pub const NEWIPC: u64 = libc::CLONE_NEWIPC as u64;
    pub const NEWUSER: u64 = libc::CLONE_NEWUSER as u64;
    pub const NEWPID: u64 = libc::CLONE_NEWPID as u64;
    pub const NEWNET: u64 = libc::CLONE_NEWNET as u64;
    pub const NEWCGROUP: u64 = libc::CLONE_NEWCGROUP as u64;
}

/// Forks the calling process, the child starting in the new namespaces `flags` names. Returns the
/// child's pid in the parent and `None` in the child.
///
/// Refused in a multi-threaded process (checked in `/proc/self/status`): the child is a copy of
/// the calling thread alone, as with `fork(2)`, and could inherit a lock held by another thread.
pub fn clone_process(flags: u64) -> io::Result<Option<Pid>> {
    // After joining another PID namespace's mounts `/proc/self` may not resolve; then the check
    // has nothing to read and the caller's word stands.
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        let threads = status
            .lines()
            .find_map(|l| l.strip_prefix("Threads:"))
            .map(str::trim);
        if threads != Some("1") {
            return Err(io::Error::other(
                "clone_process needs a single-threaded process",
            ));
        }
    }
    // SAFETY: `clone` with a null stack behaves like `fork`: the child continues on a copy of the
    // caller's stack. No pointer arguments are passed (parent/child tid and tls are null), and the
    // process was just checked to be single threaded, so the child's memory is consistent.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone,
            flags | libc::SIGCHLD as u64,
            std::ptr::null_mut::<libc::c_void>(),
            std::ptr::null_mut::<libc::c_int>(),
            std::ptr::null_mut::<libc::c_int>(),
            0usize,
        )
    };
    match ret {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(None),
        pid => Ok(Pid::from_raw(pid as i32)),
    }
}

/// Marks every file descriptor from `first` up close-on-exec, so none reaches the next program
/// unless it was deliberately kept below `first`.
pub fn cloexec_from(first: u32) -> io::Result<()> {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets a flag on descriptors; it closes
    // nothing, so no descriptor owned elsewhere in this process is invalidated.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            libc::c_uint::MAX,
            CLOSE_RANGE_CLOEXEC,
        )
    };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Clears the close-on-exec flag of `fd`, so it is inherited by the next program.
pub fn keep_on_exec(fd: BorrowedFd<'_>) -> io::Result<()> {
    rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::empty())?;
    Ok(())
}

fn c_strings(items: &[String]) -> io::Result<Vec<CString>> {
    items
        .iter()
        .map(|s| CString::new(s.as_bytes()).map_err(|_| io::ErrorKind::InvalidInput.into()))
        .collect()
}

fn pointers(items: &[CString]) -> Vec<*const libc::c_char> {
    items
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// Replaces the process image with the program at `path`; returns only on failure.
pub fn execve(path: &str, args: &[String], env: &[String]) -> io::Error {
    let (path, args, env) = match (CString::new(path), c_strings(args), c_strings(env)) {
        (Ok(p), Ok(a), Ok(e)) => (p, a, e),
        _ => return io::ErrorKind::InvalidInput.into(),
    };
    let (argv, envp) = (pointers(&args), pointers(&env));
    // SAFETY: every pointer is to a NUL-terminated string owned by `path`, `args` or `env`, which
    // outlive the call, and both arrays end with a null pointer as execve requires.
    unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    io::Error::last_os_error()
}

/// Replaces the process image with the program open at `fd`; returns only on failure.
pub fn fexecve(fd: impl AsFd, args: &[String], env: &[String]) -> io::Error {
    let (args, env) = match (c_strings(args), c_strings(env)) {
        (Ok(a), Ok(e)) => (a, e),
        _ => return io::ErrorKind::InvalidInput.into(),
    };
    let (argv, envp) = (pointers(&args), pointers(&env));
    // SAFETY: the descriptor is borrowed for the call; argv and envp point to NUL-terminated
    // strings owned by `args` and `env` and are null-terminated arrays.
    unsafe { libc::fexecve(fd.as_fd().as_raw_fd(), argv.as_ptr(), envp.as_ptr()) };
    io::Error::last_os_error()
}

/// Moves the calling process into a new cgroup namespace rooted at its current cgroup.
pub fn unshare_cgroup_namespace() -> io::Result<()> {
    // SAFETY: unsharing a cgroup namespace changes no memory, descriptor table or filesystem state
    // that other threads could be using; it only changes how /proc/self/cgroup paths are shown.
    unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWCGROUP) }?;
    Ok(())
}

fn sigset(signals: &[i32]) -> io::Result<libc::sigset_t> {
    let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the set it is given; it is only read after that.
    let mut set = unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        set.assume_init()
    };
    for &s in signals {
        // SAFETY: `set` is an initialised sigset_t; sigaddset validates the signal number.
        if unsafe { libc::sigaddset(&mut set, s) } == -1 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(set)
}

/// Blocks `signals` in the calling thread (and threads it starts later), so they queue for
/// [`wait_signal`] instead of running their default action. Children started with
/// `std::process::Command` get an empty mask again.
pub fn block_signals(signals: &[i32]) -> io::Result<()> {
    let set = sigset(signals)?;
    // SAFETY: `set` is initialised; the old mask is not asked for.
    let ret = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if ret != 0 {
        return Err(io::Error::from_raw_os_error(ret));
    }
    Ok(())
}

/// Waits up to `timeout` for one of the blocked `signals`; `None` when none came.
pub fn wait_signal(signals: &[i32], timeout: std::time::Duration) -> io::Result<Option<i32>> {
    let set = sigset(signals)?;
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: `set` and `ts` are initialised and outlive the call; no siginfo is asked for.
    let ret = unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &ts) };
    if ret == -1 {
        let err = io::Error::last_os_error();
        return match err.raw_os_error() {
            Some(libc::EAGAIN) | Some(libc::EINTR) => Ok(None),
            _ => Err(err),
        };
    }
    Ok(Some(ret))
}

/// Unblocks `signals` in the calling thread.
pub fn unblock_signals(signals: &[i32]) -> io::Result<()> {
    let set = sigset(signals)?;
    // SAFETY: `set` is initialised; the old mask is not asked for.
    let ret = unsafe { libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut()) };
    if ret != 0 {
        return Err(io::Error::from_raw_os_error(ret));
    }
    Ok(())
}

/// Installs a compiled seccomp BPF program (an array of `struct sock_filter`, 8 bytes each) on the
/// calling thread. The caller must hold CAP_SYS_ADMIN or have set no_new_privs.
pub fn load_seccomp_program(program: &[u8]) -> io::Result<()> {
    const FILTER_SIZE: usize = std::mem::size_of::<libc::sock_filter>();
    if program.is_empty()
        || !program.len().is_multiple_of(FILTER_SIZE)
        || program.len() / FILTER_SIZE > u16::MAX as usize
    {
        return Err(io::ErrorKind::InvalidInput.into());
    }
    let filters: Vec<libc::sock_filter> = program
        .chunks_exact(FILTER_SIZE)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect();
    let fprog = libc::sock_fprog {
        len: filters.len() as u16,
        filter: filters.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: `fprog` points at `filters`, which holds `len` initialised sock_filter entries and
    // outlives the call; the kernel copies the program before returning.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &fprog as *const libc::sock_fprog,
        )
    };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A handle on `binary` through a read-only bind mount that is detached at once: executing the
/// handle (`fexecve`, or `/proc/self/fd/N`) gives a process whose `/proc/PID/exe` nobody can open
/// for writing, the defence against CVE-2019-5736. `scratch_dir` holds the mount point for the
/// moment the mount exists.
pub fn read_only_exec_handle(
    binary: &std::path::Path,
    scratch_dir: &std::path::Path,
) -> io::Result<std::os::fd::OwnedFd> {
    use rustix::fs::{Mode, OFlags};
    use rustix::mount::{MountFlags, UnmountFlags};
    let pid = rustix::process::getpid().as_raw_nonzero();
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let target = scratch_dir.join(format!(".exe-{pid}-{nonce}"));
    let create = OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::CLOEXEC;
    drop(rustix::fs::open(
        &target,
        create,
        Mode::from_raw_mode(0o600),
    )?);
    let handle = (|| {
        rustix::mount::mount_bind(binary, &target)?;
        let handle =
            rustix::mount::mount_remount(&target, MountFlags::BIND | MountFlags::RDONLY, "")
                .and_then(|()| {
                    rustix::fs::open(&target, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
                });
        let _ = rustix::mount::unmount(&target, UnmountFlags::DETACH);
        Ok::<_, io::Error>(handle?)
    })();
    let _ = std::fs::remove_file(&target);
    handle
}

/// A wait status as a shell reports it: the exit code, or 128 + the signal that killed it.
pub fn shell_status(status: rustix::process::WaitStatus) -> i32 {
    if let Some(code) = status.exit_status() {
        code
    } else if let Some(sig) = status.terminating_signal() {
        128 + sig
    } else {
        255
    }
}

/// Closes every file descriptor from `first` up (for a process that will not exec, such as the
/// `--init` reaper).
pub fn close_from(first: u32) -> io::Result<()> {
    // SAFETY: close_range closes descriptors this process owns; the caller gives up every
    // descriptor from `first` up and does not use an `OwnedFd` for any of them afterwards.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            libc::c_uint::MAX,
            0 as libc::c_uint,
        )
    };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Brings the loopback interface `lo` of the calling process's network namespace up, as a new
/// network namespace starts with it down (Docker's `--network none` has it up).
pub fn loopback_up() -> io::Result<()> {
    let sock = rustix::net::socket(
        rustix::net::AddressFamily::INET,
        rustix::net::SocketType::DGRAM,
        None,
    )?;
    // SAFETY: `ifreq` is plain old data; all-zero is a valid value for every field.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the name from `req` and writes its flags into `req`, which is a
    // live, correctly sized ifreq for the duration of the call.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: SIOCGIFFLAGS filled the flags member of the union, which is the one read here.
    unsafe {
        req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
    }
    // SAFETY: as above; SIOCSIFFLAGS only reads `req`.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
