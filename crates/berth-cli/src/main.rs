//! `berth`: Docker's command line over berth's engine, with no daemon.

mod audit;
mod build;
mod containers;
mod format;
mod images;
mod lint;
mod registry;
mod scan;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit status when berth itself fails, as Docker uses it.
const EXIT_ENGINE: u8 = 125;
/// Exit status when a command fails on what the user asked (no such image, a conflict), as Docker.
pub(crate) const EXIT_FAILURE: u8 = 1;

#[derive(Parser)]
#[command(
    name = "berth",
    version,
    about = "Build, store, ship and run containers, securely",
    disable_help_subcommand = true
)]
pub struct Cli {
    /// Where images and containers are stored.
    #[arg(
        long,
        global = true,
        env = "BERTH_ROOT",
        default_value = "/var/lib/berth"
    )]
    pub root: PathBuf,
    /// Where runtime state (sockets, mount points) lives.
    #[arg(
        long,
        global = true,
        env = "BERTH_RUNROOT",
        default_value = "/run/berth"
    )]
    pub runroot: PathBuf,
    /// The admission policy (default /etc/berth/policy.toml; without one, berth only warns
    /// about privileged containers and added capabilities).
    #[arg(long, global = true, env = "BERTH_POLICY")]
    policy: Option<PathBuf>,
    /// error, warn, info, debug or trace.
    #[arg(long, global = true, default_value = "warn")]
    log_level: tracing::Level,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create and run a new container from an image.
    Run(containers::RunArgs),
    /// Create a new container.
    Create(containers::CreateArgs),
    /// Start one or more stopped containers.
    Start(containers::StartArgs),
    /// Execute a command in a running container.
    Exec(containers::ExecArgs),
    /// Remove one or more containers.
    Rm(containers::RmArgs),
    /// List containers.
    Ps(containers::PsArgs),
    /// Stop one or more running containers.
    Stop(containers::StopArgs),
    /// Restart one or more containers.
    Restart(containers::StopArgs),
    /// Kill one or more running containers.
    Kill(containers::KillArgs),
    /// Pause all processes within one or more containers.
    Pause(containers::NamesArgs),
    /// Unpause all processes within one or more containers.
    Unpause(containers::NamesArgs),
    /// Block until one or more containers stop, then print their exit codes.
    Wait(containers::NamesArgs),
    /// Rename a container.
    Rename(containers::RenameArgs),
    /// Fetch the logs of a container.
    Logs(containers::LogsArgs),
    /// Get real time events from the engine.
    Events(containers::EventsArgs),
    /// Display a live stream of container resource usage.
    Stats(containers::StatsArgs),
    /// Display the running processes of a container.
    Top(containers::TopArgs),
    /// Show what a container changed in its filesystem (A added, C changed, D deleted).
    Diff(containers::DiffArgs),
    /// Write a container's filesystem as a tar archive.
    Export(containers::ExportArgs),
    /// Create a new image from a container's changes.
    Commit(containers::CommitArgs),
    /// Copy files between a container and the host.
    Cp(containers::CpArgs),
    /// Attach to a running container's output and input (detach with ctrl-p ctrl-q).
    Attach(containers::AttachArgs),
    /// Manage containers.
    #[command(subcommand)]
    Container(ContainerCommand),
    /// Records a background container's restart or exit (run by its berth-monitor).
    #[command(hide = true)]
    ContainerHook(containers::HookArgs),
    /// Build an image from a Dockerfile.
    Build(build::BuildArgs),
    /// Manage the build cache.
    #[command(subcommand)]
    Builder(BuilderCommand),
    /// Load images from a docker-archive or OCI archive (tar, or an OCI layout directory).
    Load(images::LoadArgs),
    /// Save images to a docker-archive or OCI archive.
    Save(images::SaveArgs),
    /// Create an image from a root filesystem tarball.
    Import(images::ImportArgs),
    /// List images.
    Images(images::ListArgs),
    /// Show an image's layers and how they were made.
    History(images::HistoryArgs),
    /// List the packages an image installs (SBOM): json, CycloneDX or SPDX.
    Sbom(scan::SbomArgs),
    /// Find the known vulnerabilities in an image's packages.
    Scan(scan::ScanArgs),
    /// Check Dockerfiles for mistakes and insecure patterns.
    Lint(lint::LintArgs),
    /// Check an image or containers for misconfiguration.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Manage the local vulnerability database.
    #[command(subcommand)]
    Db(scan::DbCommand),
    /// Give an image another name.
    Tag(images::TagArgs),
    /// Untag and remove images.
    Rmi(images::RmiArgs),
    /// Download an image from a registry.
    Pull(registry::PullArgs),
    /// Upload an image to a registry.
    Push(registry::PushArgs),
    /// Log in to a registry.
    Login(registry::LoginArgs),
    /// Log out from a registry.
    Logout(registry::LogoutArgs),
    /// Manage signing keys (cosign's key-pair format).
    #[command(subcommand)]
    Key(KeyCommand),
    /// Sign an image in a registry.
    Sign(registry::SignArgs),
    /// Check an image's signatures in a registry.
    Verify(registry::VerifyArgs),
    /// Look at manifests and indexes in a registry.
    #[command(subcommand)]
    Manifest(ManifestCommand),
    /// Show low-level information on containers and images.
    Inspect(images::InspectArgs),
    /// Manage images.
    #[command(subcommand)]
    Image(ImageCommand),
    /// Manage berth's store.
    #[command(subcommand)]
    System(SystemCommand),
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Make a key pair: PREFIX.key (encrypted) and PREFIX.pub.
    Generate(registry::KeyGenerateArgs),
}

#[derive(Subcommand)]
enum ManifestCommand {
    /// Show a manifest or index as the registry has it.
    Inspect(registry::ManifestInspectArgs),
}

#[derive(Subcommand)]
enum BuilderCommand {
    /// Remove the build cache.
    Prune(build::BuilderPruneArgs),
}

#[derive(Subcommand)]
enum ImageCommand {
    Build(build::BuildArgs),
    Load(images::LoadArgs),
    Save(images::SaveArgs),
    Import(images::ImportArgs),
    #[command(visible_alias = "list")]
    Ls(images::ListArgs),
    History(images::HistoryArgs),
    Tag(images::TagArgs),
    #[command(visible_alias = "remove")]
    Rm(images::RmiArgs),
    Inspect(images::InspectArgs),
    Pull(registry::PullArgs),
    Push(registry::PushArgs),
    /// Show what the trust policy says of an image.
    Trust(registry::TrustArgs),
    /// Remove unused images.
    Prune(images::PruneArgs),
}

#[derive(Subcommand)]
enum ContainerCommand {
    Run(containers::RunArgs),
    Create(containers::CreateArgs),
    Start(containers::StartArgs),
    Exec(containers::ExecArgs),
    #[command(visible_alias = "remove")]
    Rm(containers::RmArgs),
    #[command(visible_aliases = ["list", "ps"])]
    Ls(containers::PsArgs),
    Stop(containers::StopArgs),
    Restart(containers::StopArgs),
    Kill(containers::KillArgs),
    Pause(containers::NamesArgs),
    Unpause(containers::NamesArgs),
    Wait(containers::NamesArgs),
    Rename(containers::RenameArgs),
    Logs(containers::LogsArgs),
    /// Remove all stopped containers.
    Prune(containers::PruneArgs),
    Stats(containers::StatsArgs),
    Top(containers::TopArgs),
    Diff(containers::DiffArgs),
    Export(containers::ExportArgs),
    Commit(containers::CommitArgs),
    Cp(containers::CpArgs),
    Attach(containers::AttachArgs),
    /// Show low-level information on containers.
    Inspect(images::InspectArgs),
}

#[derive(Subcommand)]
enum SystemCommand {
    /// Verify every blob's digest and every database reference.
    Check,
    /// Show disk usage.
    Df,
    /// After the host starts: record the truth and start the containers whose restart policy
    /// asks (always; unless-stopped unless stopped by hand). See contrib/systemd/.
    Boot,
}

/// Why a command failed, and so its exit status.
pub struct Failure {
    code: u8,
    /// `None` when the status says it all (a container's own exit code).
    error: Option<anyhow::Error>,
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        let code = match error.downcast_ref::<berth_engine::EngineError>() {
            Some(e) if e.is_user_error() => EXIT_FAILURE,
            _ => EXIT_ENGINE,
        };
        Self {
            code,
            error: Some(error),
        }
    }
}

impl From<berth_engine::EngineError> for Failure {
    fn from(e: berth_engine::EngineError) -> Self {
        anyhow::Error::from(e).into()
    }
}

impl Failure {
    pub fn with_code(code: u8, error: anyhow::Error) -> Self {
        Self {
            code,
            error: Some(error),
        }
    }

    /// Exits with `code` and prints nothing.
    pub fn silent(code: u8) -> Self {
        Self { code, error: None }
    }
}

pub type CmdResult = Result<(), Failure>;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::SUCCESS
                }
                _ => ExitCode::from(EXIT_ENGINE),
            };
        }
    };
    tracing_subscriber::fmt()
        .with_max_level(cli.log_level)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    tracing::debug!(runroot = %cli.runroot.display(), "berth starting");
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            if let Some(e) = &f.error {
                eprintln!("Error: {e:#}");
            }
            ExitCode::from(f.code)
        }
    }
}

const DEFAULT_POLICY: &str = "/etc/berth/policy.toml";

/// The admission policy in force: `--policy` (which must exist), else the default file if it
/// exists, else warnings only.
pub(crate) fn policy(cli: &Cli) -> Result<berth_scan::policy::Policy, Failure> {
    let (path, required) = match &cli.policy {
        Some(p) => (p.clone(), true),
        None => (PathBuf::from(DEFAULT_POLICY), false),
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
            return Ok(berth_scan::policy::Policy::default_warnings());
        }
        Err(e) => {
            return Err(Failure::with_code(
                EXIT_ENGINE,
                anyhow::anyhow!("read the policy {}: {e}", path.display()),
            ));
        }
    };
    berth_scan::policy::Policy::parse(&text).map_err(|e| {
        Failure::with_code(
            EXIT_ENGINE,
            anyhow::anyhow!("policy {}: {e}", path.display()),
        )
    })
}

fn engine(cli: &Cli) -> Result<berth_engine::Engine, Failure> {
    Ok(berth_engine::Engine::open(&cli.root)?.with_runroot(&cli.runroot))
}

fn run(cli: &Cli) -> CmdResult {
    let e = || engine(cli);
    match &cli.command {
        Command::Run(a) | Command::Container(ContainerCommand::Run(a)) => {
            containers::run(&e()?, a, cli)
        }
        Command::Create(a) | Command::Container(ContainerCommand::Create(a)) => {
            containers::create(&e()?, a, cli)
        }
        Command::Start(a) | Command::Container(ContainerCommand::Start(a)) => {
            containers::start(&e()?, a, cli)
        }
        Command::Exec(a) | Command::Container(ContainerCommand::Exec(a)) => {
            containers::exec(&e()?, a)
        }
        Command::Rm(a) | Command::Container(ContainerCommand::Rm(a)) => containers::rm(&e()?, a),
        Command::ContainerHook(a) => containers::hook(&e()?, a),
        Command::Ps(a) | Command::Container(ContainerCommand::Ls(a)) => containers::ps(&e()?, a),
        Command::Stop(a) | Command::Container(ContainerCommand::Stop(a)) => {
            containers::stop(&e()?, a)
        }
        Command::Restart(a) | Command::Container(ContainerCommand::Restart(a)) => {
            containers::restart(&e()?, a, cli)
        }
        Command::Kill(a) | Command::Container(ContainerCommand::Kill(a)) => {
            containers::kill(&e()?, a)
        }
        Command::Pause(a) | Command::Container(ContainerCommand::Pause(a)) => {
            containers::pause(&e()?, a, true)
        }
        Command::Unpause(a) | Command::Container(ContainerCommand::Unpause(a)) => {
            containers::pause(&e()?, a, false)
        }
        Command::Wait(a) | Command::Container(ContainerCommand::Wait(a)) => {
            containers::wait(&e()?, a)
        }
        Command::Rename(a) | Command::Container(ContainerCommand::Rename(a)) => {
            containers::rename(&e()?, a)
        }
        Command::Logs(a) | Command::Container(ContainerCommand::Logs(a)) => {
            containers::logs(&e()?, a)
        }
        Command::Events(a) => containers::events(&e()?, a),
        Command::Stats(a) | Command::Container(ContainerCommand::Stats(a)) => {
            containers::stats(&e()?, a)
        }
        Command::Top(a) | Command::Container(ContainerCommand::Top(a)) => containers::top(&e()?, a),
        Command::Diff(a) | Command::Container(ContainerCommand::Diff(a)) => {
            containers::diff(&e()?, a)
        }
        Command::Export(a) | Command::Container(ContainerCommand::Export(a)) => {
            containers::export(&e()?, a)
        }
        Command::Commit(a) | Command::Container(ContainerCommand::Commit(a)) => {
            containers::commit(&e()?, a)
        }
        Command::Cp(a) | Command::Container(ContainerCommand::Cp(a)) => containers::cp(&e()?, a),
        Command::Attach(a) | Command::Container(ContainerCommand::Attach(a)) => {
            containers::attach(&e()?, a)
        }
        Command::Container(ContainerCommand::Prune(a)) => containers::prune(&e()?, a),
        Command::Container(ContainerCommand::Inspect(a)) => {
            images::inspect_objects(&e()?, a, images::Objects::Containers)
        }
        Command::Build(a) | Command::Image(ImageCommand::Build(a)) => build::build(&e()?, a),
        Command::Builder(BuilderCommand::Prune(a)) => build::builder_prune(&e()?, a),
        Command::Load(a) | Command::Image(ImageCommand::Load(a)) => images::load(&e()?, a),
        Command::Save(a) | Command::Image(ImageCommand::Save(a)) => images::save(&e()?, a),
        Command::Import(a) | Command::Image(ImageCommand::Import(a)) => images::import(&e()?, a),
        Command::Images(a) | Command::Image(ImageCommand::Ls(a)) => images::list(&e()?, a),
        Command::History(a) | Command::Image(ImageCommand::History(a)) => images::history(&e()?, a),
        Command::Sbom(a) => scan::sbom(&e()?, a),
        Command::Scan(a) => scan::scan(&e()?, a),
        // Linting needs no store: without one, the image rules stay silent.
        Command::Lint(a) => lint::lint(e().ok().as_ref(), a),
        Command::Audit(c) => audit::audit(&e()?, c),
        Command::Db(c) => scan::db(&e()?, c),
        Command::Tag(a) | Command::Image(ImageCommand::Tag(a)) => images::tag(&e()?, a),
        Command::Rmi(a) | Command::Image(ImageCommand::Rm(a)) => images::rmi(&e()?, a),
        Command::Pull(a) | Command::Image(ImageCommand::Pull(a)) => {
            registry::pull(&e()?, a, &policy(cli)?)
        }
        Command::Key(KeyCommand::Generate(a)) => registry::key_generate(a),
        Command::Sign(a) => registry::sign(&e()?, a),
        Command::Verify(a) => registry::verify(&e()?, a),
        Command::Image(ImageCommand::Trust(a)) => registry::trust(&e()?, a, &policy(cli)?),
        Command::Push(a) | Command::Image(ImageCommand::Push(a)) => registry::push(&e()?, a),
        Command::Login(a) => registry::login(a),
        Command::Logout(a) => registry::logout(a),
        Command::Manifest(ManifestCommand::Inspect(a)) => registry::manifest_inspect(&e()?, a),
        Command::Inspect(a) => images::inspect_objects(&e()?, a, images::Objects::Any),
        Command::Image(ImageCommand::Inspect(a)) => {
            images::inspect_objects(&e()?, a, images::Objects::Images)
        }
        Command::Image(ImageCommand::Prune(a)) => images::prune(&e()?, a),
        Command::System(SystemCommand::Check) => images::check(&e()?),
        Command::System(SystemCommand::Df) => images::df(&e()?),
        Command::System(SystemCommand::Boot) => containers::boot(&e()?, cli),
    }
}
