//! Layer apply against the real filesystem: what a layer may do, and the malicious layers it must not.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use berth_archive::{ArchiveError, Compression, Limits, apply_layer};
use berth_types::Digest;

/// A tar stream built header by header, so it can hold what well-behaved writers refuse to write.
#[derive(Default)]
struct Tar(Vec<u8>);

impl Tar {
    fn entry(self, name: &[u8], kind: tar::EntryType, mode: u32, link: &[u8], data: &[u8]) -> Self {
        self.entry_of(name, kind, mode, link, data, (1000, 1001))
    }
    fn entry_of(
        mut self,
        name: &[u8],
        kind: tar::EntryType,
        mode: u32,
        link: &[u8],
        data: &[u8],
        (uid, gid): (u64, u64),
    ) -> Self {
        let mut h = tar::Header::new_gnu();
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link);
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(uid);
        h.set_gid(gid);
        h.set_mtime(1_600_000_000);
        h.set_size(data.len() as u64);
        h.set_cksum();
        self.0.extend_from_slice(h.as_bytes());
        self.0.extend_from_slice(data);
        self.0.resize(self.0.len().div_ceil(512) * 512, 0);
        self
    }
    fn file(self, name: &str, data: &str) -> Self {
        self.entry(
            name.as_bytes(),
            tar::EntryType::Regular,
            0o644,
            b"",
            data.as_bytes(),
        )
    }
    fn dir(self, name: &str) -> Self {
        self.entry(name.as_bytes(), tar::EntryType::Directory, 0o755, b"", b"")
    }
    fn symlink(self, name: &str, target: &str) -> Self {
        self.entry(
            name.as_bytes(),
            tar::EntryType::Symlink,
            0o777,
            target.as_bytes(),
            b"",
        )
    }
    fn hardlink(self, name: &str, target: &str) -> Self {
        self.entry(
            name.as_bytes(),
            tar::EntryType::Link,
            0o644,
            target.as_bytes(),
            b"",
        )
    }
    fn finish(mut self) -> Vec<u8> {
        self.0.extend_from_slice(&[0; 1024]);
        self.0
    }
}

struct Sandbox {
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
    outside: std::path::PathBuf,
}

/// A layer root two levels below a directory holding an `outside` canary, so escapes are observable.
fn sandbox() -> Sandbox {
    let dir = tempfile::Builder::new()
        .prefix("berth-apply-")
        .tempdir_in("/tmp")
        .unwrap();
    let root = dir.path().join("a/layer");
    let outside = dir.path().join("outside");
    fs::create_dir_all(&root).unwrap();
    fs::create_dir_all(&outside).unwrap();
    fs::write(outside.join("secret"), "secret").unwrap();
    Sandbox {
        _dir: dir,
        root,
        outside,
    }
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Tests that chown or make device nodes need root: skipped with a reason outside CI, failed in CI.
fn needs_root() -> bool {
    if is_root() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "this test needs root, and CI must run as root"
    );
    eprintln!("skipped: needs root");
    false
}

fn apply(sb: &Sandbox, bytes: &[u8]) -> Result<berth_archive::ApplyReport, ArchiveError> {
    apply_layer(bytes, &sb.root, &Limits::default())
}

fn assert_outside_untouched(sb: &Sandbox) {
    let names: Vec<_> = fs::read_dir(&sb.outside)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names,
        ["secret"],
        "something was written outside the layer root"
    );
    assert_eq!(
        fs::read_to_string(sb.outside.join("secret")).unwrap(),
        "secret"
    );
    assert!(!Path::new("/evil").exists() && !Path::new("/tmp/evil").exists());
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn files_get_their_exact_owner_and_mode_whoever_made_them() {
    if !needs_root() {
        return;
    }
    let sb = sandbox();
    // Files made by root for root keep only the permission bits they were created with when
    // those are right; the rest (umask-stripped bits, set-id, sticky, other owners) are set.
    let cases: [(&str, u32, (u64, u64)); 7] = [
        ("root-0777", 0o777, (0, 0)),
        ("root-0640", 0o640, (0, 0)),
        ("root-0000", 0o000, (0, 0)),
        ("root-setgid", 0o2755, (0, 0)),
        ("root-sticky", 0o1777, (0, 0)),
        ("user-0600", 0o600, (1000, 1001)),
        ("group-only", 0o664, (0, 1001)),
    ];
    let mut tar = Tar::default();
    for (name, mode, owner) in cases {
        tar = tar.entry_of(
            name.as_bytes(),
            tar::EntryType::Regular,
            mode,
            b"",
            b"content",
            owner,
        );
    }
    apply(&sb, &tar.finish()).unwrap();
    for (name, mode, (uid, gid)) in cases {
        let m = fs::metadata(sb.root.join(name)).unwrap();
        assert_eq!(m.permissions().mode() & 0o7777, mode, "{name}");
        assert_eq!((m.uid() as u64, m.gid() as u64), (uid, gid), "{name}");
        assert_eq!(fs::read(sb.root.join(name)).unwrap(), b"content", "{name}");
    }
}

#[test]
fn applies_files_dirs_links_and_metadata() {
    if !needs_root() {
        return;
    }
    let sb = sandbox();
    let layer = Tar::default()
        .dir("usr/")
        .dir("usr/bin/")
        .entry(b"usr/bin/su", tar::EntryType::Regular, 0o4755, b"", b"#!su")
        .hardlink("usr/bin/su2", "usr/bin/su")
        .symlink("bin", "usr/bin")
        .symlink("abs", "/etc/passwd")
        .file("implicit/parent/file", "x")
        .entry(b"dev/null2", tar::EntryType::Char, 0o666, b"", b"")
        .entry(b"fifo", tar::EntryType::Fifo, 0o600, b"", b"")
        .finish();
    let report = apply(&sb, &layer).unwrap();
    assert_eq!(report.compression, Compression::None);
    assert_eq!(report.diff_id, Digest::of(&layer));
    assert_eq!(report.digest, report.diff_id);
    assert_eq!(report.size, layer.len() as u64);
    let su = fs::metadata(sb.root.join("usr/bin/su")).unwrap();
    assert_eq!(
        su.permissions().mode() & 0o7777,
        0o4755,
        "setuid kept after chown"
    );
    assert_eq!((su.uid(), su.gid()), (1000, 1001));
    assert_eq!(su.mtime(), 1_600_000_000);
    assert_eq!(
        fs::metadata(sb.root.join("usr/bin/su2")).unwrap().ino(),
        su.ino(),
        "hard link kept"
    );
    assert_eq!(
        fs::read_link(sb.root.join("bin")).unwrap(),
        Path::new("usr/bin")
    );
    assert_eq!(
        fs::read_link(sb.root.join("abs")).unwrap(),
        Path::new("/etc/passwd")
    );
    assert_eq!(
        fs::symlink_metadata(sb.root.join("bin")).unwrap().mtime(),
        1_600_000_000
    );
    assert_eq!(
        fs::metadata(sb.root.join("usr")).unwrap().mtime(),
        1_600_000_000,
        "dir times set last"
    );
    assert_eq!(
        fs::metadata(sb.root.join("implicit/parent"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o755
    );
    assert!(
        fs::symlink_metadata(sb.root.join("dev/null2"))
            .unwrap()
            .file_type()
            .is_char_device()
    );
    assert!(
        fs::symlink_metadata(sb.root.join("fifo"))
            .unwrap()
            .file_type()
            .is_fifo()
    );
}

#[test]
fn turns_oci_whiteouts_into_overlay_whiteouts() {
    if !needs_root() {
        return;
    }
    let sb = sandbox();
    let layer = Tar::default()
        .dir("etc/")
        .file("etc/.wh.gone", "")
        .dir("var/")
        .file("var/.wh..wh..opq", "")
        .finish();
    apply(&sb, &layer).unwrap();
    let wh = fs::symlink_metadata(sb.root.join("etc/gone")).unwrap();
    assert!(wh.file_type().is_char_device());
    assert_eq!(wh.rdev(), 0);
    assert!(!sb.root.join("etc/.wh.gone").exists());
    let opaque = xattr(&sb.root.join("var"), "trusted.overlay.opaque");
    assert_eq!(opaque.as_deref(), Some(&b"y"[..]));
}

fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 64];
    let n = rustix::fs::getxattr(path, name, &mut buf).ok()?;
    buf.truncate(n);
    Some(buf)
}

#[test]
fn compressed_layers_report_both_digests() {
    let sb = sandbox();
    let tar = Tar::default().file("a", "hello").finish();
    let gz = gzip(&tar);
    let report = apply_layer(&gz[..], &sb.root, &Limits::default()).unwrap();
    assert_eq!(report.compression, Compression::Gzip);
    assert_eq!(report.digest, Digest::of(&gz));
    assert_eq!(report.compressed_size, gz.len() as u64);
    assert_eq!(report.diff_id, Digest::of(&tar));
    let sb = sandbox();
    let zst = zstd::encode_all(&tar[..], 3).unwrap();
    let report = apply_layer(&zst[..], &sb.root, &Limits::default()).unwrap();
    assert_eq!(report.compression, Compression::Zstd);
    assert_eq!(report.diff_id, Digest::of(&tar));
    assert_eq!(fs::read_to_string(sb.root.join("a")).unwrap(), "hello");
}

/// A malicious layer: what it tries, its bytes, and the error that must name its trick.
type Case = (&'static str, Vec<u8>, fn(&ArchiveError) -> bool);

/// Each malicious layer is refused with the error that names its trick, and nothing leaks out.
#[test]
fn refuses_malicious_layers() {
    let regular = tar::EntryType::Regular;
    let cases: Vec<Case> = vec![
        (
            "absolute path",
            Tar::default().file("/tmp/evil", "x").finish(),
            |e| matches!(e, ArchiveError::Escape { .. }),
        ),
        (
            "dot-dot path",
            Tar::default().file("a/../../../outside/evil", "x").finish(),
            |e| matches!(e, ArchiveError::Escape { .. }),
        ),
        (
            "write through an escaping relative symlink",
            Tar::default()
                .symlink("s", "../../outside")
                .file("s/evil", "x")
                .finish(),
            |e| matches!(e, ArchiveError::SymlinkEscape { .. }),
        ),
        (
            "write through an absolute symlink",
            Tar::default()
                .symlink("s", "/tmp")
                .file("s/evil", "x")
                .finish(),
            |e| matches!(e, ArchiveError::SymlinkEscape { .. }),
        ),
        (
            "hard link to outside",
            Tar::default()
                .hardlink("h", "../../outside/secret")
                .finish(),
            |e| matches!(e, ArchiveError::HardlinkEscape { .. }),
        ),
        (
            "hard link to an absolute path",
            Tar::default().hardlink("h", "/etc/passwd").finish(),
            |e| matches!(e, ArchiveError::HardlinkEscape { .. }),
        ),
        (
            "hard link through an escaping symlink",
            Tar::default()
                .symlink("s", "../../outside")
                .hardlink("h", "s/secret")
                .finish(),
            |e| matches!(e, ArchiveError::HardlinkEscape { .. }),
        ),
        (
            "directory turned into an escaping symlink",
            Tar::default()
                .dir("d/")
                .symlink("d", "../../outside")
                .file("d/evil", "x")
                .finish(),
            |e| matches!(e, ArchiveError::DirToEscapingSymlink { .. }),
        ),
        (
            "symlink loop",
            Tar::default()
                .symlink("a", "b")
                .symlink("b", "a")
                .file("a/evil", "x")
                .finish(),
            |e| matches!(e, ArchiveError::SymlinkLoop { .. }),
        ),
        (
            "whiteout of ..",
            Tar::default().file(".wh...", "").finish(),
            |e| matches!(e, ArchiveError::BadWhiteout { .. }),
        ),
        (
            "whiteout of .. in a directory",
            Tar::default().file("d/.wh...", "").finish(),
            |e| matches!(e, ArchiveError::BadWhiteout { .. }),
        ),
        (
            "truncated tar",
            Tar::default().file("a", &"x".repeat(2000)).finish()[..1024].to_vec(),
            |e| matches!(e, ArchiveError::Tar { .. }),
        ),
        (
            "truncated gzip",
            {
                let gz = gzip(&Tar::default().file("a", &"x".repeat(5000)).finish());
                gz[..gz.len() / 2].to_vec()
            },
            |e| matches!(e, ArchiveError::Decompress { format: "gzip", .. }),
        ),
        (
            "corrupt gzip",
            {
                let mut gz = gzip(&Tar::default().file("a", "hello").finish());
                let n = gz.len();
                gz[n - 6] ^= 0xff; // the CRC trailer
                gz
            },
            |e| matches!(e, ArchiveError::Decompress { format: "gzip", .. }),
        ),
        (
            "corrupt zstd",
            {
                let mut z = zstd::encode_all(
                    &Tar::default().file("a", &"hello".repeat(99)).finish()[..],
                    3,
                )
                .unwrap();
                z.truncate(z.len() - 3);
                z
            },
            |e| matches!(e, ArchiveError::Decompress { format: "zstd", .. }),
        ),
        (
            "oversized PAX header",
            Tar::default()
                .entry(
                    b"pax",
                    tar::EntryType::XHeader,
                    0o644,
                    b"",
                    &vec![b'x'; 2 << 20],
                )
                .file("a", "")
                .finish(),
            |e| matches!(e, ArchiveError::HeaderTooLarge { .. }),
        ),
        (
            "oversized GNU long name",
            Tar::default()
                .entry(
                    b"././@LongLink",
                    tar::EntryType::GNULongName,
                    0o644,
                    b"",
                    &vec![b'a'; 2 << 20],
                )
                .file("a", "")
                .finish(),
            |e| matches!(e, ArchiveError::HeaderTooLarge { .. }),
        ),
        (
            "PAX path escaping",
            Tar::default()
                .entry(
                    b"pax",
                    tar::EntryType::XHeader,
                    0o644,
                    b"",
                    b"19 path=../../evil\n",
                )
                .entry(b"ok", regular, 0o644, b"", b"x")
                .finish(),
            |e| matches!(e, ArchiveError::Escape { .. }),
        ),
        (
            "sparse file",
            Tar::default()
                .entry(b"sparse", tar::EntryType::GNUSparse, 0o644, b"", b"")
                .finish(),
            |e| matches!(e, ArchiveError::Unsupported { .. }),
        ),
        (
            "gzip bomb",
            gzip(&Tar::default().file("a", &"\0".repeat(4 << 20)).finish()),
            |e| matches!(e, ArchiveError::TooLarge { .. }),
        ),
    ];
    for (what, bytes, expected) in cases {
        let sb = sandbox();
        let limits = Limits {
            max_uncompressed: 1 << 20,
            ..Limits::default()
        };
        match apply_layer(&bytes[..], &sb.root, &limits) {
            Ok(_) => panic!("{what}: accepted"),
            Err(e) => {
                assert!(expected(&e), "{what}: wrong error {e:?}");
                assert!(!e.to_string().is_empty());
            }
        }
        assert_outside_untouched(&sb);
    }
}

#[test]
fn error_names_the_entry() {
    let sb = sandbox();
    let e = apply(&sb, &Tar::default().file("a/../../x", "").finish()).unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"entry "a/../../x" escapes the root (absolute path or '..')"#
    );
}

#[test]
fn later_entries_replace_earlier_ones() {
    let sb = sandbox();
    let layer = Tar::default()
        .file("f", "one")
        .file("f", "two")
        .dir("d/")
        .file("d/x", "")
        .file("d", "file now")
        .finish();
    apply(&sb, &layer).unwrap();
    assert_eq!(fs::read_to_string(sb.root.join("f")).unwrap(), "two");
    assert_eq!(fs::read_to_string(sb.root.join("d")).unwrap(), "file now");
}

#[test]
fn the_root_entry_is_reported_not_applied() {
    if !needs_root() {
        return;
    }
    let sb = sandbox();
    let before = std::fs::metadata(&sb.root).unwrap();
    let layer = Tar::default()
        .entry(b"./", tar::EntryType::Directory, 0o700, b"", b"")
        .file("a", "x")
        .finish();
    let report = apply(&sb, &layer).unwrap();
    assert_eq!(report.root, Some((0o700, 1000, 1001)));
    let after = std::fs::metadata(&sb.root).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&after.permissions()),
        std::os::unix::fs::PermissionsExt::mode(&before.permissions()),
        "the directory applied to keeps its mode"
    );
    let without = apply(&sandbox(), &Tar::default().file("a", "x").finish()).unwrap();
    assert_eq!(without.root, None);
}
