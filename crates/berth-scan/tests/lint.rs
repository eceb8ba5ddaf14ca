//! Each lint rule on a Dockerfile that trips it and one that does not, then ignore comments,
//! the config file and the image rule.

use berth_scan::lint::{Config, Finding, ImageFacts, Level, NoImages, RULES, lint};

fn run(text: &str, config: &Config, images: &dyn ImageFacts) -> Vec<Finding> {
    let df = berth_dockerfile::parse("Dockerfile", text).unwrap();
    lint(&df, text, config, images)
}

fn rules_of(text: &str) -> Vec<(&'static str, usize)> {
    run(text, &Config::default(), &NoImages)
        .into_iter()
        .map(|f| (f.rule, f.line))
        .collect()
}

/// (rule, a Dockerfile that trips it on the line given, one that does not).
const CASES: &[(&str, &str, usize, &str)] = &[
    (
        "DF001",
        "FROM debian\n",
        1,
        "FROM debian:12\nFROM scratch\nFROM $BASE\n",
    ),
    (
        "DF002",
        "FROM debian:latest\n",
        1,
        "FROM debian:12@sha256:abc\n",
    ),
    (
        "DF003",
        "FROM debian:12\nUSER app\nUSER root\n",
        3,
        "FROM debian:12\nUSER root\nUSER 1000\n",
    ),
    (
        "DF004",
        "FROM debian:12\nRUN apt-get install --no-install-recommends curl=8\n",
        2,
        "FROM debian:12\nRUN apt-get -qq install --no-install-recommends curl=8\n",
    ),
    (
        "DF005",
        "FROM debian:12\nRUN apt-get install -y curl=8\n",
        2,
        "FROM debian:12\nRUN apt-get install -y --no-install-recommends curl=8\n",
    ),
    (
        "DF006",
        "FROM debian:12\nRUN apt-get install -y --no-install-recommends curl\n",
        2,
        "FROM debian:12\nRUN apt-get install -y --no-install-recommends -t bookworm-backports curl=8 ./x.deb\n",
    ),
    (
        "DF007",
        "FROM debian:12\nRUN apt-get update && apt-get install -y --no-install-recommends curl=8\n",
        2,
        "FROM debian:12\nRUN apt-get update && apt-get install -y --no-install-recommends curl=8 && rm -rf /var/lib/apt/lists/*\n",
    ),
    (
        "DF008",
        "FROM alpine:3\nRUN apk add --no-cache curl\n",
        2,
        "FROM alpine:3\nRUN apk add --no-cache --virtual .deps curl=8.5-r0\n",
    ),
    (
        "DF009",
        "FROM alpine:3\nRUN apk add curl=8\n",
        2,
        "FROM alpine:3\nRUN apk --no-cache add curl=8\n",
    ),
    (
        "DF010",
        "FROM python:3\nRUN pip install --no-cache-dir flask\n",
        2,
        "FROM python:3\nRUN pip install --no-cache-dir flask==3.0 && pip install --no-cache-dir -r req.txt\n",
    ),
    (
        "DF011",
        "FROM python:3\nRUN pip install flask==3\n",
        2,
        "FROM python:3\nENV PIP_NO_CACHE_DIR=1\nRUN pip install flask==3\n",
    ),
    (
        "DF012",
        "FROM fedora:40\nRUN dnf install httpd-2.4 && dnf clean all\n",
        2,
        "FROM fedora:40\nRUN dnf install -y httpd-2.4 && dnf clean all\n",
    ),
    (
        "DF013",
        "FROM debian:12\nRUN cd /src && make\n",
        2,
        "FROM debian:12\nWORKDIR /src\nRUN make\n",
    ),
    (
        "DF014",
        "FROM debian:12\nWORKDIR app\n",
        2,
        "FROM debian:12\nWORKDIR /app\nWORKDIR $HOME\nWORKDIR C:\\\\app\n",
    ),
    (
        "DF015",
        "FROM debian:12\nADD app.py /app/\n",
        2,
        "FROM debian:12\nADD rootfs.tar.gz /\n",
    ),
    (
        "DF016",
        "FROM debian:12\nADD https://example.com/x.tgz /x\n",
        2,
        "FROM debian:12\nCOPY x.tgz /x\n",
    ),
    (
        "DF017",
        "FROM debian:12\nCMD [\"a\"]\nCMD [\"b\"]\n",
        3,
        "FROM debian:12\nCMD [\"a\"]\nFROM debian:12\nCMD [\"b\"]\n",
    ),
    (
        "DF018",
        "FROM debian:12\nENTRYPOINT [\"a\"]\nENTRYPOINT [\"b\"]\n",
        3,
        "FROM debian:12\nENTRYPOINT [\"a\"]\n",
    ),
    (
        "DF019",
        "FROM debian:12\nENTRYPOINT /bin/app --serve\n",
        2,
        "FROM debian:12\nENTRYPOINT [\"/bin/app\", \"--serve\"]\n",
    ),
    (
        "DF020",
        "FROM debian:12\nRUN sudo make install\n",
        2,
        "FROM debian:12\nRUN apt-get install -y --no-install-recommends sudo=1\n",
    ),
    (
        "DF021",
        "FROM debian:12\nRUN curl -fsSL https://x | sh\n",
        2,
        "FROM debian:12\nSHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]\nRUN curl -fsSL https://x | sh || true\n",
    ),
    (
        "DF022",
        "FROM debian:12 AS build\nCOPY --from=build /a /b\n",
        2,
        "FROM debian:12 AS build\nFROM debian:12\nCOPY --from=build /a /b\n",
    ),
    (
        "DF023",
        "FROM debian:12 AS a\nFROM debian:12 AS a\n",
        2,
        "FROM debian:12 AS a\nFROM debian:12 AS b\n",
    ),
    (
        "DF024",
        "FROM debian:12\nEXPOSE 80 70000\n",
        2,
        "FROM debian:12\nEXPOSE 80 443/tcp 8000-8010 $PORT\n",
    ),
    (
        "DF025",
        "FROM debian:12\nMAINTAINER me\n",
        2,
        "FROM debian:12\nLABEL org.opencontainers.image.authors=me\n",
    ),
    (
        "DF026",
        "FROM debian:12\nRUN apt install -y curl\n",
        2,
        "FROM debian:12\nRUN apt-cache policy curl\n",
    ),
    (
        "DF027",
        "FROM debian:12\nRUN useradd -u 1000000 app\n",
        2,
        "FROM debian:12\nRUN useradd -l -u 1000000 app && useradd -u 1000 other\n",
    ),
    (
        "DF028",
        "FROM debian:12\nRUN curl -o a https://x\nRUN wget -q https://y\n",
        3,
        "FROM debian:12\nRUN curl -o a https://x\nFROM debian:12\nRUN wget -q https://y\n",
    ),
    (
        "DF029",
        "FROM debian:12\nRUN chmod 777 /data\n",
        2,
        "FROM debian:12\nRUN chmod 755 /data\n",
    ),
    (
        "DF030",
        "FROM debian:12\nRUN mkdir /a\n# comment\nRUN mkdir /b\n",
        4,
        "FROM debian:12\nRUN mkdir /a && mkdir /c\nRUN mkdir /b\n",
    ),
    (
        "DF031",
        "FROM debian:12\nRUN wget https://x\n",
        2,
        "FROM debian:12\nRUN wget --progress=dot:giga https://x && wget -qO- https://y\n",
    ),
    (
        "DF032",
        "FROM debian:12\nUSER app\n",
        2,
        "FROM debian:12\nARG UID\nUSER 1000:1000\nUSER $UID\n",
    ),
    (
        "DF033",
        "FROM debian:12\nCOPY --from=builder /a /b\n",
        2,
        "FROM debian:12 AS builder\nFROM debian:12\nCOPY --from=builder /a /b\nCOPY --from=0 /a /c\nCOPY --from=nginx:1.27 /etc/nginx /etc/nginx\n",
    ),
    (
        "DF034",
        "FROM debian:12\nCOPY app.py app/\n",
        2,
        "FROM debian:12\nWORKDIR /srv\nCOPY app.py app/\n",
    ),
    (
        "DF035",
        "FROM golang:1.22\nRUN go install example.com/tool@latest\n",
        2,
        "FROM golang:1.22\nRUN go install example.com/tool@v1.2.3\n",
    ),
    (
        "DF036",
        "FROM debian:12 AS a\nFROM debian:12\nCOPY --from=a / /\n",
        3,
        "FROM debian:12 AS a\nFROM debian:12\nCOPY --from=a /usr/bin/x /usr/bin/x\n",
    ),
    (
        "DF037",
        "FROM fedora:40\nRUN dnf install -y httpd && dnf clean all\n",
        2,
        "FROM fedora:40\nRUN dnf install -y httpd-2.4.58 && dnf clean all\n",
    ),
    (
        "DF038",
        "FROM ruby:3\nRUN gem install rails bundler\n",
        2,
        "FROM ruby:3\nRUN gem install rails:7.1\n",
    ),
    (
        "DF039",
        "FROM --platform=$TARGETPLATFORM debian:12\n",
        1,
        "FROM --platform=$BUILDPLATFORM debian:12\n",
    ),
    (
        "DF040",
        "FROM centos:7\nRUN yum install -y httpd\n",
        2,
        "FROM centos:7\nRUN yum install -y httpd && yum clean all\n",
    ),
    (
        "DF041",
        "FROM fedora:40\nRUN dnf install -y httpd-2.4\n",
        2,
        "FROM fedora:40\nRUN dnf install -y httpd-2.4 && dnf clean all\n",
    ),
    (
        "DF100",
        "FROM debian:12\nENV DB_PASSWORD=hunter2\n",
        2,
        "FROM debian:12\nENV DB_PASSWORD_FILE=/run/secrets/db\nARG GITHUB_TOKEN\n",
    ),
    (
        "DF102",
        "FROM debian:12\nEXPOSE 80\n",
        1,
        "FROM debian:12\nEXPOSE 80\nHEALTHCHECK CMD [\"curl\", \"-f\", \"http://localhost/\"]\n",
    ),
    (
        "DF103",
        "FROM debian:12 AS build\nFROM debian:12\nRUN apt-get install -y --no-install-recommends gcc=12\n",
        3,
        "FROM debian:12 AS build\nRUN apt-get install -y --no-install-recommends gcc=12\nFROM debian:12\n",
    ),
];

#[test]
fn every_rule_trips_on_its_case_and_not_on_the_fixed_one() {
    for (rule, bad, line, good) in CASES {
        let found = rules_of(bad);
        assert!(
            found.contains(&(rule, *line)),
            "{rule} should fire on line {line} of:\n{bad}\nfound {found:?}"
        );
        let found = rules_of(good);
        assert!(
            !found.iter().any(|(r, _)| r == rule),
            "{rule} should not fire on:\n{good}\nfound {found:?}"
        );
    }
    // Every rule but the two that need outside knowledge has a case.
    for r in RULES {
        assert!(
            CASES.iter().any(|c| c.0 == r.id) || matches!(r.id, "DF101" | "DF104"),
            "{} has no case",
            r.id
        );
    }
}

#[test]
fn ignore_comments_and_config() {
    let text = "FROM debian\n# hadolint ignore=DL3008,DL3015\nRUN apt-get install -y curl\n# berth ignore=DF013\nRUN cd /x\nRUN cd /y\n";
    let found = rules_of(text);
    assert!(
        !found.iter().any(|(r, _)| *r == "DF006" || *r == "DF005"),
        "{found:?}"
    );
    assert!(!found.contains(&("DF013", 5)));
    assert!(found.contains(&("DF013", 6)), "only the next instruction");
    assert!(found.contains(&("DF001", 1)));
    let global = format!("# berth global ignore=DF001\n{text}");
    assert!(!rules_of(&global).iter().any(|(r, _)| *r == "DF001"));

    let (config, threshold) = Config::parse(
        "ignore = [\"DL3006\"]\ntrusted-registries = [\"quay.io\"]\nfailure-threshold = \"warning\"\n[severity]\nDF013 = \"error\"\n",
    )
    .unwrap();
    assert_eq!(threshold, Some(Level::Warning));
    let found = run("FROM debian\nRUN cd /x\n", &config, &NoImages);
    assert!(
        !found.iter().any(|f| f.rule == "DF001"),
        "ignored by the config"
    );
    let cd = found.iter().find(|f| f.rule == "DF013").unwrap();
    assert_eq!(cd.level, Level::Error);
    assert_eq!(cd.hadolint, Some("DL3003"));
    assert!(
        found.iter().any(|f| f.rule == "DF104"),
        "docker.io is not trusted here"
    );
    for bad in [
        "ignore = [\"DF999\"]",
        "[severity]\nDF001 = \"loud\"",
        "colour = 1",
        "ignore = ",
    ] {
        assert!(Config::parse(bad).is_err(), "{bad}");
    }
}

struct Critical;

impl ImageFacts for Critical {
    fn critical(&self, image: &str) -> Option<String> {
        (image == "vulnerable:1").then(|| "2 critical vulnerabilities".into())
    }
}

#[test]
fn a_base_image_rated_critical_is_reported() {
    let found = run(
        "FROM vulnerable:1\nFROM safe:1\n",
        &Config::default(),
        &Critical,
    );
    let hits: Vec<_> = found.iter().filter(|f| f.rule == "DF101").collect();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].line, 1);
    assert!(hits[0].message.contains("2 critical"));
}

#[test]
fn the_dockerfile_fuzz_corpus_lints_without_panicking() {
    let dir =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/dockerfile");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        if let Ok(df) = berth_dockerfile::parse_bytes("fuzz", &bytes) {
            let text = String::from_utf8_lossy(&bytes);
            let _ = lint(&df, &text, &Config::default(), &NoImages);
            n += 1;
        }
    }
    assert!(n > 0);
}
