//! `linux.seccomp` compiled into a BPF program through libseccomp. Syscall names this libseccomp
//! does not know are skipped, as other runtimes do, so one profile serves several kernels.
//!
//! Compiling a profile the size of Docker's takes libseccomp about 10 ms, more than the rest of a
//! container start, so each program is kept in the runtime's state directory under the SHA-256 of
//! the profile and the libseccomp version, and later containers load it directly. The directory is
//! the runtime's own (root-only); a cached program that is not a whole number of filter
//! instructions is ignored and recompiled.

use berth_types::runtime::{Seccomp, SeccompOp, SyscallArg};
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{Context, Result, RuntimeError};

const EPERM: i32 = 1;

fn action(name: &str, errno: Option<u32>) -> Result<ScmpAction> {
    Ok(match name {
        "SCMP_ACT_ALLOW" => ScmpAction::Allow,
        "SCMP_ACT_ERRNO" => ScmpAction::Errno(errno.map_or(EPERM, |e| e as i32)),
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => ScmpAction::KillThread,
        "SCMP_ACT_KILL_PROCESS" => ScmpAction::KillProcess,
        "SCMP_ACT_TRAP" => ScmpAction::Trap,
        "SCMP_ACT_TRACE" => ScmpAction::Trace(errno.map_or(EPERM as u16, |e| e as u16)),
        "SCMP_ACT_LOG" => ScmpAction::Log,
        other => return Err(RuntimeError::Seccomp(format!("unsupported action {other}"))),
    })
}

fn arch(name: &str) -> Option<ScmpArch> {
    Some(match name {
        "SCMP_ARCH_X86_64" => ScmpArch::X8664,
        "SCMP_ARCH_X86" => ScmpArch::X86,
        "SCMP_ARCH_X32" => ScmpArch::X32,
        "SCMP_ARCH_AARCH64" => ScmpArch::Aarch64,
        "SCMP_ARCH_ARM" => ScmpArch::Arm,
        _ => return None,
    })
}

fn compare(a: &SyscallArg) -> ScmpArgCompare {
    let op = match a.op {
        SeccompOp::NotEqual => ScmpCompareOp::NotEqual,
        SeccompOp::LessThan => ScmpCompareOp::Less,
        SeccompOp::LessOrEqual => ScmpCompareOp::LessOrEqual,
        SeccompOp::Equal => ScmpCompareOp::Equal,
        SeccompOp::GreaterOrEqual => ScmpCompareOp::GreaterEqual,
        SeccompOp::GreaterThan => ScmpCompareOp::Greater,
        SeccompOp::MaskedEqual => ScmpCompareOp::MaskedEqual(a.value),
    };
    let datum = if a.op == SeccompOp::MaskedEqual {
        a.value_two
    } else {
        a.value
    };
    ScmpArgCompare::new(a.index, op, datum)
}

fn seccomp_error(what: &str, e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Seccomp(format!("{what}: {e}"))
}

/// Builds the filter; loading it is the caller's last step before exec.
fn compile(spec: &Seccomp) -> Result<ScmpFilterContext> {
    let default = action(&spec.default_action, spec.default_errno_ret)?;
    let mut ctx =
        ScmpFilterContext::new(default).map_err(|e| seccomp_error("creating the filter", e))?;
    // The runtime sets no_new_privs itself, only when the spec asks.
    ctx.set_ctl_nnp(false)
        .map_err(|e| seccomp_error("filter attributes", e))?;
    for a in spec.architectures.iter().filter_map(|a| arch(a)) {
        match ctx.add_arch(a) {
            Ok(_) => {}
            Err(e) if e.errno() == Some(libseccomp::error::SeccompErrno::EEXIST) => {}
            Err(e) => return Err(seccomp_error("adding an architecture", e)),
        }
    }
    for rule in &spec.syscalls {
        let act = action(&rule.action, rule.errno_ret)?;
        if act == default {
            continue;
        }
        for name in &rule.names {
            let Ok(syscall) = ScmpSyscall::from_name(name) else {
                continue;
            };
            add_rule(&mut ctx, act, syscall, &rule.args)
                .map_err(|e| seccomp_error(&format!("rule for {name}"), e))?;
        }
    }
    Ok(ctx)
}

/// Conditions on distinct arguments all apply (one rule); several conditions on the same argument
/// are alternatives (one rule each), which is what libseccomp can express.
fn add_rule(
    ctx: &mut ScmpFilterContext,
    act: ScmpAction,
    syscall: ScmpSyscall,
    args: &[SyscallArg],
) -> Result<(), libseccomp::error::SeccompError> {
    if args.is_empty() {
        return ctx.add_rule(act, syscall).map(drop);
    }
    let mut indices: Vec<u32> = args.iter().map(|a| a.index).collect();
    indices.sort_unstable();
    indices.dedup();
    if indices.len() == args.len() {
        let cmps: Vec<_> = args.iter().map(compare).collect();
        return ctx.add_rule_conditional(act, syscall, &cmps).map(drop);
    }
    for a in args {
        ctx.add_rule_conditional(act, syscall, &[compare(a)])?;
    }
    Ok(())
}

/// The BPF program for `spec`, from the cache in `dir` or compiled (and then cached).
pub(crate) fn program(spec: &Seccomp, dir: &Path) -> Result<Vec<u8>> {
    let version = libseccomp::ScmpVersion::current()
        .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
        .unwrap_or_default();
    let mut hasher = Sha256::new();
    hasher.update(version.as_bytes());
    hasher.update(serde_json::to_vec(spec).expect("profile serialises"));
    let path = dir.join(format!("{}.bpf", hex::encode(hasher.finalize())));
    if let Ok(bytes) = std::fs::read(&path)
        && !bytes.is_empty()
        && bytes.len() % 8 == 0
    {
        return Ok(bytes);
    }
    let ctx = compile(spec)?;
    std::fs::create_dir_all(dir).context(|| format!("creating {}", dir.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp",
        rustix::process::getpid().as_raw_nonzero()
    ));
    let file = std::fs::File::create(&tmp).context(|| format!("creating {}", tmp.display()))?;
    ctx.export_bpf(&file)
        .map_err(|e| seccomp_error("exporting the filter", e))?;
    drop(file);
    let bytes = std::fs::read(&tmp).context(|| format!("reading {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).context(|| format!("caching {}", path.display()))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use berth_types::runtime::SyscallRule;

    use super::*;

    #[test]
    fn programs_are_compiled_once_and_cached() {
        let dir = tempfile::tempdir().unwrap();
        let spec = Seccomp {
            default_action: "SCMP_ACT_ALLOW".into(),
            syscalls: vec![SyscallRule {
                names: vec!["mkdir".into(), "no_such_syscall".into()],
                action: "SCMP_ACT_ERRNO".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let first = program(&spec, dir.path()).unwrap();
        assert!(!first.is_empty() && first.len().is_multiple_of(8));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        assert_eq!(program(&spec, dir.path()).unwrap(), first);
        // A damaged cache entry is recompiled.
        let entry = std::fs::read_dir(dir.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        std::fs::write(&entry, b"bad").unwrap();
        assert_eq!(program(&spec, dir.path()).unwrap(), first);
        let bad = Seccomp {
            default_action: "SCMP_ACT_NOTIFY".into(),
            ..Default::default()
        };
        assert!(program(&bad, dir.path()).is_err());
    }
}
