//! The monitor's only unsafe code: thin wrappers over the C library's system calls. The monitor
//! is linked without Rust's standard library (see `main.rs`), so berth-sys, which builds on it,
//! cannot serve here; each wrapper keeps the unsafety to the call itself.
#![allow(unsafe_code)]

use core::ffi::{CStr, c_char, c_int};

pub type Fd = c_int;

/// A failed system call's errno.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Errno(pub c_int);

pub type Res<T> = Result<T, Errno>;

fn errno() -> Errno {
    // SAFETY: __errno_location returns this thread's errno slot, valid for the thread's life.
    Errno(unsafe { *libc::__errno_location() })
}

fn check(r: c_int) -> Res<c_int> {
    if r < 0 { Err(errno()) } else { Ok(r) }
}

/// Retries a call interrupted by a signal.
fn retry(mut f: impl FnMut() -> isize) -> Res<usize> {
    loop {
        let r = f();
        if r >= 0 {
            return Ok(r as usize);
        }
        let e = errno();
        if e.0 != libc::EINTR {
            return Err(e);
        }
    }
}

pub fn read(fd: Fd, buf: &mut [u8]) -> Res<usize> {
    // SAFETY: the pointer and length describe `buf`, which outlives the call.
    retry(|| unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) })
}

pub fn write(fd: Fd, buf: &[u8]) -> Res<usize> {
    // SAFETY: the pointer and length describe `buf`, which outlives the call.
    retry(|| unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) })
}

/// Writes all of `buf`; a non-blocking `fd` that is full fails with EAGAIN.
pub fn write_all(fd: Fd, mut buf: &[u8]) -> Res<()> {
    while !buf.is_empty() {
        match write(fd, buf)? {
            0 => return Err(Errno(libc::EIO)),
            n => buf = &buf[n..],
        }
    }
    Ok(())
}

pub fn close(fd: Fd) {
    if fd >= 0 {
        // SAFETY: closing a descriptor this process owns; a stale number only fails with EBADF.
        unsafe { libc::close(fd) };
    }
}

pub fn open(path: &CStr, flags: c_int, mode: libc::mode_t) -> Res<Fd> {
    // SAFETY: `path` is NUL-terminated and outlives the call.
    retry(|| unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC, mode) } as isize)
        .map(|fd| fd as Fd)
}

/// A pipe, both ends close-on-exec: (read, write).
pub fn pipe() -> Res<(Fd, Fd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    Ok((fds[0], fds[1]))
}

pub fn set_cloexec(fd: Fd) -> Res<()> {
    // SAFETY: F_SETFD takes an integer flag argument.
    check(unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) }).map(drop)
}

pub fn rename(from: &CStr, to: &CStr) -> Res<()> {
    // SAFETY: both paths are NUL-terminated and outlive the call.
    check(unsafe { libc::rename(from.as_ptr(), to.as_ptr()) }).map(drop)
}

pub fn unlink(path: &CStr) {
    // SAFETY: `path` is NUL-terminated and outlives the call.
    unsafe { libc::unlink(path.as_ptr()) };
}

pub fn chdir(path: &CStr) -> Res<()> {
    // SAFETY: `path` is NUL-terminated and outlives the call.
    check(unsafe { libc::chdir(path.as_ptr()) }).map(drop)
}

pub fn mkfifo(path: &CStr, mode: libc::mode_t) -> Res<()> {
    // SAFETY: `path` is NUL-terminated and outlives the call.
    check(unsafe { libc::mkfifo(path.as_ptr(), mode) }).map(drop)
}

/// The size of the open file `fd`.
pub fn file_size(fd: Fd) -> u64 {
    // SAFETY: lseek takes no pointers.
    let end = unsafe { libc::lseek(fd, 0, libc::SEEK_END) };
    end.max(0) as u64
}

pub fn truncate(fd: Fd) {
    // SAFETY: ftruncate takes no pointers.
    unsafe { libc::ftruncate(fd, 0) };
}

pub fn dup2(from: Fd, to: Fd) -> Res<()> {
    // SAFETY: dup2 takes no pointers; `to` is replaced atomically.
    check(unsafe { libc::dup2(from, to) }).map(drop)
}

/// Forks. Returns 0 in the child.
pub fn fork() -> Res<libc::pid_t> {
    // SAFETY: the monitor is single-threaded, so the child's copy of every lock is consistent;
    // the child only calls async-signal-safe functions before it executes or exits.
    check(unsafe { libc::fork() })
}

pub fn setsid() {
    // SAFETY: setsid takes no arguments.
    unsafe { libc::setsid() };
}

pub fn exit(code: c_int) -> ! {
    // SAFETY: _exit ends the process at once; nothing needs flushing in the monitor.
    unsafe { libc::_exit(code) }
}

pub fn getpid() -> libc::pid_t {
    // SAFETY: getpid cannot fail.
    unsafe { libc::getpid() }
}

/// Makes this process the reaper of its orphaned descendants: the container's init, whose parent
/// (the runtime) exits as soon as it has started it.
pub fn become_subreaper() -> Res<()> {
    // SAFETY: PR_SET_CHILD_SUBREAPER takes an integer argument.
    check(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) }).map(drop)
}

/// Up to 32 arguments for a program, as the NULL-terminated array execve takes.
pub struct Argv {
    ptrs: [*const c_char; 33],
    len: usize,
}

impl Argv {
    pub fn new() -> Argv {
        Argv {
            ptrs: [core::ptr::null(); 33],
            len: 0,
        }
    }

    /// Adds `arg`, which must outlive the spawn; false when the array is full.
    pub fn push(&mut self, arg: &CStr) -> bool {
        if self.len == 32 {
            return false;
        }
        self.ptrs[self.len] = arg.as_ptr();
        self.len += 1;
        true
    }
}

/// Starts `path` with `argv`, the environment `envp`, and `stdio` as its descriptors 0, 1 and
/// 2, with the signal mask and dispositions a new program expects.
pub fn spawn(
    path: &CStr,
    argv: &Argv,
    envp: *const *const c_char,
    stdio: [Fd; 3],
) -> Res<libc::pid_t> {
    let pid = fork()?;
    if pid != 0 {
        return Ok(pid);
    }
    for (target, fd) in stdio.into_iter().enumerate() {
        // dup2 onto itself keeps close-on-exec set: clear it through a copy.
        if fd == target as Fd {
            // SAFETY: F_SETFD takes an integer flag argument.
            unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
        } else if dup2(fd, target as Fd).is_err() {
            exit(127);
        }
    }
    reset_signals();
    // SAFETY: `path` and every pointer in `argv` are NUL-terminated strings the parent keeps
    // alive (the child has a copy of its memory); the array ends with NULL; `envp` is the
    // environment the monitor was started with.
    unsafe { libc::execve(path.as_ptr(), argv.ptrs.as_ptr(), envp) };
    exit(127)
}

/// Waits for `pid` (or any child with -1); `None` when `nohang` and nothing has exited.
pub fn waitpid(pid: libc::pid_t, nohang: bool) -> Res<Option<(libc::pid_t, c_int)>> {
    let mut status = 0;
    let flags = if nohang { libc::WNOHANG } else { 0 };
    // SAFETY: `status` is a valid place for the status word.
    let r = retry(|| unsafe { libc::waitpid(pid, &mut status, flags) } as isize)?;
    Ok((r != 0).then_some((r as libc::pid_t, status)))
}

/// A shell's view of a wait status: the exit code, or 128 plus the signal that killed it.
pub fn exit_code(status: c_int) -> c_int {
    if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        libc::WEXITSTATUS(status)
    }
}

const WATCHED: [c_int; 4] = [libc::SIGCHLD, libc::SIGTERM, libc::SIGINT, libc::SIGHUP];

fn signal_set(signals: &[c_int]) -> libc::sigset_t {
    // SAFETY: an all-zero sigset_t is a valid value to initialise.
    let mut set: libc::sigset_t = unsafe { core::mem::zeroed() };
    // SAFETY: `set` is a valid sigset_t.
    unsafe { libc::sigemptyset(&mut set) };
    for s in signals {
        // SAFETY: `set` is a valid sigset_t and `s` a valid signal number.
        unsafe { libc::sigaddset(&mut set, *s) };
    }
    set
}

/// Blocks the signals the monitor handles and returns a descriptor that reads them; SIGPIPE is
/// ignored, so a client that goes away is an error on write, not the monitor's end.
pub fn signal_fd() -> Res<Fd> {
    let set = signal_set(&WATCHED);
    // SAFETY: `set` is valid; the old mask is not wanted.
    check(unsafe { libc::sigprocmask(libc::SIG_BLOCK, &set, core::ptr::null_mut()) })?;
    // SAFETY: setting a disposition to SIG_IGN installs no handler code.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    // SAFETY: `set` is valid for the call.
    check(unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) })
}

/// In a child about to execute a program: nothing blocked, SIGPIPE back to its default.
fn reset_signals() {
    let set = signal_set(&[]);
    // SAFETY: `set` is valid; the old mask is not wanted.
    unsafe { libc::sigprocmask(libc::SIG_SETMASK, &set, core::ptr::null_mut()) };
    // SAFETY: restoring the default disposition installs no handler code.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
}

/// The next signal waiting on a [`signal_fd`].
pub fn next_signal(fd: Fd) -> Option<u32> {
    // SAFETY: an all-zero signalfd_siginfo is a valid value.
    let mut info: libc::signalfd_siginfo = unsafe { core::mem::zeroed() };
    let size = core::mem::size_of::<libc::signalfd_siginfo>();
    // SAFETY: `info` has room for one record of `size` bytes.
    let n = unsafe { libc::read(fd, (&raw mut info).cast(), size) };
    (n as usize == size).then_some(info.ssi_signo)
}

pub use libc::pollfd as PollFd;

pub fn poll_fd(fd: Fd) -> PollFd {
    PollFd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }
}

/// Waits up to `timeout_ms` (-1: no limit) for one of `fds` to be ready.
pub fn poll(fds: &mut [PollFd], timeout_ms: c_int) -> Res<usize> {
    // SAFETY: the pointer and count describe `fds`, which outlives the call.
    let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    if r < 0 {
        let e = errno();
        return if e.0 == libc::EINTR { Ok(0) } else { Err(e) };
    }
    Ok(r as usize)
}

/// A listening unix socket at `name`, relative to the working directory (which keeps the address
/// short however deep the run directory is).
pub fn listen_unix(name: &CStr) -> Res<Fd> {
    // SAFETY: socket takes no pointers.
    let fd = check(unsafe {
        libc::socket(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        )
    })?;
    // SAFETY: an all-zero sockaddr_un is a valid value.
    let mut addr: libc::sockaddr_un = unsafe { core::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let bytes = name.to_bytes();
    if bytes.len() >= addr.sun_path.len() {
        close(fd);
        return Err(Errno(libc::ENAMETOOLONG));
    }
    for (d, s) in addr.sun_path.iter_mut().zip(bytes) {
        *d = *s as c_char;
    }
    unlink(name);
    let len = core::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
    // SAFETY: `addr` is a valid sockaddr_un of `len` bytes.
    let bound = check(unsafe { libc::bind(fd, (&raw const addr).cast(), len) })
        // SAFETY: listen takes no pointers.
        .and_then(|_| check(unsafe { libc::listen(fd, 16) }));
    match bound {
        Ok(_) => Ok(fd),
        Err(e) => {
            close(fd);
            Err(e)
        }
    }
}

/// The next connection on `listener`, non-blocking and close-on-exec.
pub fn accept(listener: Fd) -> Res<Fd> {
    // SAFETY: a NULL address asks for no peer address.
    check(unsafe {
        libc::accept4(
            listener,
            core::ptr::null_mut(),
            core::ptr::null_mut(),
            libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
        )
    })
}

/// Receives one descriptor sent with SCM_RIGHTS on `socket` (the runtime's pty master).
pub fn receive_fd(socket: Fd) -> Res<Fd> {
    let mut byte = [0u8; 64];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: byte.len(),
    };
    // Room for one cmsghdr and one int, aligned as the kernel writes it.
    let mut control = [0u64; 8];
    // SAFETY: an all-zero msghdr is a valid value.
    let mut msg: libc::msghdr = unsafe { core::mem::zeroed() };
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = core::mem::size_of_val(&control);
    // SAFETY: `msg` points at `iov` and `control`, both alive and sized as declared.
    retry(|| unsafe { libc::recvmsg(socket, &mut msg, libc::MSG_CMSG_CLOEXEC) })?;
    // SAFETY: `msg` was filled by recvmsg; CMSG_FIRSTHDR stays within msg_control.
    let cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    if cmsg.is_null() {
        return Err(Errno(libc::EBADMSG));
    }
    // SAFETY: `cmsg` is non-null and points into `control`.
    let header = unsafe { &*cmsg };
    if header.cmsg_level != libc::SOL_SOCKET || header.cmsg_type != libc::SCM_RIGHTS {
        return Err(Errno(libc::EBADMSG));
    }
    // SAFETY: an SCM_RIGHTS message carries at least one int after its header, inside
    // `control`; read_unaligned copes with any alignment.
    let fd = unsafe { core::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<Fd>()) };
    if fd < 0 {
        return Err(Errno(libc::EBADMSG));
    }
    Ok(fd)
}

/// Sets a terminal's window size.
pub fn set_window_size(fd: Fd, rows: u16, cols: u16) {
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize, which `size` is.
    unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &size) };
}

fn clock(id: libc::clockid_t) -> (i64, u32) {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to fill.
    unsafe { libc::clock_gettime(id, &mut ts) };
    (ts.tv_sec, ts.tv_nsec as u32)
}

/// Wall-clock time: seconds and nanoseconds since the epoch.
pub fn now() -> (i64, u32) {
    clock(libc::CLOCK_REALTIME)
}

/// Milliseconds on a clock that never goes back.
pub fn monotonic_ms() -> u64 {
    let (s, ns) = clock(libc::CLOCK_MONOTONIC);
    s as u64 * 1000 + u64::from(ns / 1_000_000)
}

/// The C runtime's `main`: the monitor's arguments as C strings, and its environment.
#[cfg(not(test))]
#[unsafe(no_mangle)]
extern "C" fn main(argc: c_int, argv: *const *const c_char, envp: *const *const c_char) -> c_int {
    let args = (0..argc.max(0) as usize).map(move |i| {
        // SAFETY: the C runtime passes `argc` valid pointers to NUL-terminated strings that live
        // as long as the process.
        unsafe { CStr::from_ptr(*argv.add(i)) }
    });
    crate::run(args, envp)
}
