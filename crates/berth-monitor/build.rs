//! A static build (`-C target-feature=+crt-static`, as `scripts/build-monitor.sh` makes it) of
//! a program without the standard library must name the C runtime's unwinding support itself.
fn main() {
    let features = std::env::var("CARGO_CFG_TARGET_FEATURE").unwrap_or_default();
    if features.split(',').any(|f| f == "crt-static") {
        println!("cargo:rustc-link-arg-bins=-lgcc_eh");
    }
}
