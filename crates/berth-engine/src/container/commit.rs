//! `berth commit`: a container's writable layer becomes a new image on top of its image. The
//! upper directory is written as an OCI layer tar (an overlay whiteout becomes a `.wh.NAME`
//! entry, an opaque directory gets `.wh..wh..opq`), applied and stored like any layer, and the
//! image's config gains the `-c` changes and a history entry.

use std::path::{Path, PathBuf};

use berth_archive::TeeReader;
use berth_types::image;
use berth_types::{Digest, Reference};

use super::overlay::{RUNTIME_PATHS, is_opaque, is_whiteout};
use crate::change::apply_change;
use crate::{Engine, EngineError, Result};

/// Options of `berth commit`.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// Dockerfile instructions applied to the config (`-c`).
    pub changes: Vec<String>,
    /// `-m`.
    pub message: Option<String>,
    /// `-a`.
    pub author: Option<String>,
    /// Freeze a running container while its layer is read (`--pause`, Docker's default).
    pub pause: bool,
}

/// A layer tar written from an upper directory, waiting to be stored.
pub(crate) struct UpperLayer {
    file: std::fs::File,
    what: String,
}

/// Writes the upper directory `upper` as an OCI layer tar to `out`.
fn layer_tar(upper: &Path, out: impl std::io::Write) -> Result<()> {
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    b.mode(tar::HeaderMode::Complete);
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = upper.join(&rel);
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .map_err(EngineError::io("read", &dir))?
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        entries.sort();
        if !rel.as_os_str().is_empty() && is_opaque(&dir) {
            let mut h = tar::Header::new_gnu();
            h.set_size(0);
            h.set_mode(0o644);
            b.append_data(&mut h, rel.join(".wh..wh..opq"), std::io::empty())
                .map_err(EngineError::io("archive", &dir))?;
        }
        for name in entries {
            let path = rel.join(&name);
            if RUNTIME_PATHS.iter().any(|p| Path::new(p) == path) {
                continue;
            }
            let full = upper.join(&path);
            let meta = std::fs::symlink_metadata(&full).map_err(EngineError::io("read", &full))?;
            if is_whiteout(&meta) {
                // An overlay whiteout: the path is deleted.
                let mut h = tar::Header::new_gnu();
                h.set_size(0);
                h.set_mode(0o644);
                let mut wh = std::ffi::OsString::from(".wh.");
                wh.push(&name);
                b.append_data(&mut h, rel.join(wh), std::io::empty())
                    .map_err(EngineError::io("archive", &full))?;
                continue;
            }
            b.append_path_with_name(&full, &path)
                .map_err(EngineError::io("archive", &full))?;
            if meta.is_dir() {
                stack.push(path);
            }
        }
    }
    b.into_inner()
        .and_then(|mut w| w.flush())
        .map_err(EngineError::io("write", "the layer"))
}

impl Engine {
    /// `berth commit`: returns the new image's ID.
    pub fn commit(
        &self,
        name: &str,
        tag: Option<Reference>,
        opts: &CommitOptions,
    ) -> Result<Digest> {
        let c = self.current(name)?;
        let base = self
            .store
            .image(&c.image_id)?
            .ok_or_else(|| EngineError::NoSuchImage(c.image_id.to_string()))?;
        let (_, mut config) = self.image_config(&base)?;
        let mut container_config = config.config.clone().unwrap_or_default();
        for change in &opts.changes {
            apply_change(&mut container_config, change)?;
        }
        let upper = self.container_dir(&c.id).join("upper");
        let paused = opts.pause && c.state.status == berth_types::state::Status::Running;
        if paused {
            self.pause(&c.id, true)?;
        }
        let layer = self.layer_of_upper(&upper, &format!("the writable layer of {}", c.name));
        if paused {
            self.pause(&c.id, false)?;
        }
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        config.created = Some(now.clone());
        config.config = Some(container_config);
        let mut command = c.options.entrypoint.iter().cloned().collect::<Vec<_>>();
        command.extend(c.options.cmd.iter().cloned());
        config.history.push(image::History {
            created: Some(now),
            created_by: Some(command.join(" ")),
            author: opts.author.clone(),
            comment: opts.message.clone(),
            ..Default::default()
        });
        if opts.author.is_some() {
            config.author = opts.author.clone();
        }
        self.commit_layer(layer?, config, &base.layers, tag, false)
    }

    /// Writes an upper directory as a layer tar into a scratch file, unlinked at once (it is
    /// read once more, to apply and hash it). Nothing is stored yet.
    pub(crate) fn layer_of_upper(&self, upper: &Path, what: &str) -> Result<UpperLayer> {
        // The layer goes to a temporary file first: it is read twice, once to apply and hash it.
        let scratch = self.store.root().join("ingest").join(format!(
            "commit-{}-{}.tar",
            std::process::id(),
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
        ));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&scratch)
            .map_err(EngineError::io("create", &scratch))
            .and_then(|mut f| {
                // Unlinked at once: the open file is all that is needed, and nothing is left.
                let _ = std::fs::remove_file(&scratch);
                layer_tar(upper, std::io::BufWriter::new(&mut f))?;
                Ok(f)
            })?;
        Ok(UpperLayer {
            file,
            what: what.to_owned(),
        })
    }

    /// Stores `layer` on top of `base` as a new image with `config` (whose DiffIDs gain the
    /// layer's); `intermediate` for a build step's image.
    pub(crate) fn commit_layer(
        &self,
        layer: UpperLayer,
        mut config: image::ImageConfig,
        base_layers: &[berth_store::LayerRecord],
        tag: Option<Reference>,
        intermediate: bool,
    ) -> Result<Digest> {
        let UpperLayer { mut file, what } = layer;
        std::io::Seek::rewind(&mut file).map_err(EngineError::io("read", "the layer"))?;
        let _lock = self.store.writer_lock()?;
        let mut ingest = self.store.ingest()?;
        let staging = self.store.staging_dir()?;
        let mut tee = TeeReader::new(std::io::BufReader::new(file), &mut ingest);
        let report = berth_archive::apply_layer(&mut tee, staging.path(), &self.limits).map_err(
            |source| EngineError::Layer {
                layer: what.clone(),
                source,
            },
        )?;
        drop(tee);
        ingest.commit(Some(&report.digest))?;
        config.rootfs.diff_ids.push(report.diff_id);
        self.commit_image_with_layer(
            &config,
            base_layers,
            Some((report, staging)),
            tag,
            intermediate,
        )
    }
}
