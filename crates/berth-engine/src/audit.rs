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
use berth_types::Digest;

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

impl Engine {
    /// The admission policy's verdict on a container about to be created or started with
    /// `o`: an error naming the first `deny` rule that matched and was not overridden, else the
    /// rules to warn about (overridden denials included, with their reasons).
    pub fn admit(
        &self,
        o: &crate::RunOptions,
        policy: &berth_scan::policy::Policy,
    ) -> Result<Vec<berth_scan::policy::Decision>> {
        self.admit_image(o, policy, None)
    }

    /// [`Engine::admit`] for a container made from image `pinned` (`start`).
    pub fn admit_image(
        &self,
        o: &crate::RunOptions,
        policy: &berth_scan::policy::Policy,
        pinned: Option<&Digest>,
    ) -> Result<Vec<berth_scan::policy::Decision>> {
        use berth_scan::policy::{Facts, Vuln};
        let mut overrides: Vec<(&str, &str)> = Vec::new();
        for ov in &o.policy_overrides {
            let (rule, reason) = ov.split_once('=').unwrap_or((ov, ""));
            if reason.trim().is_empty() {
                return Err(EngineError::InvalidOption(format!(
                    "--policy-override {ov:?}: give a reason, as RULE=REASON"
                )));
            }
            if !policy.rules.iter().any(|r| r.name == rule) {
                return Err(EngineError::InvalidOption(format!(
                    "--policy-override: the policy has no rule {rule:?}"
                )));
            }
            overrides.push((rule, reason));
        }
        self.check_trust_local(&o.image, policy, pinned)?;
        let needs = policy.needs();
        if policy.rules.is_empty() {
            return Ok(Vec::new());
        }
        if !needs.image {
            // The rules read the options alone: no image to look up.
            let facts = Facts {
                image: o.image.clone(),
                privileged: o.privileged,
                cap_add: o.cap_add.clone(),
                ..Default::default()
            };
            return self.decide(policy, &facts, &overrides);
        }
        // The registry: of the tag the image was named by, else (named by ID) of its first tag.
        let (image, tag) = self.resolve_with_ref(&o.image)?;
        let registry = tag
            .or_else(|| image.tags.first().cloned())
            .map(|r| r.domain().to_owned())
            .unwrap_or_default();
        let mut facts = Facts {
            image: o.image.clone(),
            registry,
            ..Default::default()
        };
        if needs.vulnerabilities || needs.secrets {
            let (_, inventory, findings) =
                self.scan(&image.id.to_string(), needs.vulnerabilities, needs.secrets)?;
            facts.vulnerabilities = findings
                .iter()
                .map(|f| Vuln {
                    id: f.id.clone(),
                    package: f.package.clone(),
                    severity: f.severity,
                    fixed: f.fixed.is_some(),
                })
                .collect();
            facts.secrets = inventory
                .secrets
                .iter()
                .map(|s| format!("{} in {}", s.title, s.path))
                .collect();
        }
        if needs.image_audit {
            facts.audit = self.audit_image(&image.id.to_string())?.1;
        }
        let cf = self.container_facts(o, &image.id.to_string())?;
        if needs.container_audit {
            facts.audit.extend(audit_container(&cf));
        }
        facts.user_root = berth_scan::audit::is_root(&cf.user);
        facts.privileged = cf.privileged;
        facts.cap_add = cf.cap_add.clone();
        self.decide(policy, &facts, &overrides)
    }

    /// The policy's decisions on `facts`, overrides applied.
    fn decide(
        &self,
        policy: &berth_scan::policy::Policy,
        facts: &berth_scan::policy::Facts,
        overrides: &[(&str, &str)],
    ) -> Result<Vec<berth_scan::policy::Decision>> {
        use berth_scan::policy::Action;
        let mut out = Vec::new();
        for mut d in policy.evaluate(facts) {
            match (d.action, overrides.iter().find(|(r, _)| *r == d.rule)) {
                (Action::Deny, None) => {
                    return Err(EngineError::PolicyDenied(format!(
                        "admission denied by policy rule {:?}: {}; to run it anyway, add --policy-override {}=REASON",
                        d.rule, d.finding, d.rule
                    )));
                }
                (Action::Deny, Some((_, reason))) => {
                    d.finding = format!("{} (overridden: {reason})", d.finding);
                    out.push(d);
                }
                (Action::Warn, _) => out.push(d),
            }
        }
        Ok(out)
    }
}
