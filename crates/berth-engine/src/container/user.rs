//! `USER` and `-u` resolved against the container's own `/etc/passwd` and `/etc/group`, read
//! with every path confined to the container's root: an image's files are hostile.

use std::path::Path;

use rustix::fs::{Mode, OFlags};

use super::spec::ResolvedUser;
use crate::{EngineError, Result};

const MAX_DB_FILE: u64 = 16 << 20;

/// Reads a file inside `root` without leaving it; `None` when it does not exist.
fn read_in_root(root: &Path, path: &str) -> Result<Option<String>> {
    let dir = rustix::fs::open(
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| EngineError::io("open", root)(e.into()))?;
    let shown = root.join(path.trim_start_matches('/'));
    let bytes = super::confined::read_regular(&dir, Path::new(path), MAX_DB_FILE)
        .map_err(EngineError::io("read", shown))?;
    Ok(bytes.map(|b| String::from_utf8_lossy(&b).into_owned()))
}

/// `name:x:uid:gid:...` lines (passwd) or `name:x:gid:members` lines (group).
fn entries(text: &str) -> impl Iterator<Item = Vec<&str>> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split(':').collect())
}

/// Resolves `spec` (`user`, `uid`, `user:group`, `uid:gid`; empty means root) as Docker does:
/// names must exist in the image; numeric ids need not.
pub fn resolve(root: &Path, spec: &str) -> Result<ResolvedUser> {
    let spec = match spec.trim() {
        "" => "0",
        s => s,
    };
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let passwd = read_in_root(root, "/etc/passwd")?.unwrap_or_default();
    let groups = read_in_root(root, "/etc/group")?.unwrap_or_default();
    let numeric_uid = user.parse::<u32>().ok();
    let found = entries(&passwd).find(|e| {
        e.len() >= 4
            && (Some(e[0]) == Some(user) && numeric_uid.is_none()
                || e[2].parse::<u32>().ok() == numeric_uid && numeric_uid.is_some())
    });
    let (uid, mut gid, name) = match (found, numeric_uid) {
        (Some(e), _) => (
            e[2].parse().map_err(|_| invalid(spec))?,
            e[3].parse().map_err(|_| invalid(spec))?,
            Some(e[0].to_owned()),
        ),
        (None, Some(uid)) => (uid, 0, None),
        (None, None) => {
            return Err(EngineError::InvalidOption(format!(
                "unable to find user {user}: no matching entries in passwd file"
            )));
        }
    };
    if let Some(g) = group {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => entries(&groups)
                .find(|e| e.len() >= 3 && e[0] == g)
                .and_then(|e| e[2].parse().ok())
                .ok_or_else(|| {
                    EngineError::InvalidOption(format!(
                        "unable to find group {g}: no matching entries in group file"
                    ))
                })?,
        };
    }
    let mut additional_gids: Vec<u32> = match &name {
        Some(name) if group.is_none() => entries(&groups)
            .filter(|e| e.len() >= 4 && e[3].split(',').any(|m| m == name))
            .filter_map(|e| e[2].parse().ok())
            .collect(),
        _ => Vec::new(),
    };
    // The primary group is a supplementary group too, as Docker sets them.
    additional_gids.retain(|g| *g != gid);
    additional_gids.insert(0, gid);
    additional_gids.dedup();
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids,
    })
}

fn invalid(spec: &str) -> EngineError {
    EngineError::InvalidOption(format!(
        "invalid user entry for {spec:?} in the image's passwd file"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\n# c\napp:x:1000:1000::/home/app:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("etc/group"),
            "root:x:0:\napp:x:1000:\nwheel:x:10:app,other\naudio:x:29:app\n",
        )
        .unwrap();
        dir
    }

    #[test]
    fn resolves_names_ids_and_groups() {
        let r = root();
        assert_eq!(
            resolve(r.path(), "").unwrap(),
            ResolvedUser {
                uid: 0,
                gid: 0,
                additional_gids: vec![0]
            }
        );
        assert_eq!(
            resolve(r.path(), "app").unwrap(),
            ResolvedUser {
                uid: 1000,
                gid: 1000,
                additional_gids: vec![1000, 10, 29]
            }
        );
        assert_eq!(resolve(r.path(), "1000").unwrap().gid, 1000);
        assert_eq!(
            resolve(r.path(), "4242").unwrap(),
            ResolvedUser {
                uid: 4242,
                gid: 0,
                additional_gids: vec![0]
            }
        );
        assert_eq!(
            resolve(r.path(), "app:wheel").unwrap(),
            ResolvedUser {
                uid: 1000,
                gid: 10,
                additional_gids: vec![10]
            }
        );
        assert_eq!(
            resolve(r.path(), "4242:77").unwrap(),
            ResolvedUser {
                uid: 4242,
                gid: 77,
                additional_gids: vec![77]
            }
        );
        let e = resolve(r.path(), "nobody").unwrap_err().to_string();
        assert!(e.contains("unable to find user nobody"), "{e}");
        assert!(resolve(r.path(), "app:nogroup").is_err());
    }

    #[test]
    fn an_escaping_passwd_symlink_stays_inside_the_root() {
        let r = root();
        std::fs::remove_file(r.path().join("etc/passwd")).unwrap();
        // Points at the host's passwd from the container's point of view: resolves inside the root.
        std::os::unix::fs::symlink("/../../../../etc/shadow", r.path().join("etc/passwd")).unwrap();
        let e = resolve(r.path(), "root").unwrap_err().to_string();
        assert!(e.contains("unable to find user root"), "{e}");
    }
}
