//! berth's default seccomp profile: the `linux.seccomp` section of a container's bundle when the user
//! asked for no other. It has Docker's semantics: every syscall not listed fails with EPERM, a large
//! set is always allowed, `socket`, `personality` and `clone` are allowed only for some argument
//! values, and the syscalls that need a capability are allowed only when the container's bounding
//! set holds it.
//!
//! Only x86_64 is described: the filter covers the x86_64, x86 and x32 system call tables, and the
//! rules meant for other architectures are left out.

use berth_types::runtime::{Seccomp, SeccompOp, SyscallArg, SyscallRule};

const ACT_ALLOW: &str = "SCMP_ACT_ALLOW";
const ACT_ERRNO: &str = "SCMP_ACT_ERRNO";
const EPERM: u32 = 1;
const ENOSYS: u32 = 38;

/// The native architecture and the two compat ones a process on it can call into.
const ARCHITECTURES: [&str; 3] = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"];

const CLONE_NEWNS: u64 = 0x0002_0000;
const CLONE_NEWCGROUP: u64 = 0x0200_0000;
const CLONE_NEWUTS: u64 = 0x0400_0000;
const CLONE_NEWIPC: u64 = 0x0800_0000;
const CLONE_NEWUSER: u64 = 0x1000_0000;
const CLONE_NEWPID: u64 = 0x2000_0000;
const CLONE_NEWNET: u64 = 0x4000_0000;
/// The `clone` flags that create a namespace.
const NAMESPACE_FLAGS: u64 = CLONE_NEWNS
    | CLONE_NEWCGROUP
    | CLONE_NEWUTS
    | CLONE_NEWIPC
    | CLONE_NEWUSER
    | CLONE_NEWPID
    | CLONE_NEWNET;

/// `socket` domains around the two that stay denied: AF_ALG (the kernel's crypto API) and AF_VSOCK
/// (virtio sockets to the host).
const AF_ALG: u64 = 38;
const AF_NFC: u64 = 39;
const AF_VSOCK: u64 = 40;

/// `personality` personas: Linux, 32-bit Linux, and either with a 2.6-style `uname`.
const PER_LINUX: u64 = 0;
const PER_LINUX32: u64 = 0x0008;
const UNAME26: u64 = 0x0002_0000;
/// The argument that only reads the current persona.
const PERSONALITY_QUERY: u64 = 0xffff_ffff;

/// One rule of the profile, and the capabilities under which it applies.
struct Group {
    names: &'static [&'static str],
    action: &'static str,
    errno: Option<u32>,
    /// Comparisons that must all hold for the rule to match.
    args: &'static [SyscallArg],
    /// The rule applies only if the bounding set holds every one of these.
    if_caps: &'static [&'static str],
    /// The rule applies only if the bounding set holds none of these.
    unless_caps: &'static [&'static str],
}

impl Group {
    /// Allows `names`, for every container.
    const fn allow(names: &'static [&'static str]) -> Group {
        Group {
            names,
            action: ACT_ALLOW,
            errno: None,
            args: &[],
            if_caps: &[],
            unless_caps: &[],
        }
    }

    /// Fails `names` with `errno`, for every container.
    const fn fail(names: &'static [&'static str], errno: u32) -> Group {
        Group {
            action: ACT_ERRNO,
            errno: Some(errno),
            ..Group::allow(names)
        }
    }

    const fn args(self, args: &'static [SyscallArg]) -> Group {
        Group { args, ..self }
    }

    const fn if_caps(self, if_caps: &'static [&'static str]) -> Group {
        Group { if_caps, ..self }
    }

    const fn unless_caps(self, unless_caps: &'static [&'static str]) -> Group {
        Group {
            unless_caps,
            ..self
        }
    }

    fn applies(&self, caps: &[String]) -> bool {
        let has = |cap: &&str| caps.iter().any(|c| c == cap);
        self.if_caps.iter().all(has) && !self.unless_caps.iter().any(has)
    }

    fn rule(&self) -> SyscallRule {
        SyscallRule {
            names: self.names.iter().map(|n| (*n).to_owned()).collect(),
            action: self.action.to_owned(),
            errno_ret: self.errno,
            args: self.args.to_vec(),
        }
    }
}

/// Compares argument `index` with `value`; for `MaskedEqual`, `value` is the mask and the masked
/// argument must be 0.
const fn arg(index: u32, op: SeccompOp, value: u64) -> SyscallArg {
    SyscallArg {
        index,
        value,
        value_two: 0,
        op,
    }
}

/// Argument `index` equals `value`.
const fn arg_eq(index: u32, value: u64) -> SyscallArg {
    arg(index, SeccompOp::Equal, value)
}

/// The profile, in order. Rules for one syscall with different arguments are alternatives: any one
/// that matches allows the call.
const GROUPS: &[Group] = &[
    Group::allow(ALLOWED),
    // Safe since Linux 4.8, where a tracer can no longer use ptrace to get its tracee past the
    // filter; berth needs 5.6 (for `openat2`), so these are always allowed.
    Group::allow(&["process_vm_readv", "process_vm_writev", "ptrace"]),
    // Every address family but AF_ALG and AF_VSOCK.
    Group::allow(&["socket"]).args(&[arg(0, SeccompOp::LessThan, AF_ALG)]),
    Group::allow(&["socket"]).args(&[arg_eq(0, AF_NFC)]),
    Group::allow(&["socket"]).args(&[arg(0, SeccompOp::GreaterThan, AF_VSOCK)]),
    Group::allow(&["personality"]).args(&[arg_eq(0, PER_LINUX)]),
    Group::allow(&["personality"]).args(&[arg_eq(0, PER_LINUX32)]),
    Group::allow(&["personality"]).args(&[arg_eq(0, UNAME26)]),
    Group::allow(&["personality"]).args(&[arg_eq(0, UNAME26 | PER_LINUX32)]),
    Group::allow(&["personality"]).args(&[arg_eq(0, PERSONALITY_QUERY)]),
    // x86-only calls: TLS setup and the local descriptor table.
    Group::allow(&["arch_prctl"]),
    Group::allow(&["modify_ldt"]),
    Group::allow(&["open_by_handle_at"]).if_caps(&["CAP_DAC_READ_SEARCH"]),
    Group::allow(&[
        "bpf",
        "clone",
        "clone3",
        "fanotify_init",
        "fsconfig",
        "fsmount",
        "fsopen",
        "fspick",
        "lookup_dcookie",
        "lsm_get_self_attr",
        "lsm_list_modules",
        "lsm_set_self_attr",
        "mount",
        "mount_setattr",
        "move_mount",
        "open_tree",
        "perf_event_open",
        "quotactl",
        "quotactl_fd",
        "setdomainname",
        "sethostname",
        "setns",
        "syslog",
        "umount",
        "umount2",
        "unshare",
    ])
    .if_caps(&["CAP_SYS_ADMIN"]),
    // Without CAP_SYS_ADMIN, `clone` may not create namespaces, and `clone3`, whose flags sit in
    // memory a filter cannot read, fails as if the kernel lacked it so that libc falls back to
    // `clone`.
    Group::allow(&["clone"])
        .args(&[arg(0, SeccompOp::MaskedEqual, NAMESPACE_FLAGS)])
        .unless_caps(&["CAP_SYS_ADMIN"]),
    Group::fail(&["clone3"], ENOSYS).unless_caps(&["CAP_SYS_ADMIN"]),
    Group::allow(&["reboot"]).if_caps(&["CAP_SYS_BOOT"]),
    Group::allow(&["chroot"]).if_caps(&["CAP_SYS_CHROOT"]),
    Group::allow(&["delete_module", "init_module", "finit_module"]).if_caps(&["CAP_SYS_MODULE"]),
    Group::allow(&["acct"]).if_caps(&["CAP_SYS_PACCT"]),
    Group::allow(&[
        "kcmp",
        "pidfd_getfd",
        "process_madvise",
        "process_vm_readv",
        "process_vm_writev",
        "ptrace",
    ])
    .if_caps(&["CAP_SYS_PTRACE"]),
    Group::allow(&["iopl", "ioperm"]).if_caps(&["CAP_SYS_RAWIO"]),
    Group::allow(&["settimeofday", "stime", "clock_settime", "clock_settime64"])
        .if_caps(&["CAP_SYS_TIME"]),
    Group::allow(&["vhangup"]).if_caps(&["CAP_SYS_TTY_CONFIG"]),
    Group::allow(&[
        "get_mempolicy",
        "mbind",
        "set_mempolicy",
        "set_mempolicy_home_node",
    ])
    .if_caps(&["CAP_SYS_NICE"]),
    Group::allow(&["syslog"]).if_caps(&["CAP_SYSLOG"]),
    Group::allow(&["bpf"]).if_caps(&["CAP_BPF"]),
    Group::allow(&["perf_event_open"]).if_caps(&["CAP_PERFMON"]),
];

/// Allowed for every container, whatever its arguments. Names the x86_64 kernel lacks (the 32-bit
/// and other architectures' variants) are resolved per architecture by the runtime and skipped
/// where they do not exist.
#[rustfmt::skip]
const ALLOWED: &[&str] = &[
    "accept", "accept4", "access", "adjtimex", "alarm",
    "bind", "brk",
    "cachestat", "capget", "capset", "chdir", "chmod", "chown", "chown32", "clock_adjtime",
    "clock_adjtime64", "clock_getres", "clock_getres_time64", "clock_gettime", "clock_gettime64",
    "clock_nanosleep", "clock_nanosleep_time64", "close", "close_range", "connect",
    "copy_file_range", "creat",
    "dup", "dup2", "dup3",
    "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait", "epoll_pwait2",
    "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "execve", "execveat", "exit",
    "exit_group",
    "faccessat", "faccessat2", "fadvise64", "fadvise64_64", "fallocate", "fanotify_mark", "fchdir",
    "fchmod", "fchmodat", "fchmodat2", "fchown", "fchown32", "fchownat", "fcntl", "fcntl64",
    "fdatasync", "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr", "fsetxattr", "fstat",
    "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate", "ftruncate64", "futex",
    "futex_requeue", "futex_time64", "futex_wait", "futex_waitv", "futex_wake", "futimesat",
    "get_robust_list", "get_thread_area", "getcpu", "getcwd", "getdents", "getdents64", "getegid",
    "getegid32", "geteuid", "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32",
    "getitimer", "getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority",
    "getrandom", "getresgid", "getresgid32", "getresuid", "getresuid32", "getrlimit", "getrusage",
    "getsid", "getsockname", "getsockopt", "gettid", "gettimeofday", "getuid", "getuid32",
    "getxattr", "getxattrat",
    "inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch", "io_cancel",
    "io_destroy", "io_getevents", "io_pgetevents", "io_pgetevents_time64", "io_setup", "io_submit",
    "ioctl", "ioprio_get", "ioprio_set", "ipc",
    "kill",
    "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "lchown", "lchown32",
    "lgetxattr", "link", "linkat", "listen", "listmount", "listxattr", "listxattrat", "llistxattr",
    "_llseek", "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64",
    "madvise", "map_shadow_stack", "membarrier", "memfd_create", "memfd_secret", "mincore", "mkdir",
    "mkdirat", "mknod", "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mmap2", "mprotect",
    "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64",
    "mq_timedsend", "mq_timedsend_time64", "mq_unlink", "mremap", "mseal", "msgctl", "msgget",
    "msgrcv", "msgsnd", "msync", "munlock", "munlockall", "munmap",
    "name_to_handle_at", "nanosleep", "newfstatat", "_newselect",
    "open", "openat", "openat2",
    "pause", "pidfd_open", "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free",
    "pkey_mprotect", "poll", "ppoll", "ppoll_time64", "prctl", "pread64", "preadv", "preadv2",
    "prlimit64", "process_mrelease", "pselect6", "pselect6_time64", "pwrite64", "pwritev",
    "pwritev2",
    "read", "readahead", "readlink", "readlinkat", "readv", "recv", "recvfrom", "recvmmsg",
    "recvmmsg_time64", "recvmsg", "remap_file_pages", "removexattr", "removexattrat", "rename",
    "renameat", "renameat2", "restart_syscall", "riscv_hwprobe", "rmdir", "rseq", "rt_sigaction",
    "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend",
    "rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_tgsigqueueinfo",
    "sched_get_priority_max", "sched_get_priority_min", "sched_getaffinity", "sched_getattr",
    "sched_getparam", "sched_getscheduler", "sched_rr_get_interval", "sched_rr_get_interval_time64",
    "sched_setaffinity", "sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield",
    "seccomp", "select", "semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "send",
    "sendfile", "sendfile64", "sendmmsg", "sendmsg", "sendto", "set_robust_list", "set_thread_area",
    "set_tid_address", "setfsgid", "setfsgid32", "setfsuid", "setfsuid32", "setgid", "setgid32",
    "setgroups", "setgroups32", "setitimer", "setpgid", "setpriority", "setregid", "setregid32",
    "setresgid", "setresgid32", "setresuid", "setresuid32", "setreuid", "setreuid32", "setrlimit",
    "setsid", "setsockopt", "setuid", "setuid32", "setxattr", "setxattrat", "shmat", "shmctl",
    "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd", "signalfd4", "sigprocmask",
    "sigreturn", "socketcall", "socketpair", "splice", "stat", "stat64", "statfs", "statfs64",
    "statmount", "statx", "symlink", "symlinkat", "sync", "sync_file_range", "syncfs", "sysinfo",
    "tee", "tgkill", "time", "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime",
    "timer_gettime64", "timer_settime", "timer_settime64", "timerfd_create", "timerfd_gettime",
    "timerfd_gettime64", "timerfd_settime", "timerfd_settime64", "times", "tkill", "truncate",
    "truncate64",
    "ugetrlimit", "umask", "uname", "unlink", "unlinkat", "uretprobe", "utime", "utimensat",
    "utimensat_time64", "utimes",
    "vfork", "vmsplice",
    "wait4", "waitid", "waitpid", "write", "writev",
];

/// berth's default seccomp profile for a container whose bounding set is `caps` (names like
/// `CAP_SYS_ADMIN`).
pub(crate) fn default_profile(caps: &[String]) -> Seccomp {
    Seccomp {
        default_action: ACT_ERRNO.to_owned(),
        default_errno_ret: Some(EPERM),
        architectures: ARCHITECTURES.iter().map(|a| (*a).to_owned()).collect(),
        syscalls: GROUPS
            .iter()
            .filter(|g| g.applies(caps))
            .map(Group::rule)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn caps(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    /// The capabilities a container gets when the user adds or drops none.
    fn usual_caps() -> Vec<String> {
        caps(&[
            "CAP_AUDIT_WRITE",
            "CAP_CHOWN",
            "CAP_DAC_OVERRIDE",
            "CAP_FOWNER",
            "CAP_FSETID",
            "CAP_KILL",
            "CAP_MKNOD",
            "CAP_NET_BIND_SERVICE",
            "CAP_NET_RAW",
            "CAP_SETFCAP",
            "CAP_SETGID",
            "CAP_SETPCAP",
            "CAP_SETUID",
            "CAP_SYS_CHROOT",
        ])
    }

    /// Every rule that allows its names whatever the arguments.
    fn unconditional(profile: &Seccomp) -> impl Iterator<Item = &SyscallRule> {
        profile
            .syscalls
            .iter()
            .filter(|r| r.action == ACT_ALLOW && r.args.is_empty())
    }

    fn allowed(profile: &Seccomp, name: &str) -> bool {
        unconditional(profile).any(|r| r.names.iter().any(|n| n == name))
    }

    fn rules_for<'a>(profile: &'a Seccomp, name: &'a str) -> impl Iterator<Item = &'a SyscallRule> {
        profile
            .syscalls
            .iter()
            .filter(move |r| r.names.iter().any(|n| n == name))
    }

    #[test]
    fn denies_by_default_with_eperm_on_x86() {
        let profile = default_profile(&[]);
        assert_eq!(profile.default_action, "SCMP_ACT_ERRNO");
        assert_eq!(profile.default_errno_ret, Some(1));
        assert_eq!(
            profile.architectures,
            ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
        );
    }

    #[test]
    fn allows_the_ordinary_and_denies_the_privileged_without_caps() {
        for caps in [Vec::new(), usual_caps()] {
            let profile = default_profile(&caps);
            for name in [
                "read",
                "write",
                "execve",
                "exit_group",
                "openat2",
                "arch_prctl",
                "modify_ldt",
                "ptrace",
                "process_vm_readv",
            ] {
                assert!(allowed(&profile, name), "{name} should be allowed");
            }
            for name in [
                "mount",
                "umount2",
                "unshare",
                "setns",
                "kexec_load",
                "reboot",
                "init_module",
                "bpf",
                "perf_event_open",
                "syslog",
                "kcmp",
                "clock_settime",
                "open_by_handle_at",
                "iopl",
                "acct",
                "vhangup",
                "mbind",
                "clone",
                "clone3",
                "socket",
                "personality",
                "keyctl",
                "userfaultfd",
                "io_uring_setup",
            ] {
                assert!(!allowed(&profile, name), "{name} should be denied");
            }
        }
        assert!(!allowed(&default_profile(&[]), "chroot"));
        assert!(allowed(&default_profile(&usual_caps()), "chroot"));
    }

    #[test]
    fn cap_sys_admin_allows_mounts_and_namespaces() {
        let mut caps = usual_caps();
        caps.push("CAP_SYS_ADMIN".to_owned());
        let profile = default_profile(&caps);
        for name in [
            "mount",
            "unshare",
            "setns",
            "clone",
            "clone3",
            "sethostname",
        ] {
            assert!(allowed(&profile, name), "{name} should be allowed");
        }
        assert!(rules_for(&profile, "clone").all(|r| r.args.is_empty()));
        assert!(rules_for(&profile, "clone3").all(|r| r.action == ACT_ALLOW));
        assert!(!allowed(&profile, "reboot"));
    }

    #[test]
    fn each_capability_allows_its_own_syscalls() {
        for (cap, name) in [
            ("CAP_SYS_PTRACE", "kcmp"),
            ("CAP_SYS_MODULE", "finit_module"),
            ("CAP_SYS_BOOT", "reboot"),
            ("CAP_SYS_CHROOT", "chroot"),
            ("CAP_SYS_TIME", "settimeofday"),
            ("CAP_SYS_NICE", "set_mempolicy"),
            ("CAP_SYS_PACCT", "acct"),
            ("CAP_SYS_RAWIO", "ioperm"),
            ("CAP_SYSLOG", "syslog"),
            ("CAP_SYS_TTY_CONFIG", "vhangup"),
            ("CAP_BPF", "bpf"),
            ("CAP_PERFMON", "perf_event_open"),
            ("CAP_DAC_READ_SEARCH", "open_by_handle_at"),
        ] {
            assert!(!allowed(&default_profile(&[]), name), "{name}");
            assert!(allowed(&default_profile(&caps(&[cap])), name), "{cap}");
        }
    }

    #[test]
    fn personality_is_allowed_only_for_some_personas() {
        let profile = default_profile(&[]);
        let values: BTreeSet<u64> = rules_for(&profile, "personality")
            .map(|r| {
                assert_eq!(r.action, ACT_ALLOW);
                assert_eq!(r.names, ["personality"]);
                assert_eq!(r.args.len(), 1);
                assert_eq!((r.args[0].index, r.args[0].op), (0, SeccompOp::Equal));
                r.args[0].value
            })
            .collect();
        assert_eq!(
            values,
            BTreeSet::from([0, 8, 0x0002_0000, 0x0002_0008, 0xffff_ffff])
        );
    }

    #[test]
    fn socket_is_denied_only_for_af_alg_and_af_vsock() {
        let profile = default_profile(&[]);
        let rules: Vec<_> = rules_for(&profile, "socket").collect();
        let allows = |domain: u64| {
            rules.iter().any(|r| {
                r.args.iter().all(|a| match a.op {
                    SeccompOp::LessThan => domain < a.value,
                    SeccompOp::Equal => domain == a.value,
                    SeccompOp::GreaterThan => domain > a.value,
                    op => panic!("unexpected {op:?}"),
                })
            })
        };
        for domain in [1, 2, 10, 16, 17, 37, 39, 41, 44] {
            assert!(allows(domain), "domain {domain}");
        }
        assert!(!allows(38) && !allows(40));
    }

    #[test]
    fn no_name_is_allowed_twice() {
        for caps in [Vec::new(), usual_caps()] {
            let profile = default_profile(&caps);
            let mut seen = BTreeSet::new();
            for name in unconditional(&profile).flat_map(|r| &r.names) {
                assert!(seen.insert(name), "{name} is listed twice");
            }
            // The table, the three tracing calls, `arch_prctl`, `modify_ldt`, and `chroot` for
            // the usual capabilities.
            assert_eq!(
                seen.len(),
                ALLOWED.len() + 5 + usize::from(!caps.is_empty())
            );
        }
    }

    #[test]
    fn clone_may_not_create_namespaces_without_cap_sys_admin() {
        assert_eq!(NAMESPACE_FLAGS, 2_114_060_288);
        let profile = default_profile(&usual_caps());
        let clone: Vec<_> = rules_for(&profile, "clone").collect();
        assert_eq!(clone.len(), 1);
        assert_eq!(clone[0].action, ACT_ALLOW);
        assert_eq!(
            clone[0].args,
            [SyscallArg {
                index: 0,
                value: 2_114_060_288,
                value_two: 0,
                op: SeccompOp::MaskedEqual,
            }]
        );
        let clone3: Vec<_> = rules_for(&profile, "clone3").collect();
        assert_eq!(clone3.len(), 1);
        assert_eq!(
            (clone3[0].action.as_str(), clone3[0].errno_ret),
            ("SCMP_ACT_ERRNO", Some(38))
        );
    }

    #[test]
    fn serializes_as_the_runtime_spec_spells_it() {
        let json = serde_json::to_value(default_profile(&[])).unwrap();
        assert_eq!(json["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(json["defaultErrnoRet"], 1);
        let clone = json["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["names"][0] == "clone")
            .unwrap();
        assert_eq!(clone["args"][0]["op"], "SCMP_CMP_MASKED_EQ");
        assert_eq!(clone["args"][0]["value"], 2_114_060_288_u64);
    }
}
