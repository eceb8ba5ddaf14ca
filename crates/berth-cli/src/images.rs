//! The image commands.

use std::fs::File;
use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;

use anyhow::{Context, anyhow};
use berth_engine::{Engine, LoadSource, RemoveEvent, Removed, SaveFormat};
use berth_store::ImageRecord;
use berth_types::Reference;
use clap::Args;
use serde_json::{Value, json};

use crate::format::{Template, human_duration, human_size, print_table};
use crate::{CmdResult, EXIT_FAILURE, Failure};

#[derive(Args)]
pub struct LoadArgs {
    /// Read from a tar archive file (or an OCI layout directory) instead of STDIN.
    #[arg(short, long)]
    input: Option<PathBuf>,
    /// Suppress the progress bar; the loaded images are still listed.
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Args)]
pub struct SaveArgs {
    /// Write to a file instead of STDOUT.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// docker-archive or oci-archive.
    #[arg(long, default_value = "docker-archive")]
    format: String,
    #[arg(required = true)]
    images: Vec<String>,
}

#[derive(Args)]
pub struct ImportArgs {
    /// A root filesystem tar (optionally gzip or zstd), or - for STDIN.
    file: String,
    /// The name to give the image.
    reference: Option<String>,
    /// Apply a Dockerfile instruction to the image (CMD, ENTRYPOINT, ENV, WORKDIR, USER, EXPOSE, LABEL, ...).
    #[arg(short, long)]
    change: Vec<String>,
    /// Set the commit message of the imported image.
    #[arg(short, long)]
    message: Option<String>,
}

#[derive(Args)]
pub struct ListArgs {
    /// Only images of this repository (and tag).
    repository: Option<String>,
    /// Show all images, the build steps' intermediate images too.
    #[arg(short, long)]
    all: bool,
    /// Only show image IDs.
    #[arg(short, long)]
    quiet: bool,
    /// Show digests.
    #[arg(long)]
    digests: bool,
    /// Don't truncate output.
    #[arg(long)]
    no_trunc: bool,
    /// reference=PATTERN, dangling=true|false, label=KEY[=VALUE].
    #[arg(short, long)]
    filter: Vec<String>,
    /// json, table, or a Go template such as '{{.Repository}}:{{.Tag}}'.
    #[arg(long)]
    format: Option<String>,
}

#[derive(Args)]
pub struct HistoryArgs {
    image: String,
    #[arg(long)]
    no_trunc: bool,
    #[arg(short, long)]
    quiet: bool,
    #[arg(long)]
    format: Option<String>,
}

#[derive(Args)]
pub struct TagArgs {
    source: String,
    target: String,
}

#[derive(Args)]
pub struct RmiArgs {
    /// Force removal of the image.
    #[arg(short, long)]
    force: bool,
    #[arg(required = true)]
    images: Vec<String>,
}

#[derive(Args)]
pub struct InspectArgs {
    /// Format the output using a Go template, or json.
    #[arg(short, long)]
    format: Option<String>,
    #[arg(required = true)]
    names: Vec<String>,
}

#[derive(Args)]
pub struct PruneArgs {
    /// Remove all images not used by a container, not only dangling ones.
    #[arg(short, long)]
    all: bool,
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    force: bool,
}

/// Counts bytes read and shows a progress bar when stderr is a terminal.
struct Progress<R> {
    inner: R,
    bar: Option<indicatif::ProgressBar>,
}

impl<R: Read> Read for Progress<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(b) = &self.bar {
            b.inc(n as u64);
        }
        Ok(n)
    }
}

fn progress_bar(total: Option<u64>, quiet: bool) -> Option<indicatif::ProgressBar> {
    if quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = match total {
        Some(t) => indicatif::ProgressBar::new(t),
        None => indicatif::ProgressBar::new_spinner(),
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "Loading {bar:40} {bytes}/{total_bytes} {bytes_per_sec}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    Some(bar)
}

pub fn load(engine: &Engine, a: &LoadArgs) -> CmdResult {
    let source = match &a.input {
        Some(p) if p.as_os_str() != "-" && p.is_dir() => LoadSource::Dir(p.clone()),
        Some(p) if p.as_os_str() != "-" => {
            let f = File::open(p)
                .with_context(|| format!("open {}", p.display()))
                .map_err(|e| Failure::with_code(EXIT_FAILURE, e))?;
            let total = f.metadata().ok().map(|m| m.len());
            LoadSource::Stream(Box::new(Progress {
                inner: f,
                bar: progress_bar(total, a.quiet),
            }))
        }
        _ => {
            if std::io::stdin().is_terminal() {
                return Err(Failure::with_code(
                    EXIT_FAILURE,
                    anyhow!("requested load from stdin, but stdin is empty"),
                ));
            }
            LoadSource::Stream(Box::new(Progress {
                inner: std::io::stdin().lock(),
                bar: progress_bar(None, a.quiet),
            }))
        }
    };
    let loaded = engine.load(source)?;
    // As Docker: --quiet drops the progress, not the list of what was loaded.
    for (id, tags) in loaded {
        if tags.is_empty() {
            println!("Loaded image ID: {id}");
        }
        for t in tags {
            println!("Loaded image: {}", t.familiar());
        }
    }
    Ok(())
}

pub fn save(engine: &Engine, a: &SaveArgs) -> CmdResult {
    let format = match a.format.as_str() {
        "docker-archive" | "docker" => SaveFormat::DockerArchive,
        "oci-archive" | "oci" => SaveFormat::OciArchive,
        other => {
            return Err(Failure::with_code(
                crate::EXIT_ENGINE,
                anyhow!("unknown --format {other:?}: use docker-archive or oci-archive"),
            ));
        }
    };
    match &a.output {
        Some(path) if path.as_os_str() != "-" => {
            // Written beside the destination and renamed, so a failed save leaves no half archive.
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            let tmp = tempfile::NamedTempFile::new_in(dir)
                .with_context(|| format!("create a file in {}", dir.display()))?;
            engine.save(&a.images, format, std::io::BufWriter::new(tmp.as_file()))?;
            tmp.as_file().sync_all().context("sync archive")?;
            tmp.persist(path)
                .with_context(|| format!("write {}", path.display()))?;
        }
        _ => {
            if std::io::stdout().is_terminal() {
                return Err(Failure::with_code(
                    EXIT_FAILURE,
                    anyhow!("cowardly refusing to save to a terminal. Use the -o flag or redirect"),
                ));
            }
            engine.save(
                &a.images,
                format,
                std::io::BufWriter::new(std::io::stdout().lock()),
            )?;
        }
    }
    Ok(())
}

pub fn import(engine: &Engine, a: &ImportArgs) -> CmdResult {
    let tag = a
        .reference
        .as_deref()
        .map(Reference::parse_normalized)
        .transpose()
        .map_err(berth_engine::EngineError::from)?;
    let id = if a.file == "-" {
        engine.import(
            std::io::stdin().lock(),
            "-",
            tag,
            &a.change,
            a.message.as_deref(),
        )?
    } else {
        let f = File::open(&a.file)
            .with_context(|| format!("open {}", a.file))
            .map_err(|e| Failure::with_code(EXIT_FAILURE, e))?;
        engine.import(
            std::io::BufReader::new(f),
            &a.file,
            tag,
            &a.change,
            a.message.as_deref(),
        )?
    };
    println!("{id}");
    Ok(())
}

fn since(created: Option<&str>) -> (String, String) {
    match created.and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok()) {
        Some(t) => {
            let t = t.with_timezone(&chrono::Utc);
            (
                format!(
                    "{} ago",
                    human_duration((chrono::Utc::now() - t).num_seconds())
                ),
                t.format("%Y-%m-%d %H:%M:%S +0000 UTC").to_string(),
            )
        }
        None => ("N/A".into(), "N/A".into()),
    }
}

/// One row of `berth images`, with Docker's `--format` field names.
fn image_rows(image: &ImageRecord, no_trunc: bool) -> Vec<Value> {
    let id = if no_trunc {
        image.id.to_string()
    } else {
        image.id.short()
    };
    let (created_since, created_at) = since(image.created.as_deref());
    let row = |repo: String, tag: String, digest: String| {
        json!({
            "Containers": if image.containers > 0 { image.containers.to_string() } else { "N/A".into() },
            "CreatedAt": created_at, "CreatedSince": created_since, "Digest": digest, "ID": id,
            "Repository": repo, "SharedSize": "N/A", "Size": human_size(image.size), "Tag": tag,
            "UniqueSize": "N/A", "VirtualSize": human_size(image.size),
        })
    };
    let digest_for = |r: &Reference| {
        image
            .repo_digests
            .iter()
            .find(|d| d.name() == r.name())
            .and_then(|d| d.digest())
            .map_or("<none>".into(), |d| d.to_string())
    };
    if image.tags.is_empty() {
        let (repo, digest) = match image.repo_digests.first() {
            Some(d) => (
                d.familiar_name(),
                d.digest().map_or("<none>".into(), |x| x.to_string()),
            ),
            None => ("<none>".into(), "<none>".into()),
        };
        return vec![row(repo, "<none>".into(), digest)];
    }
    image
        .tags
        .iter()
        .map(|t| {
            row(
                t.familiar_name(),
                t.tag().unwrap_or("<none>").into(),
                digest_for(t),
            )
        })
        .collect()
}

/// Matches `pattern` against `name` the way Go's path.Match does for `*` and `?`.
fn glob(pattern: &str, name: &str) -> bool {
    fn m(p: &[u8], n: &[u8]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(b'*'), _) => m(&p[1..], n) || (!n.is_empty() && n[0] != b'/' && m(p, &n[1..])),
            (Some(b'?'), Some(&c)) if c != b'/' => m(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => m(&p[1..], &n[1..]),
            _ => false,
        }
    }
    m(pattern.as_bytes(), name.as_bytes())
}

/// Image-level filters; `reference=` applies per tag, in [`row_matches`].
fn keep(engine: &Engine, image: &ImageRecord, filters: &[String]) -> anyhow::Result<bool> {
    for f in filters {
        let (key, value) = f
            .split_once('=')
            .ok_or_else(|| anyhow!("bad format of filter (expected name=value): {f}"))?;
        let ok = match key {
            "reference" => true,
            "dangling" => match value {
                "true" | "1" => image.tags.is_empty(),
                "false" | "0" => !image.tags.is_empty(),
                _ => return Err(anyhow!("invalid filter 'dangling={value}'")),
            },
            "label" => {
                let (_, config) = engine.image_config(image)?;
                let labels = config.config.and_then(|c| c.labels).unwrap_or_default();
                match value.split_once('=') {
                    Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
                    None => labels.contains_key(value),
                }
            }
            other => return Err(anyhow!("invalid filter '{other}'")),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Whether a row's `REPOSITORY:TAG` matches the `reference=` filters and the repository argument.
fn row_matches(row: &Value, filters: &[String], repository: Option<&str>) -> bool {
    let repo = row["Repository"].as_str().unwrap_or_default();
    let full = format!("{repo}:{}", row["Tag"].as_str().unwrap_or_default());
    let matches = |pat: &str| glob(pat, repo) || glob(pat, &full);
    let by_arg = repository.is_none_or(|r| {
        if r.contains(':') && !r.ends_with(']') {
            glob(r, &full)
        } else {
            r == repo
        }
    });
    by_arg
        && filters
            .iter()
            .filter_map(|f| f.strip_prefix("reference="))
            .all(matches)
}

pub fn list(engine: &Engine, a: &ListArgs) -> CmdResult {
    let mut rows = Vec::new();
    for image in engine
        .store()
        .images()
        .map_err(berth_engine::EngineError::from)?
    {
        if image.intermediate && !a.all {
            continue;
        }
        if keep(engine, &image, &a.filter).map_err(|e| Failure::with_code(EXIT_FAILURE, e))? {
            let matching = image_rows(&image, a.no_trunc)
                .into_iter()
                .filter(|r| row_matches(r, &a.filter, a.repository.as_deref()));
            rows.extend(matching);
        }
    }
    if a.quiet {
        let mut seen = std::collections::HashSet::new();
        for r in rows {
            let id = r["ID"].as_str().unwrap_or_default().to_owned();
            if seen.insert(id.clone()) {
                println!("{id}");
            }
        }
        return Ok(());
    }
    let mut columns = vec!["REPOSITORY", "TAG"];
    if a.digests {
        columns.push("DIGEST");
    }
    columns.extend(["IMAGE ID", "CREATED", "SIZE"]);
    let fields: Vec<&str> = columns
        .iter()
        .map(|c| match *c {
            "IMAGE ID" => "ID",
            "CREATED" => "CreatedSince",
            "REPOSITORY" => "Repository",
            "TAG" => "Tag",
            "DIGEST" => "Digest",
            _ => "Size",
        })
        .collect();
    print_rows(a.format.as_deref(), &rows, &columns, &fields)
}

/// Prints rows as a table (Docker's default), JSON lines, or through a template.
pub(crate) fn print_rows(
    format: Option<&str>,
    rows: &[Value],
    columns: &[&str],
    fields: &[&str],
) -> CmdResult {
    match format {
        None | Some("table") => {
            let mut table = vec![columns.iter().map(|c| c.to_string()).collect::<Vec<_>>()];
            table.extend(rows.iter().map(|r| {
                fields
                    .iter()
                    .map(|f| r[*f].as_str().unwrap_or_default().to_owned())
                    .collect()
            }));
            print_table(&table).context("write output")?;
        }
        Some("json") => {
            for r in rows {
                println!("{}", serde_json::to_string(r).context("encode")?);
            }
        }
        Some(t) => {
            let t = Template::parse(t).map_err(|e| Failure::with_code(EXIT_FAILURE, e))?;
            let mut lines = Vec::new();
            if t.table {
                lines.push(t.header());
            }
            for r in rows {
                lines.push(
                    t.render(r)
                        .map_err(|e| Failure::with_code(EXIT_FAILURE, e))?,
                );
            }
            if t.table {
                print_table(&lines.iter().map(|l| vec![l.clone()]).collect::<Vec<_>>())
                    .context("write output")?;
            } else {
                for l in lines {
                    println!("{l}");
                }
            }
        }
    }
    Ok(())
}

/// `docker image inspect`'s document for an image.
fn inspect_doc(engine: &Engine, image: &ImageRecord) -> anyhow::Result<Value> {
    let (_, config) = engine.image_config(image)?;
    let container_config = config.config.clone().unwrap_or_default();
    let last_tag = image
        .last_tag_time
        .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true));
    Ok(json!({
        "Id": image.id.to_string(),
        "RepoTags": image.tags.iter().map(Reference::familiar).collect::<Vec<_>>(),
        "RepoDigests": image.repo_digests.iter().map(Reference::familiar).collect::<Vec<_>>(),
        "Parent": "",
        "Comment": config.comment.clone().or_else(|| config.history.last().and_then(|h| h.comment.clone())).unwrap_or_default(),
        "Created": config.created.clone().unwrap_or_default(),
        "DockerVersion": config.docker_version.clone().unwrap_or_default(),
        "Author": config.author.clone().unwrap_or_default(),
        "Config": serde_json::to_value(&container_config)?,
        "Architecture": config.architecture,
        "Variant": config.variant,
        "Os": config.os,
        "Size": image.size,
        "GraphDriver": {
            "Data": {
                "LowerDir": image.layers.iter().rev().map(|l| engine.store().layer_path(&l.chain_id).display().to_string()).collect::<Vec<_>>().join(":"),
            },
            "Name": "overlay",
        },
        "RootFS": { "Type": "layers", "Layers": config.rootfs.diff_ids.iter().map(|d| d.to_string()).collect::<Vec<_>>() },
        "Metadata": { "LastTagTime": last_tag.unwrap_or_else(|| "0001-01-01T00:00:00Z".into()) },
    }))
}

/// What `inspect` looks names up as.
#[derive(Clone, Copy, PartialEq)]
pub enum Objects {
    Images,
    Containers,
    /// A container first, then an image, as `docker inspect` does.
    Any,
}

pub fn inspect_objects(engine: &Engine, a: &InspectArgs, objects: Objects) -> CmdResult {
    let mut docs = Vec::new();
    let mut missing = None;
    for name in &a.names {
        let container = match objects {
            Objects::Images => None,
            _ => engine.inspect_container(name).ok(),
        };
        let doc = match (container, objects) {
            (Some(doc), _) => Ok(doc),
            (None, Objects::Containers) => {
                Err(berth_engine::EngineError::NoSuchContainer(name.clone()).into())
            }
            (None, _) => match engine.resolve_image(name) {
                Ok(image) => inspect_doc(engine, &image).map_err(Failure::from),
                Err(berth_engine::EngineError::NoSuchImage(_)) if objects == Objects::Any => Err(
                    Failure::with_code(EXIT_FAILURE, anyhow!("No such object: {name}")),
                ),
                Err(e) => Err(e.into()),
            },
        };
        match doc {
            Ok(d) => docs.push(d),
            Err(e) => missing = Some(e),
        }
    }
    match a.format.as_deref() {
        None | Some("json") => {
            println!("{}", serde_json::to_string_pretty(&docs).context("encode")?)
        }
        Some(t) => {
            let t = Template::parse(t).map_err(|e| Failure::with_code(EXIT_FAILURE, e))?;
            for d in &docs {
                println!(
                    "{}",
                    t.render(d)
                        .map_err(|e| Failure::with_code(EXIT_FAILURE, e))?
                );
            }
        }
    }
    missing.map_or(Ok(()), Err)
}

pub fn history(engine: &Engine, a: &HistoryArgs) -> CmdResult {
    let image = engine.resolve_image(&a.image)?;
    let (_, config) = engine.image_config(&image)?;
    let mut layer_sizes = image.layers.iter().map(|l| l.size);
    let mut rows: Vec<Value> = config
        .history
        .iter()
        .map(|h| {
            let size = if h.empty_layer { 0 } else { layer_sizes.next().unwrap_or(0) };
            let created_by = h.created_by.clone().unwrap_or_default();
            let shown = if a.no_trunc || created_by.chars().count() <= 45 { created_by } else { format!("{}…", created_by.chars().take(44).collect::<String>()) };
            json!({
                "ID": "<missing>", "CreatedSince": since(h.created.as_deref()).0, "CreatedAt": h.created.clone().unwrap_or_default(),
                "CreatedBy": shown, "Size": human_size(size), "Comment": h.comment.clone().unwrap_or_default(),
            })
        })
        .collect();
    rows.reverse();
    if let Some(top) = rows.first_mut() {
        top["ID"] = json!(if a.no_trunc {
            image.id.to_string()
        } else {
            image.id.short()
        });
    }
    if a.quiet {
        for r in &rows {
            println!("{}", r["ID"].as_str().unwrap_or_default());
        }
        return Ok(());
    }
    print_rows(
        a.format.as_deref(),
        &rows,
        &["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"],
        &["ID", "CreatedSince", "CreatedBy", "Size", "Comment"],
    )
}

pub fn tag(engine: &Engine, a: &TagArgs) -> CmdResult {
    Ok(engine.tag(&a.source, &a.target)?)
}

fn print_removed(removed: &Removed, lower: bool) {
    for ev in &removed.events {
        match ev {
            RemoveEvent::Untagged(r) => println!(
                "{}: {}",
                if lower { "untagged" } else { "Untagged" },
                r.familiar()
            ),
            RemoveEvent::Deleted(d) => {
                println!("{}: {d}", if lower { "deleted" } else { "Deleted" })
            }
        }
    }
}

pub fn rmi(engine: &Engine, a: &RmiArgs) -> CmdResult {
    let mut last_err = None;
    for name in &a.images {
        match engine.remove_image(name, a.force) {
            Ok(removed) => print_removed(&removed, false),
            Err(e) => {
                eprintln!("Error: {e}");
                last_err = Some(e);
            }
        }
    }
    match last_err {
        Some(e) => Err(Failure::with_code(
            if e.is_user_error() {
                EXIT_FAILURE
            } else {
                crate::EXIT_ENGINE
            },
            anyhow!("failed to remove {} image(s)", a.images.len()),
        )),
        None => Ok(()),
    }
}

pub fn prune(engine: &Engine, a: &PruneArgs) -> CmdResult {
    if !a.force {
        let what = if a.all {
            "all images without at least one container associated to them"
        } else {
            "all dangling images"
        };
        print!("WARNING! This will remove {what}.\nAre you sure you want to continue? [y/N] ");
        std::io::stdout().flush().ok();
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer).ok();
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return Ok(());
        }
    }
    let removed = engine.prune_images(a.all)?;
    if !removed.events.is_empty() {
        println!("Deleted Images:");
        print_removed(&removed, true);
        println!();
    }
    println!(
        "Total reclaimed space: {}",
        human_size(removed.gc.map_or(0, |g| g.bytes))
    );
    Ok(())
}

pub fn check(engine: &Engine) -> CmdResult {
    let problems = engine
        .store()
        .check()
        .map_err(berth_engine::EngineError::from)?;
    if problems.is_empty() {
        println!("store {} is clean", engine.store().root().display());
        return Ok(());
    }
    for p in &problems {
        println!("{p}");
    }
    Err(Failure::with_code(
        EXIT_FAILURE,
        anyhow!(
            "{} problem(s) found in {}",
            problems.len(),
            engine.store().root().display()
        ),
    ))
}

pub fn df(engine: &Engine) -> CmdResult {
    let images = engine
        .store()
        .images()
        .map_err(berth_engine::EngineError::from)?;
    let active = images.iter().filter(|i| i.containers > 0).count();
    let mut all = std::collections::HashMap::new();
    let mut used = std::collections::HashSet::new();
    for i in &images {
        for l in &i.layers {
            all.insert(l.chain_id, l.size);
            if i.containers > 0 {
                used.insert(l.chain_id);
            }
        }
    }
    let total: u64 = all.values().sum();
    let reclaimable: u64 = all
        .iter()
        .filter(|(c, _)| !used.contains(*c))
        .map(|(_, s)| s)
        .sum();
    let pct = (reclaimable * 100).checked_div(total).unwrap_or(0);
    let rows = vec![
        vec![
            "TYPE".into(),
            "TOTAL".into(),
            "ACTIVE".into(),
            "SIZE".into(),
            "RECLAIMABLE".into(),
        ],
        vec![
            "Images".into(),
            images.len().to_string(),
            active.to_string(),
            human_size(total),
            format!("{} ({pct}%)", human_size(reclaimable)),
        ],
        vec![
            "Containers".into(),
            "0".into(),
            "0".into(),
            "0B".into(),
            "0B".into(),
        ],
        vec![
            "Local Volumes".into(),
            "0".into(),
            "0".into(),
            "0B".into(),
            "0B".into(),
        ],
        vec![
            "Build Cache".into(),
            "0".into(),
            "0".into(),
            "0B".into(),
            "0B".into(),
        ],
    ];
    print_table(&rows).context("write output")?;
    Ok(())
}
