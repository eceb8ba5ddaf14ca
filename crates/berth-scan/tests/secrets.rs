//! Secret scanning: each kind of credential is found with its layer, path and line, a deleted
//! file's secret is still reported, and nothing is ever shown unredacted.

use berth_scan::inventory::{Collector, Inventory};
use berth_scan::secrets::scan_config;

mod common;

fn layer(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let borrowed: Vec<(&str, &[u8])> = files.iter().map(|(p, d)| (*p, &d[..])).collect();
    common::layer(&borrowed)
}

fn scan(layers: &[Vec<u8>]) -> Inventory {
    let mut c = Collector::new().with_secrets();
    for (i, l) in layers.iter().enumerate() {
        c.add_layer(&format!("sha256:{i}"), None, &l[..]);
    }
    c.finish()
}

/// Test credentials, assembled at run time so that no complete one is written in the source.
struct Fake {
    aws_id: String,
    aws_secret: String,
    github: String,
    gitlab: String,
    slack: String,
    stripe: String,
}

fn fake() -> Fake {
    Fake {
        aws_id: format!("AKIA{}", "IOSFODNN7EXAMPLE"),
        aws_secret: format!("wJalrXUtnFEMI/K7MDENG/{}", "bPxRfiCYEXAMPLEKEY"),
        github: format!("ghp_{}", "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"),
        gitlab: format!("glpat-{}", "x1y2z3A4B5C6D7E8F9G0"),
        slack: format!("xoxb-{}", "1234567890-abcdefghijkl"),
        stripe: format!("sk_{}_{}", "live", "4eC39HqLyjWDarjtT1zdp7dc"),
    }
}

#[test]
fn every_kind_is_found_with_its_layer_and_line() {
    let f = fake();
    let pem = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
    let gcp = r#"{"type": "service_account", "project_id": "p", "private_key": "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"}"#;
    let base = layer(&[
        ("root/.ssh/id_ed25519", pem.into()),
        (
            "app/config.yml",
            format!(
                "region: x\naws_access_key_id: {}\naws_secret_access_key: {}\n",
                f.aws_id, f.aws_secret
            )
            .into(),
        ),
        ("app/gcp.json", gcp.into()),
        (
            "app/azure.txt",
            format!(
                "DefaultEndpointsProtocol=https;AccountName=a;AccountKey={}==\n",
                "Q".repeat(86)
            )
            .into(),
        ),
        (
            "app/tokens.sh",
            format!(
                "GH={}\nGL={}\nSLACK={}\nSTRIPE={}\n",
                f.github, f.gitlab, f.slack, f.stripe
            )
            .into(),
        ),
        (
            "home/u/key.ppk",
            b"PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nPrivate-Lines: 1\nAAAA\n"
                .to_vec(),
        ),
        (
            "srv/.env",
            b"DEBUG=1\nDB_PASSWORD=hunter2hunter2\nAPI_TOKEN=${FROM_ENV}\n".to_vec(),
        ),
        (
            "home/u/.npmrc",
            b"//registry.npmjs.org/:_authToken=npm_abcdefabcdefabcdef\n".to_vec(),
        ),
        (
            "home/u/.pypirc",
            b"[pypi]\nusername = __token__\npassword = pypi-AgEIcHlwaS5vcmc\n".to_vec(),
        ),
        (
            "root/.docker/config.json",
            br#"{"auths":{"r.example":{"auth":"dXNlcjpwYXNz"}}}"#.to_vec(),
        ),
        (
            "srv/www/.htpasswd",
            b"admin:$apr1$abcdefgh$0123456789abcdefghijkl\n".to_vec(),
        ),
        (
            "etc/shadow",
            b"root:$6$saltsalt$0123456789abcdefghijklmnopqrstuvwxyz:19000:0:99999:7:::\n".to_vec(),
        ),
        ("usr/lib/python3/test/keys/server.pem", pem.into()),
        (
            "bin/tool",
            [b"\0ELF".as_slice(), f.github.as_bytes()].concat(),
        ),
    ]);
    let later = layer(&[("root/.ssh/.wh.id_ed25519", Vec::new())]);
    let inv = scan(&[base, later]);
    let mut got: Vec<(&str, &str, usize, bool)> = inv
        .secrets
        .iter()
        .map(|s| (s.rule.as_str(), s.path.as_str(), s.line, s.deleted))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("aws-access-key-id", "app/config.yml", 2, false),
            ("aws-secret-access-key", "app/config.yml", 3, false),
            ("azure-storage-key", "app/azure.txt", 1, false),
            ("docker-config-auth", "root/.docker/config.json", 1, false),
            ("dotenv-secret", "srv/.env", 2, false),
            ("gcp-service-account", "app/gcp.json", 1, false),
            ("github-token", "app/tokens.sh", 1, false),
            ("gitlab-token", "app/tokens.sh", 2, false),
            ("npmrc-token", "home/u/.npmrc", 1, false),
            ("password-hash", "srv/www/.htpasswd", 1, false),
            ("private-key", "app/gcp.json", 1, false),
            ("private-key", "home/u/key.ppk", 1, false),
            ("private-key", "root/.ssh/id_ed25519", 1, true),
            ("pypirc-password", "home/u/.pypirc", 3, false),
            ("slack-token", "app/tokens.sh", 3, false),
            ("stripe-key", "app/tokens.sh", 4, false),
        ],
        "shadow in /etc/shadow, test data and binaries are not reported"
    );
    assert!(inv.secrets.iter().all(|s| s.layer == Some(0)));
    let shown = serde_json::to_string(&inv.secrets).unwrap();
    for secret in [
        &f.aws_id,
        &f.aws_secret,
        &f.github,
        &f.gitlab,
        &f.slack,
        &f.stripe,
        &"hunter2hunter2".to_string(),
    ] {
        assert!(
            !shown.contains(secret.as_str()),
            "{secret} appears unredacted"
        );
        assert!(!shown.contains(&secret[4..]), "{secret}'s tail appears");
    }
    assert!(shown.contains("AKIA****"), "{shown}");
}

#[test]
fn an_image_without_secrets_reports_none() {
    let inv = scan(&[layer(&[
        ("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n".to_vec()),
        (
            "etc/ssh/ssh_host_ed25519_key.pub",
            b"ssh-ed25519 AAAAC3Nza host\n".to_vec(),
        ),
        (
            "app/.env",
            b"PORT=8080\nPASSWORD_FILE=/run/secrets/db\nTOKEN=\n".to_vec(),
        ),
        (
            "app/readme.md",
            b"Set AWS_SECRET_ACCESS_KEY in the environment; see AKIA keys docs.\n".to_vec(),
        ),
    ])]);
    assert_eq!(inv.secrets, []);
}

#[test]
fn the_config_is_searched_too() {
    let f = fake();
    let env = vec![
        "PATH=/usr/bin".to_string(),
        "GPG_KEY=A035C8C19219BA821ECEA86B64E628F8D684696D".to_string(),
        "DB_PASSWORD=s3cr3t-value".to_string(),
        format!("GITHUB={}", f.github),
    ];
    let labels = vec![("maintainer".to_string(), "x@example.com".to_string())];
    let history = vec![
        Some("/bin/sh -c #(nop) ADD file:abc in /".to_string()),
        Some("|1 NPM_TOKEN=npm_abcdef0123 /bin/sh -c npm ci".to_string()),
        Some(format!(
            "/bin/sh -c curl -H 'Authorization: token {}' x",
            f.github
        )),
    ];
    let found = scan_config(&env, &labels, &history);
    let paths: Vec<(&str, &str)> = found
        .iter()
        .map(|s| (s.rule.as_str(), s.path.as_str()))
        .collect();
    assert_eq!(
        paths,
        [
            ("config-secret", "config:Env DB_PASSWORD"),
            ("github-token", "config:Env GITHUB"),
            ("config-secret", "history[1] NPM_TOKEN"),
            ("github-token", "history[2]"),
        ]
    );
    assert!(
        found
            .iter()
            .all(|s| !s.redacted.contains("s3cr3t-value") && s.redacted.contains('*'))
    );
}
