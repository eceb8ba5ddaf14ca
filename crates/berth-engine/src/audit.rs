//! `berth audit image` and `berth audit container`: the engine gathers what berth-scan's checks
//! read — an image's config, history and merged file list (from the layer blobs, streamed, with
//! whiteouts applied), its secrets (from the cached scan); a container's effective options.

use berth_archive::{Compression, EntryKind, for_each_entry};
use berth_scan::audit::{
    AuditFinding, ContainerFacts, FileInfo, FileTree, HostMount, ImageFacts, audit_container,
    audit_image,
};
use berth_store::ImageRecord;

use crate::container::UserMount;
use crate::{Engine, EngineError, Result};

impl Engine {
    /// The image checks on a stored image.
    pub fn audit_image(&self, name: &str) -> Result<(ImageRecord, Vec<AuditFinding>)> {
        let (image, inventory, _) = self.scan(name, false, true)?;
        let (_, config) = self.image_config(&image)?;
        let mut tree = FileTree::default();
        for layer in &image.layers {
            let what = format!("blob {}", layer.blob_digest);
            let mut blob = std::io::BufReader::new(self.store.open_blob(&layer.blob_digest)?);
            let compression =
                Compression::sniff(&mut blob).map_err(EngineError::io("read", &what))?;
            let decoded = compression
                .decoder(blob)
                .map_err(EngineError::io("read", &what))?;
            tree.begin_layer();
            for_each_entry(decoded, &self.limits, |meta, _| {
                let info = FileInfo {
                    mode: meta.mode,
                    dir: meta.kind == EntryKind::Dir,
                    regular: matches!(meta.kind, EntryKind::File | EntryKind::Hardlink),
                    size: meta.size,
                };
                tree.entry(&String::from_utf8_lossy(&meta.path), info);
                Ok(())
            })
            .map_err(|source| EngineError::Layer {
                layer: layer.diff_id.to_string(),
                source,
            })?;
        }
        let cc = config.config.clone().unwrap_or_default();
        let history: Vec<String> = config
            .history
            .iter()
            .filter_map(|h| h.created_by.clone())
            .collect();
        let secrets: Vec<String> = inventory
            .secrets
            .iter()
            .map(|s| format!("{} in {}", s.title, s.path))
            .collect();
        let findings = audit_image(&ImageFacts {
            name,
            user: cc.user.as_deref().unwrap_or_default(),
            healthcheck: cc.healthcheck.as_ref(),
            history: &history,
            files: &tree,
            secrets: &secrets,
        });
        Ok((image, findings))
    }

    /// The container checks on a container's effective configuration.
    pub fn audit_container(&self, name: &str) -> Result<(String, Vec<AuditFinding>)> {
        let c = self.container(name)?;
        let facts = self.container_facts(&c.options, &c.image_id.to_string())?;
        Ok((c.name, audit_container(&facts)))
    }

    /// What the container checks read, from run options and the image they name.
    pub(crate) fn container_facts(
        &self,
        o: &crate::RunOptions,
        image: &str,
    ) -> Result<ContainerFacts> {
        let (nnp, seccomp) = o.security()?;
        let host = o.host_namespaces()?;
        let image_user = match self.resolve_image(image) {
            Ok(record) => self
                .image_config(&record)?
                .1
                .config
                .and_then(|c| c.user)
                .unwrap_or_default(),
            Err(_) => String::new(),
        };
        let mounts = o
            .user_mounts()?
            .into_iter()
            .filter_map(|m| match m {
                UserMount::Bind {
                    source,
                    target,
                    readonly,
                } => Some(HostMount {
                    source,
                    target,
                    readonly,
                }),
                UserMount::Tmpfs { .. } => None,
            })
            .collect();
        Ok(ContainerFacts {
            privileged: o.privileged,
            cap_add: o.cap_add.clone(),
            host_network: o.network_mode()? == "host",
            host_pid: host.contains(&"pid"),
            host_ipc: host.contains(&"ipc"),
            host_uts: host.contains(&"uts"),
            mounts,
            memory_limit: o.memory.is_some_and(|m| m > 0),
            pids_limit: o.pids_limit.is_none_or(|p| p > 0),
            read_only: o.read_only,
            // As docker-bench reads them: what the security options say (--privileged is its
            // own check).
            no_new_privileges: nnp,
            seccomp: !matches!(seccomp, Some(None)),
            user: o.user.clone().unwrap_or(image_user),
            restart: o.restart.clone(),
            engine_paths: vec![
                self.store.root().display().to_string(),
                self.runroot.display().to_string(),
            ],
        })
    }
}
