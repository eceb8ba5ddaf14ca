//! `berth-monitor`: one small process per background container. berth starts it once the
//! container's root and bundle are ready; it detaches (setsid, double fork), has the OCI runtime
//! start the container, and then, for the container's whole life:
//! - holds its stdio (pipes) or its terminal (the pty master the runtime sends over
//!   `console.sock`), and writes the output to the json-file log with rotation;
//! - serves `berth attach` on `attach.sock` (output as Docker's multiplexed frames, input to the
//!   container's stdin or terminal) and terminal resizes written to the `ctl` fifo;
//! - reaps the container (it is the subreaper), and asks berth (the `--hook` command) to record
//!   each start and exit; when berth answers `restart` it waits Docker's back-off and starts the
//!   container again. SIGTERM during that wait ends the monitor (`berth stop`).
//!
//! It holds the container's lifecycle lock (an inherited descriptor) until it has gone, so a live
//! state whose lock is free tells berth that the monitor is gone.
//!
//! Built for release with `panic = "abort"` it links no Rust standard library, only the C
//! library, statically (see `scripts/build-monitor.sh`): a resident set well under 1 MiB. Test
//! builds use the standard library and unwind, and work the same.
#![cfg_attr(panic = "abort", no_std)]
#![cfg_attr(not(test), no_main)]
// Unit tests cover the parts; the entry point that uses them all is not built for tests.
#![cfg_attr(test, allow(dead_code))]

mod log;
mod sys;
mod text;

use core::ffi::{CStr, c_char, c_int};
use core::fmt::Write;

use log::{JsonLog, Lines};
use sys::Fd;
use text::Buf;

#[cfg(panic = "abort")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    sys::exit(125)
}

/// How long the runtime may take to send the terminal.
const CONSOLE_TIMEOUT_MS: c_int = 10_000;
/// After the container's init exits, output still buffered is read until the pipes stay quiet
/// this long (a process outside the container's PID namespace may hold them open).
const DRAIN_MS: c_int = 1_000;
/// Docker's restart back-off: 100 ms, doubling up to a minute, back to 100 ms after 10 s up.
const BACKOFF_MIN_MS: u64 = 100;
const BACKOFF_MAX_MS: u64 = 60_000;
const BACKOFF_RESET_MS: u64 = 10_000;
const MAX_CLIENTS: usize = 8;
const MAX_HOOK: usize = 12;

struct Config {
    id: &'static CStr,
    run_dir: &'static CStr,
    bundle: &'static CStr,
    runtime: &'static CStr,
    runtime_name: &'static CStr,
    runtime_root: &'static CStr,
    log: &'static CStr,
    max_size: u64,
    max_file: u32,
    tty: bool,
    stdin: bool,
    lock_fd: Fd,
    status_fd: Fd,
    hook: [&'static CStr; MAX_HOOK],
    hook_len: usize,
    envp: *const *const c_char,
}

fn parse(mut args: impl Iterator<Item = &'static CStr>) -> Result<Config, &'static str> {
    let empty = c"";
    let mut c = Config {
        id: empty,
        run_dir: empty,
        bundle: empty,
        runtime: empty,
        runtime_name: empty,
        runtime_root: empty,
        log: empty,
        max_size: 0,
        max_file: 1,
        tty: false,
        stdin: false,
        lock_fd: -1,
        status_fd: -1,
        hook: [empty; MAX_HOOK],
        hook_len: 0,
        envp: core::ptr::null(),
    };
    let number = |v: &CStr| -> Result<u64, &'static str> {
        v.to_str()
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or("a numeric option is not a number")
    };
    args.next();
    while let Some(flag) = args.next() {
        match flag.to_bytes() {
            b"--tty" => c.tty = true,
            b"--stdin" => c.stdin = true,
            name => {
                let v = args.next().ok_or("an option lacks its value")?;
                match name {
                    b"--id" => c.id = v,
                    b"--run-dir" => c.run_dir = v,
                    b"--bundle" => c.bundle = v,
                    b"--runtime" => c.runtime = v,
                    b"--runtime-name" => c.runtime_name = v,
                    b"--runtime-root" => c.runtime_root = v,
                    b"--log" => c.log = v,
                    b"--max-size" => c.max_size = number(v)?,
                    b"--max-file" => c.max_file = number(v)? as u32,
                    b"--lock-fd" => c.lock_fd = number(v)? as Fd,
                    b"--status-fd" => c.status_fd = number(v)? as Fd,
                    b"--hook" => {
                        if c.hook_len == MAX_HOOK {
                            return Err("too many --hook arguments");
                        }
                        c.hook[c.hook_len] = v;
                        c.hook_len += 1;
                    }
                    _ => return Err("unknown option"),
                }
            }
        }
    }
    let required = [c.id, c.run_dir, c.bundle, c.runtime, c.runtime_root, c.log];
    if required.iter().any(|v| v.is_empty()) || c.hook_len == 0 {
        return Err(
            "--id, --run-dir, --bundle, --runtime, --runtime-root, --log and --hook are required",
        );
    }
    if c.runtime_name.is_empty() {
        c.runtime_name = c.runtime;
    }
    Ok(c)
}

/// The program, called by the C runtime's entry point (see `sys::main`).
fn run(args: impl Iterator<Item = &'static CStr>, envp: *const *const c_char) -> c_int {
    match parse(args) {
        Ok(mut config) => {
            config.envp = envp;
            monitor(&config)
        }
        Err(message) => {
            let _ = sys::write_all(2, b"berth-monitor: ");
            let _ = sys::write_all(2, message.as_bytes());
            let _ = sys::write_all(2, b"\n");
            125
        }
    }
}

/// A path under the run directory.
fn in_run_dir(c: &Config, name: &str) -> Buf<4200> {
    let mut b = Buf::new();
    b.push(c.run_dir.to_bytes());
    b.push(b"/");
    b.push(name.as_bytes());
    b
}

fn report(c: &Config, text: &[u8]) {
    let _ = sys::write_all(c.status_fd, text);
}

fn monitor(c: &Config) -> c_int {
    if sys::chdir(c.run_dir).is_err() {
        report(c, b"error cannot enter the run directory\n");
        return 125;
    }
    // Detach: the first child leaves the caller's session, the second can never regain a
    // controlling terminal, and berth reaps the first at once.
    match sys::fork() {
        Ok(0) => {}
        Ok(_) => return 0,
        Err(_) => {
            report(c, b"error cannot fork\n");
            return 125;
        }
    }
    sys::setsid();
    match sys::fork() {
        Ok(0) => {}
        Ok(_) => sys::exit(0),
        Err(_) => {
            report(c, b"error cannot fork\n");
            sys::exit(125)
        }
    }
    // Nothing of berth's stdio stays open here: berth reads its end until it closes.
    if let Ok(null) = sys::open(c"/dev/null", libc::O_RDWR, 0) {
        for fd in 0..3 {
            let _ = sys::dup2(null, fd);
        }
        sys::close(null);
    }
    // The lock and the status socket stay with the monitor, never with what it starts.
    let _ = sys::set_cloexec(c.lock_fd);
    let _ = sys::set_cloexec(c.status_fd);
    let signals = match (sys::become_subreaper(), sys::signal_fd()) {
        (Ok(()), Ok(fd)) => fd,
        _ => {
            report(c, b"error cannot set up signal handling\n");
            sys::exit(125)
        }
    };
    let mut pid_text = Buf::<32>::new();
    let _ = write!(pid_text, "{}", sys::getpid());
    write_file(c"monitor.pid", pid_text.bytes());
    let code = supervise(c, signals);
    for name in [c"attach.sock", c"ctl", c"monitor.pid"] {
        sys::unlink(name);
    }
    sys::exit(code)
}

fn write_file(name: &CStr, data: &[u8]) {
    if let Ok(fd) = sys::open(name, libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC, 0o600) {
        let _ = sys::write_all(fd, data);
        sys::close(fd);
    }
}

/// The container's stdio as the monitor holds it.
struct Streams {
    /// stdout and stderr, or the terminal as stdout.
    out: [Fd; 2],
    /// Where attach clients' input goes: the stdin pipe or the terminal.
    input: Fd,
    /// The pty master, for resizes.
    terminal: Fd,
}

impl Streams {
    fn close(&mut self) {
        for fd in self.out {
            sys::close(fd);
        }
        if self.input != self.terminal {
            sys::close(self.input);
        }
        sys::close(self.terminal);
        *self = Streams::none();
    }

    fn none() -> Streams {
        Streams {
            out: [-1, -1],
            input: -1,
            terminal: -1,
        }
    }
}

fn supervise(c: &Config, signals: Fd) -> c_int {
    let mut log = match JsonLog::open(c.log.to_bytes(), c.max_size, c.max_file) {
        Ok(l) => l,
        Err(_) => {
            report(c, b"error cannot open the container's log\n");
            return 125;
        }
    };
    let listener = sys::listen_unix(c"attach.sock").unwrap_or(-1);
    let ctl = if c.tty {
        sys::unlink(c"ctl");
        sys::mkfifo(c"ctl", 0o600)
            .and_then(|()| sys::open(c"ctl", libc::O_RDWR | libc::O_NONBLOCK, 0))
            .unwrap_or(-1)
    } else {
        -1
    };
    let mut first = true;
    let mut backoff = BACKOFF_MIN_MS;
    loop {
        let begun = sys::monotonic_ms();
        let (pid, mut streams) = match start(c) {
            Ok(started) => started,
            Err(()) if first => {
                report(c, b"error\n");
                return 1;
            }
            Err(()) => {
                hook(c, "stopped", b"start-failed");
                return 1;
            }
        };
        let mut status = -1;
        if first {
            let mut line = Buf::<32>::new();
            let _ = writeln!(line, "started {pid}");
            report(c, line.bytes());
            status = c.status_fd;
        } else {
            let mut arg = Buf::<16>::new();
            let _ = write!(arg, "{pid}");
            hook(c, "restarted", arg.bytes());
        }
        first = false;
        let code = serve(pid, &mut streams, &mut log, listener, ctl, signals, status);
        streams.close();
        if status >= 0 {
            sys::close(status);
        }
        let mut arg = Buf::<16>::new();
        let _ = write!(arg, "{code}");
        if hook(c, "exited", arg.bytes()).bytes() != b"restart" {
            return 0;
        }
        if sys::monotonic_ms().saturating_sub(begun) >= BACKOFF_RESET_MS {
            backoff = BACKOFF_MIN_MS;
        }
        if !sleep_unless_stopped(signals, backoff) {
            hook(c, "stopped", b"");
            return 0;
        }
        backoff = (backoff * 2).min(BACKOFF_MAX_MS);
    }
}

/// Has the runtime create and start the container (`run --detach`): returns the container's
/// pid and its stdio. The runtime's own errors are in `runtime-run.log`, which berth reads.
fn start(c: &Config) -> Result<(libc::pid_t, Streams), ()> {
    let null = sys::open(c"/dev/null", libc::O_RDWR, 0).map_err(drop)?;
    let mut streams = Streams::none();
    let mut child = [null, null, null];
    let mut theirs = [-1; 3];
    let console = if c.tty {
        Some(sys::listen_unix(c"console.sock").map_err(|_| sys::close(null))?)
    } else {
        for (i, slot) in streams.out.iter_mut().enumerate() {
            if let Ok((r, w)) = sys::pipe() {
                *slot = r;
                child[i + 1] = w;
                theirs[i + 1] = w;
            }
        }
        if c.stdin
            && let Ok((r, w)) = sys::pipe()
        {
            streams.input = w;
            child[0] = r;
            theirs[0] = r;
        }
        None
    };
    let mut log_path = in_run_dir(c, "runtime-run.log");
    let mut pid_path = in_run_dir(c, "pid");
    let mut argv = sys::Argv::new();
    for arg in [
        c.runtime_name,
        c"--root",
        c.runtime_root,
        c"--log",
        log_path.c_str().unwrap_or(c"runtime-run.log"),
        c"--log-format",
        c"json",
        c"run",
        c"--detach",
        c"--bundle",
        c.bundle,
        c"--pid-file",
        pid_path.c_str().unwrap_or(c"pid"),
    ] {
        argv.push(arg);
    }
    if console.is_some() {
        argv.push(c"--console-socket");
        argv.push(c"console.sock");
    }
    argv.push(c.id);
    sys::unlink(c"pid");
    let spawned = sys::spawn(c.runtime, &argv, c.envp, child);
    for fd in theirs {
        sys::close(fd);
    }
    sys::close(null);
    let fail = |streams: &mut Streams, console: Option<Fd>| {
        streams.close();
        if let Some(l) = console {
            sys::close(l);
            sys::unlink(c"console.sock");
        }
        Err(())
    };
    let Ok(runtime) = spawned else {
        return fail(&mut streams, console);
    };
    match sys::waitpid(runtime, false) {
        Ok(Some((_, status))) if sys::exit_code(status) == 0 => {}
        _ => return fail(&mut streams, console),
    }
    if let Some(listener) = console {
        let mut fds = [sys::poll_fd(listener)];
        let master = match sys::poll(&mut fds, CONSOLE_TIMEOUT_MS) {
            Ok(1) => sys::accept(listener).and_then(|s| {
                let fd = sys::receive_fd(s);
                sys::close(s);
                fd
            }),
            _ => Err(sys::Errno(libc::ETIMEDOUT)),
        };
        sys::close(listener);
        sys::unlink(c"console.sock");
        let Ok(master) = master else {
            return fail(&mut streams, None);
        };
        streams.out[0] = master;
        streams.terminal = master;
        streams.input = master;
    }
    let mut text = [0u8; 32];
    let pid = sys::open(c"pid", libc::O_RDONLY, 0)
        .ok()
        .and_then(|fd| {
            let n = sys::read(fd, &mut text);
            sys::close(fd);
            n.ok()
        })
        .and_then(|n| core::str::from_utf8(&text[..n]).ok())
        .and_then(|s| s.trim().parse::<libc::pid_t>().ok());
    match pid {
        Some(pid) if pid > 0 => Ok((pid, streams)),
        _ => fail(&mut streams, None),
    }
}

/// Serves the running container until it has exited, its output is drained and berth has
/// stopped listening on `status`; returns its exit code as a shell reports it.
#[allow(clippy::too_many_arguments)]
fn serve(
    pid: libc::pid_t,
    streams: &mut Streams,
    log: &mut JsonLog,
    listener: Fd,
    ctl: Fd,
    signals: Fd,
    mut status: Fd,
) -> c_int {
    const NAMES: [&str; 2] = ["stdout", "stderr"];
    let mut lines = [Lines::new(), Lines::new()];
    let mut clients = [-1; MAX_CLIENTS];
    let mut exited: Option<c_int> = None;
    let mut buf = [0u8; 8192];
    loop {
        let open = streams.out.iter().any(|fd| *fd >= 0);
        if let Some(code) = exited
            && !open
            && status < 0
        {
            for client in &mut clients {
                sys::close(*client);
                *client = -1;
            }
            return code;
        }
        // Fixed slots, so each ready descriptor is known by its place.
        let mut fds = [sys::poll_fd(-1); 6 + MAX_CLIENTS];
        let fixed = [
            signals,
            streams.out[0],
            streams.out[1],
            listener,
            ctl,
            status,
        ];
        for (slot, fd) in fds.iter_mut().zip(fixed.into_iter().chain(clients)) {
            *slot = sys::poll_fd(fd);
        }
        let timeout = if exited.is_some() { DRAIN_MS } else { -1 };
        match sys::poll(&mut fds, timeout) {
            Ok(0) if exited.is_some() => {
                // Quiet since the exit: what still holds the output open is not waited for.
                for (i, fd) in streams.out.iter_mut().enumerate() {
                    lines[i].finish(|l| log.write(NAMES[i], l));
                    sys::close(*fd);
                    *fd = -1;
                }
                if status >= 0 {
                    sys::close(status);
                    status = -1;
                }
                continue;
            }
            Ok(_) => {}
            Err(_) => continue,
        }
        let ready = |i: usize| fds[i].revents != 0;
        if ready(0) {
            while let Some(signal) = sys::next_signal(signals) {
                if signal == libc::SIGCHLD as u32 {
                    while let Ok(Some((child, st))) = sys::waitpid(-1, true) {
                        if child == pid {
                            exited = Some(sys::exit_code(st));
                        }
                    }
                }
                // SIGTERM and the like: the container's own end ends the monitor.
            }
        }
        for i in 0..2 {
            if !ready(1 + i) {
                continue;
            }
            match sys::read(streams.out[i], &mut buf) {
                // A terminal whose other side has closed reads EIO.
                Ok(0) | Err(_) => {
                    lines[i].finish(|l| log.write(NAMES[i], l));
                    sys::close(streams.out[i]);
                    streams.out[i] = -1;
                }
                Ok(n) => {
                    let data = &buf[..n];
                    send_frame(&mut clients, if i == 0 { 1 } else { 2 }, data);
                    lines[i].feed(data, |l| log.write(NAMES[i], l));
                }
            }
        }
        if ready(3)
            && let Ok(client) = sys::accept(listener)
        {
            match clients.iter_mut().find(|s| **s < 0) {
                Some(slot) => *slot = client,
                None => sys::close(client),
            }
        }
        if ready(4) {
            resize(ctl, streams.terminal);
        }
        if ready(5) {
            // berth closes its end once it has recorded the start.
            let mut byte = [0u8; 16];
            if !matches!(sys::read(status, &mut byte), Ok(n) if n > 0) {
                sys::close(status);
                status = -1;
            }
        }
        for (i, client) in clients.iter_mut().enumerate() {
            if !ready(6 + i) {
                continue;
            }
            match sys::read(*client, &mut buf) {
                Ok(n) if n > 0 => {
                    if streams.input >= 0 {
                        let _ = sys::write_all(streams.input, &buf[..n]);
                    }
                }
                Err(sys::Errno(libc::EAGAIN)) => {}
                _ => {
                    sys::close(*client);
                    *client = -1;
                }
            }
        }
    }
}

/// Sends `data` to every attach client as one of Docker's stream frames: the stream (1 stdout,
/// 2 stderr), three zero bytes, the length (big-endian), the payload. A client too slow to take
/// it is dropped rather than allowed to stall the container.
fn send_frame(clients: &mut [Fd], stream: u8, data: &[u8]) {
    let len = (data.len() as u32).to_be_bytes();
    let header = [stream, 0, 0, 0, len[0], len[1], len[2], len[3]];
    for client in clients.iter_mut().filter(|c| **c >= 0) {
        if sys::write_all(*client, &header)
            .and_then(|()| sys::write_all(*client, data))
            .is_err()
        {
            sys::close(*client);
            *client = -1;
        }
    }
}

/// Applies the sizes written to the `ctl` fifo, one `ROWS COLS` line each.
fn resize(ctl: Fd, terminal: Fd) {
    let mut buf = [0u8; 256];
    let Ok(n) = sys::read(ctl, &mut buf) else {
        return;
    };
    for line in buf[..n].split(|b| *b == b'\n') {
        let mut words = line
            .split(|b| *b == b' ')
            .filter_map(|w| core::str::from_utf8(w).ok()?.parse::<u16>().ok());
        if let (Some(rows), Some(cols), Some(fd)) = (
            words.next(),
            words.next(),
            (terminal >= 0).then_some(terminal),
        ) {
            sys::set_window_size(fd, rows, cols);
        }
    }
}

/// Waits `ms` for the restart; false when SIGTERM (or SIGINT, SIGHUP) came first.
fn sleep_unless_stopped(signals: Fd, ms: u64) -> bool {
    let until = sys::monotonic_ms() + ms;
    loop {
        let now = sys::monotonic_ms();
        if now >= until {
            return true;
        }
        let mut fds = [sys::poll_fd(signals)];
        let _ = sys::poll(&mut fds, (until - now).min(60_000) as c_int);
        while let Some(signal) = sys::next_signal(signals) {
            if signal == libc::SIGCHLD as u32 {
                while let Ok(Some(_)) = sys::waitpid(-1, true) {}
            } else {
                return false;
            }
        }
    }
}

/// Runs `<hook…> ACTION ARG` (berth's `container-hook`) and returns the first line it prints.
fn hook(c: &Config, action: &str, arg: &[u8]) -> Buf<64> {
    let mut answer = Buf::new();
    let mut action_c = Buf::<32>::new();
    action_c.push(action.as_bytes());
    let mut arg_c = Buf::<64>::new();
    arg_c.push(arg);
    let mut argv = sys::Argv::new();
    for part in &c.hook[..c.hook_len] {
        argv.push(part);
    }
    argv.push(c.id);
    if let (Some(a), Some(b)) = (action_c.c_str(), arg_c.c_str()) {
        argv.push(a);
        argv.push(b);
    }
    let Ok((r, w)) = sys::pipe() else {
        return answer;
    };
    let null = sys::open(c"/dev/null", libc::O_RDWR, 0).unwrap_or(-1);
    let errors = sys::open(
        c"hook.log",
        libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT,
        0o600,
    )
    .unwrap_or(null);
    let spawned = sys::spawn(c.hook[0], &argv, c.envp, [null, w, errors]);
    sys::close(w);
    sys::close(null);
    if errors != null {
        sys::close(errors);
    }
    let mut buf = [0u8; 64];
    let mut len = 0;
    while len < buf.len() {
        match sys::read(r, &mut buf[len..]) {
            Ok(n) if n > 0 => len += n,
            _ => break,
        }
    }
    sys::close(r);
    if let Ok(pid) = spawned {
        let _ = sys::waitpid(pid, false);
    }
    let first = buf[..len].split(|b| *b == b'\n').next().unwrap_or(&[]);
    answer.push(first);
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&'static CStr]) -> Result<Config, &'static str> {
        parse(list.iter().copied())
    }

    #[test]
    fn arguments_are_checked() {
        let base = [
            c"berth-monitor",
            c"--id",
            c"abc",
            c"--run-dir",
            c"/run/berth/abc",
            c"--bundle",
            c"/b",
            c"--runtime",
            c"/usr/bin/runc",
            c"--runtime-root",
            c"/run/runc",
            c"--log",
            c"/l.log",
            c"--hook",
            c"/usr/bin/berth",
            c"--max-size",
            c"1000",
            c"--tty",
        ];
        let c = args(&base).unwrap();
        assert_eq!(c.id, c"abc");
        assert_eq!(c.max_size, 1000);
        assert!(c.tty && !c.stdin);
        assert_eq!(c.runtime_name, c"/usr/bin/runc");
        assert_eq!(&c.hook[..c.hook_len], [c"/usr/bin/berth"]);
        assert!(args(&base[..13]).is_err(), "no hook");
        let mut bad = base.to_vec();
        bad.push(c"--max-file");
        assert!(args(&bad).is_err(), "a value is missing");
        bad.push(c"many");
        assert!(args(&bad).is_err(), "not a number");
        let mut unknown = base.to_vec();
        unknown.extend([c"--frobnicate", c"x"]);
        assert!(args(&unknown).is_err());
    }
}
