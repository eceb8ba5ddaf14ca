//! An [`Inventory`] as a software bill of materials: CycloneDX 1.5 JSON, SPDX 2.3 JSON, or
//! berth's own JSON (the inventory as it is). Every package carries its package URL.

use serde_json::{Value, json};

use crate::inventory::{Inventory, Kind, Package};

/// What the SBOM describes.
#[derive(Debug, Clone)]
pub struct Subject {
    /// The name the user gave (`debian:12`).
    pub name: String,
    /// The image ID (`sha256:…`).
    pub id: String,
}

/// Percent-encodes a purl component: everything but unreserved characters.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The package URL of `p` (purl-spec): `pkg:deb/debian/curl@7.88.1-10?arch=amd64&distro=debian-12`.
pub fn purl(p: &Package, inv: &Inventory) -> String {
    let os = inv.os.as_ref();
    let (namespace, name) = match p.kind {
        Kind::Deb => (
            Some(os.map_or("debian", |o| o.id.as_str()).to_owned()),
            p.name.clone(),
        ),
        Kind::Apk => (
            Some(os.map_or("alpine", |o| o.id.as_str()).to_owned()),
            p.name.clone(),
        ),
        Kind::Rpm => (
            Some(os.map_or("redhat", |o| o.id.as_str()).to_owned()),
            p.name.clone(),
        ),
        // PyPI names are normalised: lower case, runs of `-_.` become `-`.
        Kind::Python => (None, crate::inventory::normalise_pypi(&p.name)),
        Kind::Npm => match p.name.split_once('/') {
            Some((scope, n)) if scope.starts_with('@') => (Some(scope.to_owned()), n.to_owned()),
            _ => (None, p.name.clone()),
        },
        Kind::Cargo => (None, p.name.clone()),
        Kind::Maven => match p.name.split_once(':') {
            Some((group, artifact)) => (Some(group.to_owned()), artifact.to_owned()),
            None => (None, p.name.clone()),
        },
        // A Go module path's last element is the name, the rest the namespace.
        Kind::Go => match p.name.rsplit_once('/') {
            Some((ns, n)) => (Some(ns.to_owned()), n.to_owned()),
            None => (None, p.name.clone()),
        },
    };
    let mut out = format!("pkg:{}/", p.kind.purl_type());
    if let Some(ns) = namespace {
        // Each segment of a namespace is encoded on its own.
        let segments: Vec<String> = ns.split('/').map(encode).collect();
        out.push_str(&segments.join("/"));
        out.push('/');
    }
    out.push_str(&encode(&name));
    out.push('@');
    let (epoch, version) = match (p.kind, p.version.split_once(':')) {
        (Kind::Rpm, Some((e, v))) => (Some(e), v),
        _ => (None, p.version.as_str()),
    };
    out.push_str(&encode(version));
    let mut qualifiers = Vec::new();
    if let Some(arch) = &p.arch {
        qualifiers.push(format!("arch={}", encode(arch)));
    }
    if let Some(e) = epoch {
        qualifiers.push(format!("epoch={}", encode(e)));
    }
    if let (Kind::Deb | Kind::Apk | Kind::Rpm, Some(os)) = (p.kind, os) {
        qualifiers.push(format!(
            "distro={}-{}",
            encode(&os.id),
            encode(&os.version_id)
        ));
    }
    if p.kind == Kind::Deb
        && let Some(src) = &p.source
        && src != &p.name
    {
        qualifiers.push(format!("upstream={}", encode(src)));
    }
    if !qualifiers.is_empty() {
        qualifiers.sort();
        out.push('?');
        out.push_str(&qualifiers.join("&"));
    }
    out
}

fn layer_properties(p: &Package, inv: &Inventory) -> Vec<Value> {
    let mut props = vec![json!({"name": "berth:package:path", "value": format!("/{}", p.path)})];
    if let Some(layer) = inv.layers.get(p.layer) {
        props.push(json!({"name": "berth:layer:diff_id", "value": layer.diff_id}));
        if let Some(by) = &layer.created_by {
            props.push(json!({"name": "berth:layer:created_by", "value": by}));
        }
    }
    props
}

/// Each package's CycloneDX `bom-ref`: its purl, with `#N` added where the same package is
/// found more than once (in two places), since references must be unique.
pub fn bom_refs(inv: &Inventory) -> Vec<String> {
    let mut seen = std::collections::HashMap::new();
    inv.packages
        .iter()
        .map(|p| {
            let purl = purl(p, inv);
            let n = seen.entry(purl.clone()).or_insert(0usize);
            *n += 1;
            if *n == 1 { purl } else { format!("{purl}#{n}") }
        })
        .collect()
}

/// CycloneDX 1.5 JSON.
pub fn cyclonedx(inv: &Inventory, subject: &Subject, serial: &str, timestamp: &str) -> Value {
    let refs = bom_refs(inv);
    let components: Vec<Value> = inv
        .packages
        .iter()
        .zip(&refs)
        .map(|(p, bom_ref)| {
            let purl = purl(p, inv);
            json!({
                "type": "library",
                "bom-ref": bom_ref,
                "name": p.name,
                "version": p.version,
                "purl": purl,
                "properties": layer_properties(p, inv),
            })
        })
        .collect();
    let mut metadata = json!({
        "timestamp": timestamp,
        "tools": {"components": [{"type": "application", "name": "berth", "version": env!("CARGO_PKG_VERSION")}]},
        "component": {
            "type": "container",
            "bom-ref": subject.id,
            "name": subject.name,
            "version": subject.id,
        },
    });
    if let Some(os) = &inv.os {
        metadata["component"]["properties"] = json!([
            {"name": "berth:os:id", "value": os.id},
            {"name": "berth:os:version_id", "value": os.version_id},
        ]);
    }
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": format!("urn:uuid:{serial}"),
        "version": 1,
        "metadata": metadata,
        "components": components,
    })
}

/// An SPDX identifier from free text: letters, digits, `.` and `-` only.
fn spdx_id(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// SPDX 2.3 JSON.
pub fn spdx(inv: &Inventory, subject: &Subject, namespace_id: &str, created: &str) -> Value {
    let image_ref = "SPDXRef-Image";
    let mut packages = vec![json!({
        "SPDXID": image_ref,
        "name": subject.name,
        "versionInfo": subject.id,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "primaryPackagePurpose": "CONTAINER",
    })];
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": image_ref,
    })];
    for (i, p) in inv.packages.iter().enumerate() {
        let id = format!(
            "SPDXRef-Package-{}-{}-{i}",
            p.kind.purl_type(),
            spdx_id(&p.name)
        );
        let mut comment = format!("found in /{}", p.path);
        if let Some(layer) = inv.layers.get(p.layer) {
            comment.push_str(&format!("; layer {}", layer.diff_id));
            if let Some(by) = &layer.created_by {
                comment.push_str(&format!(" ({by})"));
            }
        }
        packages.push(json!({
            "SPDXID": id,
            "name": p.name,
            "versionInfo": p.version,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "comment": comment,
            "externalRefs": [{
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": purl(p, inv),
            }],
        }));
        relationships.push(json!({
            "spdxElementId": image_ref,
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": id,
        }));
    }
    json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": subject.name,
        "documentNamespace": format!("https://berth.invalid/spdx/{}-{namespace_id}", spdx_id(&subject.name)),
        "creationInfo": {
            "created": created,
            "creators": [format!("Tool: berth-{}", env!("CARGO_PKG_VERSION"))],
        },
        "packages": packages,
        "relationships": relationships,
    })
}
