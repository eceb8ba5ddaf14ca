//! EXPOSE's port syntax.

use crate::ast::{PortSpec, Protocol};

/// Parses one EXPOSE word after substitution: `80`, `80/tcp`, `53/udp`, `132/sctp` or a
/// range `8000-8010/tcp`. Ports are 1–65535 and a range must not go backwards.
///
/// The parser keeps EXPOSE's words as written, because they may contain `$VAR`; the
/// builder validates each one with this function after substitution.
pub fn parse_port(word: &str) -> Result<PortSpec, String> {
    let (ports, protocol) = match word.split_once('/') {
        None => (word, Protocol::Tcp),
        Some((ports, proto)) => (
            ports,
            match proto.to_ascii_lowercase().as_str() {
                "tcp" => Protocol::Tcp,
                "udp" => Protocol::Udp,
                "sctp" => Protocol::Sctp,
                _ => return Err(format!("invalid protocol {proto:?} in port {word:?}")),
            },
        ),
    };
    let number = |text: &str| match text.parse::<u16>() {
        Ok(port) if port > 0 && text.bytes().all(|b| b.is_ascii_digit()) => Ok(port),
        _ => Err(format!(
            "invalid port {text:?} in {word:?}: expected 1-65535"
        )),
    };
    let (start, end) = match ports.split_once('-') {
        Some((a, b)) => (number(a)?, number(b)?),
        None => {
            let port = number(ports)?;
            (port, port)
        }
    };
    if end < start {
        return Err(format!("invalid port range {word:?}: end is before start"));
    }
    Ok(PortSpec {
        start,
        end,
        protocol,
    })
}
