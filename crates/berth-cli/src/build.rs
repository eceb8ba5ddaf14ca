//! `berth build` and `berth builder prune`.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;

use anyhow::{Context, anyhow};
use berth_engine::{BuildOptions, BuildRequest, ContextSource, DockerfileSource, Engine};
use berth_types::Reference;
use clap::Args;

use crate::format::human_size;
use crate::{CmdResult, EXIT_FAILURE, Failure};

#[derive(Args)]
pub struct BuildArgs {
    /// The build context: a directory, or `-` for a tar archive (or a lone Dockerfile) on
    /// standard input.
    context: String,
    /// The Dockerfile (default: PATH/Dockerfile); `-` reads it from standard input.
    #[arg(short = 'f', long = "file")]
    file: Option<PathBuf>,
    /// Name and optionally a tag (`name:tag`); repeatable.
    #[arg(short = 't', long = "tag")]
    tags: Vec<String>,
    /// Set a build-time variable (`KEY=VALUE`, or `KEY` to take it from the environment).
    #[arg(long = "build-arg")]
    build_args: Vec<String>,
    /// Set a label on the image (`KEY=VALUE`).
    #[arg(long = "label")]
    labels: Vec<String>,
    /// Do not use the cache.
    #[arg(long)]
    no_cache: bool,
    /// Always try to pull newer base images. berth builds from local images only, so only
    /// `--pull=false` is accepted.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pull: Option<bool>,
    /// Print only the image ID.
    #[arg(short, long)]
    quiet: bool,
    /// Write the image ID to this file.
    #[arg(long)]
    iidfile: Option<PathBuf>,
    /// The stage to build.
    #[arg(long)]
    target: Option<String>,
    /// Remove intermediate containers (always done).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL", hide = true)]
    rm: Option<bool>,
    /// Remove intermediate containers even after a failure (always done).
    #[arg(long, hide = true)]
    force_rm: bool,
}

#[derive(Args)]
pub struct BuilderPruneArgs {
    /// Remove all build cache (berth's cache has one kind, so the same).
    #[arg(short, long)]
    all: bool,
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    force: bool,
}

fn user_error(e: anyhow::Error) -> Failure {
    Failure::with_code(EXIT_FAILURE, e)
}

pub fn build(engine: &Engine, a: &BuildArgs) -> CmdResult {
    if a.pull == Some(true) {
        return Err(user_error(anyhow!(
            "--pull: berth builds from images in the local store and does not pull; use --pull=false"
        )));
    }
    let mut build_args = BTreeMap::new();
    for arg in &a.build_args {
        match arg.split_once('=') {
            Some((k, v)) => {
                build_args.insert(k.to_owned(), v.to_owned());
            }
            None => {
                if let Ok(v) = std::env::var(arg) {
                    build_args.insert(arg.clone(), v);
                }
            }
        }
    }
    let mut labels = BTreeMap::new();
    for l in &a.labels {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        labels.insert(k.to_owned(), v.to_owned());
    }
    let tags = a
        .tags
        .iter()
        .map(|t| {
            Reference::parse_normalized(t)
                .map_err(|e| user_error(anyhow!("invalid tag {t:?}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let stdin_file = a.file.as_deref() == Some(std::path::Path::new("-"));
    let (context, mut dockerfile) = if a.context == "-" {
        if stdin_file {
            return Err(user_error(anyhow!(
                "invalid argument: can't use stdin for both build context and dockerfile"
            )));
        }
        let mut stdin = std::io::stdin().lock();
        let mut head = Vec::new();
        (&mut stdin)
            .take(512)
            .read_to_end(&mut head)
            .context("read standard input")?;
        if berth_archive::Compression::is_archive(&head) {
            let reader = std::io::Cursor::new(head).chain(std::io::stdin());
            (
                ContextSource::Tar(Box::new(reader)),
                DockerfileSource::InContext(PathBuf::from("Dockerfile")),
            )
        } else {
            let mut bytes = head;
            stdin
                .read_to_end(&mut bytes)
                .context("read the Dockerfile from standard input")?;
            (
                ContextSource::None,
                DockerfileSource::Text {
                    name: "Dockerfile".into(),
                    bytes,
                },
            )
        }
    } else if a.context.contains("://") || a.context.starts_with("git@") {
        return Err(user_error(anyhow!(
            "unable to prepare context: {}: berth builds from a local directory or a tar on standard input",
            a.context
        )));
    } else {
        let dir = PathBuf::from(&a.context);
        if !dir.is_dir() {
            return Err(user_error(anyhow!(
                "unable to prepare context: path {:?} not found",
                a.context
            )));
        }
        (
            ContextSource::Dir(dir),
            DockerfileSource::InContext(PathBuf::from("Dockerfile")),
        )
    };
    match &a.file {
        None => {}
        Some(f) if stdin_file => {
            let mut bytes = Vec::new();
            std::io::stdin()
                .read_to_end(&mut bytes)
                .context("read the Dockerfile from standard input")?;
            let _ = f;
            dockerfile = DockerfileSource::Text {
                name: "Dockerfile".into(),
                bytes,
            };
        }
        Some(f) if matches!(context, ContextSource::Tar(_)) => {
            dockerfile = DockerfileSource::InContext(f.clone());
        }
        Some(f) => {
            let bytes = std::fs::read(f)
                .with_context(|| format!("Cannot locate specified Dockerfile: {}", f.display()))
                .map_err(user_error)?;
            dockerfile = DockerfileSource::Text {
                name: f.display().to_string(),
                bytes,
            };
        }
    }
    let req = BuildRequest {
        context,
        dockerfile,
        options: BuildOptions {
            build_args,
            target: a.target.clone(),
            no_cache: a.no_cache,
            labels,
        },
        tags,
        quiet: a.quiet,
    };
    // Not locked: a RUN step's output reaches standard output from another thread.
    let mut stdout = std::io::stdout();
    let id = engine.build(req, &mut stdout)?;
    if a.quiet {
        writeln!(stdout, "{id}").context("write the image ID")?;
    }
    if let Some(path) = &a.iidfile {
        std::fs::write(path, id.to_string())
            .with_context(|| format!("write {}", path.display()))?;
    }
    Ok(())
}

pub fn builder_prune(engine: &Engine, a: &BuilderPruneArgs) -> CmdResult {
    let _ = (a.all, a.force);
    let freed = engine.prune_build_cache()?;
    println!("Total reclaimed space: {}", human_size(freed));
    Ok(())
}
