//! `linux.seccomp` compiled into a BPF filter through libseccomp. Syscall names this libseccomp
//! does not know are skipped, as other runtimes do, so one profile serves several kernels.

use berth_types::runtime::{Seccomp, SeccompOp, SyscallArg};
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};

use crate::error::{Result, RuntimeError};

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
pub(crate) fn compile(spec: &Seccomp) -> Result<ScmpFilterContext> {
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
