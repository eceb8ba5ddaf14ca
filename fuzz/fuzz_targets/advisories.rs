//! The advisory parsers (OSV, the Debian tracker lists, Alpine secdb) on arbitrary bytes: they
//! must never panic.
#![no_main]

use berth_scan::vulndb::{Format, parse};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    for format in [Format::Osv, Format::DebianList, Format::AlpineSecdb] {
        let _ = parse(format, "fuzz", data);
    }
});
