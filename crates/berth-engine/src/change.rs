//! `berth import --change`: the Dockerfile instructions that may amend an imported image's config.

use std::collections::BTreeMap;

use berth_types::image::ContainerConfig;

use crate::{EngineError, Result};

/// Applies one `--change` line such as `CMD ["sh"]` or `ENV A=1 B=2` to `config`.
pub fn apply_change(config: &mut ContainerConfig, line: &str) -> Result<()> {
    let bad = || EngineError::InvalidChange(line.to_owned());
    let line = line.trim();
    let (instr, rest) = line.split_once(char::is_whitespace).ok_or_else(bad)?;
    let rest = rest.trim();
    match instr.to_ascii_uppercase().as_str() {
        "CMD" => config.cmd = Some(command(rest).ok_or_else(bad)?),
        "ENTRYPOINT" => config.entrypoint = Some(command(rest).ok_or_else(bad)?),
        "WORKDIR" => config.working_dir = Some(rest.to_owned()),
        "USER" => config.user = Some(rest.to_owned()),
        "STOPSIGNAL" => config.stop_signal = Some(rest.to_owned()),
        "ENV" => {
            let env = config.env.get_or_insert_with(Vec::new);
            for (k, v) in pairs(rest).ok_or_else(bad)? {
                env.retain(|e| e.split_once('=').map_or(e.as_str(), |(ek, _)| ek) != k);
                env.push(format!("{k}={v}"));
            }
        }
        "LABEL" => {
            let labels = config.labels.get_or_insert_with(BTreeMap::new);
            labels.extend(pairs(rest).ok_or_else(bad)?);
        }
        "EXPOSE" => {
            let ports = config.exposed_ports.get_or_insert_with(BTreeMap::new);
            for p in rest.split_whitespace() {
                let (num, proto) = p.split_once('/').unwrap_or((p, "tcp"));
                if num.parse::<u16>().is_err() || !matches!(proto, "tcp" | "udp" | "sctp") {
                    return Err(bad());
                }
                ports.insert(format!("{num}/{proto}"), serde_json::json!({}));
            }
        }
        "VOLUME" => {
            let vols = config.volumes.get_or_insert_with(BTreeMap::new);
            for v in command_json(rest)
                .unwrap_or_else(|| rest.split_whitespace().map(str::to_owned).collect())
            {
                vols.insert(v, serde_json::json!({}));
            }
        }
        _ => return Err(bad()),
    }
    Ok(())
}

fn command_json(rest: &str) -> Option<Vec<String>> {
    rest.starts_with('[')
        .then(|| serde_json::from_str::<Vec<String>>(rest).ok())
        .flatten()
}

/// Exec form (`["a","b"]`) as is; shell form wrapped in `/bin/sh -c`, as Docker does.
fn command(rest: &str) -> Option<Vec<String>> {
    if rest.starts_with('[') {
        return command_json(rest);
    }
    (!rest.is_empty()).then(|| vec!["/bin/sh".into(), "-c".into(), rest.to_owned()])
}

/// `K=V K2="v 2"` or the legacy single `K V`.
fn pairs(rest: &str) -> Option<Vec<(String, String)>> {
    if !rest.contains('=') {
        let (k, v) = rest.split_once(char::is_whitespace)?;
        return Some(vec![(k.to_owned(), v.trim().to_owned())]);
    }
    let mut out = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Some(out);
        }
        let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
        if key.is_empty() || key.contains(char::is_whitespace) {
            return None;
        }
        let mut value = String::new();
        let mut quote = None;
        while let Some(&c) = chars.peek() {
            chars.next();
            match (quote, c) {
                (None, '"' | '\'') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (None, c) if c.is_whitespace() => break,
                (_, '\\') => value.extend(chars.next()),
                (_, c) => value.push(c),
            }
        }
        if quote.is_some() {
            return None;
        }
        out.push((key, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_docker_changes() {
        let mut c = ContainerConfig::default();
        for line in [
            r#"CMD ["sh", "-c", "echo hi"]"#,
            "ENTRYPOINT /init",
            "ENV A=1 B=\"two words\"",
            "ENV A 3",
            "WORKDIR /srv",
            "USER 1000:1000",
            "EXPOSE 80 53/udp",
            "LABEL a=b",
        ] {
            apply_change(&mut c, line).unwrap();
        }
        assert_eq!(c.cmd.unwrap(), ["sh", "-c", "echo hi"]);
        assert_eq!(c.entrypoint.unwrap(), ["/bin/sh", "-c", "/init"]);
        assert_eq!(c.env.unwrap(), ["B=two words", "A=3"]);
        assert_eq!(c.working_dir.as_deref(), Some("/srv"));
        assert_eq!(c.user.as_deref(), Some("1000:1000"));
        assert!(c.exposed_ports.unwrap().contains_key("53/udp"));
        assert_eq!(c.labels.unwrap()["a"], "b");
    }

    #[test]
    fn refuses_bad_changes() {
        let mut c = ContainerConfig::default();
        for line in [
            "RUN rm -rf /",
            "CMD",
            "CMD [\"unterminated",
            "EXPOSE 99999",
            "ENV A=\"open",
            "FROM x",
        ] {
            assert!(apply_change(&mut c, line).is_err(), "{line}");
        }
    }
}
