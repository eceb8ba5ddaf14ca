//! ARG scoping across build stages.

use std::collections::{BTreeMap, BTreeSet};

use crate::ast::{Instruction, InstructionKind};
use crate::error::SubstError;
use crate::subst::substitute;

/// The build arguments Docker accepts without an ARG instruction. They reach RUN's
/// environment when given, but are not expanded in the Dockerfile unless declared.
pub const PROXY_ARGS: [&str; 10] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// Which ARGs are in scope, and their values, as the builder walks the instructions.
///
/// Docker's rules:
/// - An ARG before the first FROM is global: usable in FROM lines only.
/// - Inside a stage, an ARG is visible from its declaration to the end of the stage. `ARG name`
///   without a default inside a stage imports the global's value (or the `--build-arg`).
/// - A `--build-arg` overrides the default of any ARG of that name.
/// - The proxy variables ([`PROXY_ARGS`]) are accepted as build args without a declaration.
///
/// Walk the file with [`ArgScope::apply`] on every instruction: it enters a new stage at each
/// FROM and declares ARGs (expanding their defaults). Expand a FROM line with
/// [`ArgScope::lookup_global`] before applying it; other instructions with
/// [`ArgScope::lookup`] (ENV values, which take precedence over ARGs, are the builder's).
#[derive(Debug, Clone, Default)]
pub struct ArgScope {
    build_args: BTreeMap<String, String>,
    automatic: BTreeMap<String, String>,
    globals: BTreeMap<String, Option<String>>,
    /// `None` before the first FROM.
    stage: Option<BTreeMap<String, Option<String>>>,
    declared: BTreeSet<String>,
}

impl ArgScope {
    /// A scope for a build with these `--build-arg` values.
    pub fn new(build_args: BTreeMap<String, String>) -> Self {
        Self {
            build_args,
            ..Self::default()
        }
    }

    /// Adds an automatic argument such as `TARGETPLATFORM` or `BUILDARCH`: visible in FROM
    /// lines without a declaration, and imported into a stage by `ARG name`.
    pub fn with_automatic(mut self, name: &str, value: &str) -> Self {
        self.automatic.insert(name.to_string(), value.to_string());
        self
    }

    /// Whether a FROM has been applied.
    pub fn in_stage(&self) -> bool {
        self.stage.is_some()
    }

    /// Starts a new stage: the previous stage's ARGs go out of scope.
    pub fn enter_stage(&mut self) {
        self.stage = Some(BTreeMap::new());
    }

    /// Declares an ARG in the current scope with its (already expanded) default, and returns
    /// its value: the `--build-arg` if given, else the default, else (in a stage, for `ARG
    /// name` without a default) the global or automatic value.
    pub fn declare(&mut self, name: &str, default: Option<String>) -> Option<String> {
        self.declared.insert(name.to_string());
        let value = match (self.build_args.get(name), &self.stage) {
            (Some(given), _) => Some(given.clone()),
            (None, _) if default.is_some() => default,
            (None, Some(_)) => self
                .globals
                .get(name)
                .cloned()
                .flatten()
                .or_else(|| self.automatic.get(name).cloned()),
            (None, None) => None,
        };
        match &mut self.stage {
            Some(stage) => stage.insert(name.to_string(), value.clone()),
            None => self.globals.insert(name.to_string(), value.clone()),
        };
        value
    }

    /// The value of a global ARG (or automatic argument), for expanding FROM lines.
    pub fn lookup_global(&self, name: &str) -> Option<String> {
        match self.globals.get(name) {
            Some(value) => value.clone(),
            None => self.automatic.get(name).cloned(),
        }
    }

    /// The value of an ARG in the current scope: the stage's ARGs declared so far, or the
    /// globals before the first FROM. `None` when undeclared or declared without a value.
    pub fn lookup(&self, name: &str) -> Option<String> {
        match &self.stage {
            Some(stage) => stage.get(name).cloned().flatten(),
            None => self.lookup_global(name),
        }
    }

    /// Whether a `--build-arg` of this name is consumed: declared by some ARG so far, or a
    /// predefined proxy argument.
    pub fn is_accepted(&self, name: &str) -> bool {
        self.declared.contains(name) || PROXY_ARGS.contains(&name)
    }

    /// The `--build-arg` names no ARG declared (after walking the whole file): Docker warns
    /// about these.
    pub fn unused_build_args(&self) -> Vec<&str> {
        self.build_args
            .keys()
            .map(String::as_str)
            .filter(|name| !self.is_accepted(name))
            .collect()
    }

    /// The variables RUN sees from ARGs: the current stage's ARGs that have values, and the
    /// proxy build args given but not declared.
    pub fn run_environment(&self) -> BTreeMap<String, String> {
        let mut env: BTreeMap<String, String> = PROXY_ARGS
            .iter()
            .filter_map(|name| Some((name.to_string(), self.build_args.get(*name)?.clone())))
            .collect();
        if let Some(stage) = &self.stage {
            env.extend(
                stage
                    .iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.clone()?))),
            );
        }
        env
    }

    /// Updates the scope for one instruction: FROM starts a stage, ARG declares its names
    /// (each default expanded with the ARGs in scope, earlier names on the same line
    /// included). Other instructions change nothing.
    pub fn apply(&mut self, instruction: &Instruction, escape: char) -> Result<(), SubstError> {
        match &instruction.kind {
            InstructionKind::From(_) => self.enter_stage(),
            InstructionKind::Arg(decls) => {
                for decl in decls {
                    let default = match &decl.default {
                        Some(raw) => Some(substitute(raw, &|n| self.lookup(n), escape)?),
                        None => None,
                    };
                    self.declare(&decl.name, default);
                }
            }
            _ => {}
        }
        Ok(())
    }
}
