//! Helpers shared by berth-scan's tests: layer tars and Go build information.
#![allow(dead_code)]

/// A layer tar with `files` (path, mode, contents); a path ending in `/` is a directory.
pub fn layer_with_modes(files: &[(&str, u32, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, mode, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_mode(*mode);
        if path.ends_with('/') {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            b.append_data(&mut h, path, &[][..]).unwrap();
        } else {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(data.len() as u64);
            b.append_data(&mut h, path, *data).unwrap();
        }
    }
    b.into_inner().unwrap()
}

/// A layer tar of regular files (mode 0644) and directories (paths ending in `/`).
pub fn layer(files: &[(&str, &[u8])]) -> Vec<u8> {
    let with_modes: Vec<(&str, u32, &[u8])> = files
        .iter()
        .map(|(p, d)| (*p, if p.ends_with('/') { 0o755 } else { 0o644 }, *d))
        .collect();
    layer_with_modes(&with_modes)
}

/// An executable carrying Go build information as the Go linker (1.18 and later) lays it out:
/// the magic, pointer size, flags, padding to 32 bytes, then the Go version and the module
/// information (between 16-byte sentinels) as varint-prefixed strings.
pub fn go_binary(go: &str, modinfo: &str) -> Vec<u8> {
    fn put(out: &mut Vec<u8>, s: &[u8]) {
        let mut n = s.len();
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            out.push(if n > 0 { b | 0x80 } else { b });
            if n == 0 {
                break;
            }
        }
        out.extend_from_slice(s);
    }
    let mut out = b"\x7fELF\x02\x01\x01\0".to_vec();
    out.resize(4096, 0);
    out.extend_from_slice(b"\xff Go buildinf:");
    out.extend([8, 2]);
    out.resize(out.len() + 16, 0);
    put(&mut out, go.as_bytes());
    put(
        &mut out,
        &[&[0x30u8; 16][..], modinfo.as_bytes(), &[0xf9u8; 16][..]].concat(),
    );
    out.resize(out.len() + 4096, 0);
    out
}

/// A small deterministic pseudo-random generator (xorshift64*) for the property tests.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}
