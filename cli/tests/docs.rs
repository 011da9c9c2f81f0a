//! The user-facing documents say only what the repository holds.
//!
//! For the README, SECURITY.md, CONTRIBUTING.md, `docs/*.md` and
//! `kyverno/README.md`:
//! - every relative link resolves to a file or folder, and its `#anchor` to a
//!   heading of the target page;
//! - every repository path named in code (`scripts/fuzz.sh`, `k8s/overlays/local`)
//!   exists;
//! - every `cloudshop` subcommand named in code exists, and each `--flag`
//!   given to it is in that subcommand's `--help`;
//! - every option and area of `scripts/test.sh` that docs/testing.md lists is
//!   in the script;
//! - a measured figure has one home: each `<!-- figure: name -->` marker is
//!   in exactly one document, the README quotes no timings (they live in
//!   docs/testing.md and docs/benchmarks.md), and no document states the
//!   number of admission cases (the code's list is the count).
//!
//! CHANGELOG.md is left out: it records what was, including paths that no
//! longer exist.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

const DOCUMENTS: &[&str] = &["README.md", "SECURITY.md", "CONTRIBUTING.md", "kyverno/README.md"];

/// Paths the docs name that exist only once something ran: each with why.
const GENERATED: &[(&str, &str)] = &[
    ("fuzz/artifacts", "a crashing input, kept by scripts/fuzz.sh"),
    ("k8s/overlays/kind/release", "rendered by scripts/kind.sh"),
];

/// Folders at the top that hold only what runs make (git-ignored).
const UNTRACKED_TOP: &[&str] = &["target", "dist", ".cloudshop"];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_path_buf()
}

struct Document {
    path: String,
    text: String,
}

fn documents() -> Vec<Document> {
    let root = workspace();
    let mut paths: Vec<String> = DOCUMENTS.iter().map(|p| (*p).to_owned()).collect();
    let mut docs: Vec<String> = std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".md"))
        .map(|name| format!("docs/{name}"))
        .collect();
    docs.sort();
    paths.extend(docs);
    paths
        .into_iter()
        .map(|path| Document {
            text: std::fs::read_to_string(root.join(&path)).unwrap_or_else(|e| panic!("{path}: {e}")),
            path,
        })
        .collect()
}

/// Code in a document: fenced blocks (each line, `\` continuations joined)
/// and inline spans (which may wrap within a paragraph).
fn code(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut fenced = false;
    let mut pending = String::new();
    let mut paragraph = String::new();
    fn spans(paragraph: &mut String, out: &mut Vec<String>) {
        out.extend(paragraph.split('`').skip(1).step_by(2).map(str::to_owned));
        paragraph.clear();
    }
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            spans(&mut paragraph, &mut out);
            fenced = !fenced;
            continue;
        }
        if fenced {
            match line.strip_suffix('\\') {
                Some(head) => {
                    pending.push_str(head);
                    pending.push(' ');
                }
                None => {
                    pending.push_str(line);
                    out.push(std::mem::take(&mut pending));
                }
            }
        } else if line.trim().is_empty() {
            spans(&mut paragraph, &mut out);
        } else {
            paragraph.push_str(line);
            paragraph.push(' ');
        }
    }
    spans(&mut paragraph, &mut out);
    out
}

/// Shell commands in a piece of code: split at `&&`, `||`, `|`, `;`, and
/// cut at a `#` comment.
fn commands(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    for token in code.split_whitespace() {
        if token.starts_with('#') {
            break;
        }
        if matches!(token, "&&" | "||" | "|" | ";" | "&") {
            out.push(std::mem::take(&mut current));
            continue;
        }
        let token = token
            .trim_end_matches(';')
            .trim_matches(|c| c == '"' || c == '\'');
        current.push(token.to_owned());
    }
    out.push(current);
    out.retain(|c| !c.is_empty());
    out
}

/// GitHub's anchor for a heading.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(text: &str) -> BTreeSet<String> {
    let mut fenced = false;
    let mut out = BTreeSet::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced && line.starts_with('#') {
            out.insert(slug(line.trim_start_matches('#')));
        }
    }
    out
}

/// The `(target)` of every `[text](target)` outside code.
fn links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            rest = &rest[at + 2..];
            if let Some(end) = rest.find(')') {
                out.push(rest[..end].to_owned());
                rest = &rest[end..];
            }
        }
    }
    out
}

fn exists(doc: &str, path: &str) -> bool {
    let root = workspace();
    let here = root
        .join(doc)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or(root.clone());
    root.join(path).exists() || here.join(path).exists()
}

#[test]
fn every_link_resolves_and_every_anchor_is_a_heading() {
    let root = workspace();
    let mut broken = Vec::new();
    for doc in documents() {
        let here = root.join(&doc.path).parent().expect("folder").to_path_buf();
        for link in links(&doc.text) {
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            let (path, anchor) = link.split_once('#').unwrap_or((&link, ""));
            let target = if path.is_empty() {
                root.join(&doc.path)
            } else {
                here.join(path)
            };
            if !target.exists() {
                broken.push(format!("{}: ({link}): no such file", doc.path));
                continue;
            }
            if !anchor.is_empty() && target.extension().is_some_and(|e| e == "md") {
                let text = std::fs::read_to_string(&target).expect("linked page");
                if !anchors(&text).contains(anchor) {
                    broken.push(format!("{}: ({link}): no such heading", doc.path));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// A token that names a repository path: relative, with a `/`, below a
/// top-level entry of the repository, and no placeholder in it.
fn repository_path(token: &str, top: &BTreeSet<String>) -> Option<String> {
    let token = token.split('#').next()?;
    let token = token
        .trim_end_matches([',', '.', ':', ';', ')', '"', '\''])
        .trim_start_matches(['(', '"', '\'']);
    if token.starts_with('/') || token.starts_with("--") || !token.contains('/') {
        return None;
    }
    if token.contains(['<', '>', '*', '…', '$', '{', '}', '@', '=', ':', '?']) {
        return None;
    }
    let first = token.trim_start_matches("./").split('/').next()?;
    if !top.contains(first) || UNTRACKED_TOP.contains(&first) {
        return None;
    }
    Some(token.trim_end_matches('/').to_owned())
}

fn top_level() -> BTreeSet<String> {
    std::fs::read_dir(workspace())
        .expect("the workspace")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn every_repository_path_named_in_code_exists() {
    let top = top_level();
    let mut missing = BTreeSet::new();
    for doc in documents() {
        for piece in code(&doc.text) {
            for token in piece.split_whitespace() {
                let token = token.trim_matches(|c| c == '"' || c == '\'' || c == '`');
                let Some(path) = repository_path(token, &top) else {
                    continue;
                };
                if GENERATED
                    .iter()
                    .any(|(g, _)| path == *g || path.starts_with(&format!("{g}/")))
                {
                    continue;
                }
                if !exists(&doc.path, &path) {
                    missing.insert(format!("{}: `{path}`", doc.path));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "paths the docs name that do not exist:\n{}",
        missing.into_iter().collect::<Vec<_>>().join("\n")
    );
}

/// `cloudshop [sub…] --help`, cached.
struct Help {
    cache: HashMap<Vec<String>, String>,
}

impl Help {
    fn get(&mut self, path: &[String]) -> &str {
        self.cache.entry(path.to_vec()).or_insert_with(|| {
            let out = Command::new(env!("CARGO_BIN_EXE_cloudshop"))
                .args(path)
                .arg("--help")
                .output()
                .expect("cloudshop --help");
            assert!(
                out.status.success(),
                "cloudshop {} --help: {}",
                path.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        })
    }

    /// The subcommands a help text lists under `Commands:`.
    fn subcommands(&mut self, path: &[String]) -> BTreeSet<String> {
        let help = self.get(path);
        let Some((_, list)) = help.split_once("Commands:\n") else {
            return BTreeSet::new();
        };
        list.lines()
            .take_while(|l| l.starts_with("  "))
            .filter_map(|l| l.split_whitespace().next())
            .map(str::to_owned)
            .collect()
    }
}

fn has_flag(help: &str, flag: &str) -> bool {
    help.match_indices(flag).any(|(at, _)| {
        !help[at + flag.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    })
}

/// The `cloudshop` invocation in a command, if any: the words after
/// `cloudshop` (or after `--` in `cargo run … -p cloudshop … --`).
fn cloudshop_args(command: &[String]) -> Option<&[String]> {
    if let Some(at) = command.iter().position(|t| t == "-p")
        && command.get(at + 1).is_some_and(|p| p == "cloudshop")
        && command.first().is_some_and(|c| c == "cargo")
    {
        let dashes = command.iter().skip(at).position(|t| t == "--")? + at;
        return Some(&command[dashes + 1..]);
    }
    let at = command.iter().position(|t| t == "cloudshop")?;
    if at > 0 && command[at - 1] == "-p" {
        return None;
    }
    Some(&command[at + 1..])
}

#[test]
fn every_cloudshop_command_and_flag_named_exists() {
    let mut help = Help {
        cache: HashMap::new(),
    };
    let mut wrong = BTreeSet::new();
    for doc in documents() {
        for piece in code(&doc.text) {
            for command in commands(&piece) {
                let Some(args) = cloudshop_args(&command) else {
                    continue;
                };
                let mut path: Vec<String> = Vec::new();
                let mut flags = Vec::new();
                for arg in args {
                    if let Some(flag) = arg.strip_prefix("--") {
                        if !flag.is_empty() {
                            flags.push(format!("--{}", flag.split('=').next().unwrap_or(flag)));
                        }
                        continue;
                    }
                    if arg.contains(['<', '…', '$']) {
                        break; // a placeholder: `cloudshop <step> --help`
                    }
                    if flags.is_empty() && help.subcommands(&path).contains(arg.as_str()) {
                        path.push(arg.clone());
                    } else if flags.is_empty() && path.is_empty() {
                        wrong.insert(format!("{}: `cloudshop {arg}`: no such subcommand", doc.path));
                        break;
                    }
                }
                for flag in flags {
                    if flag != "--help" && !has_flag(help.get(&path), &flag) {
                        wrong.insert(format!(
                            "{}: `cloudshop {} {flag}`: no such option",
                            doc.path,
                            path.join(" ")
                        ));
                    }
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "cloudshop commands the docs name:\n{}",
        wrong.into_iter().collect::<Vec<_>>().join("\n")
    );
}

/// The first cell's code of each row of the table under `heading`.
fn first_column(text: &str, heading: &str) -> Vec<String> {
    let Some((_, section)) = text.split_once(&format!("\n## {heading}\n")) else {
        panic!("no section {heading}")
    };
    section
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .filter_map(|row| row.split('|').nth(1))
        .filter_map(|cell| cell.split('`').nth(1))
        .map(|c| c.split_whitespace().next().unwrap_or(c).to_owned())
        .collect()
}

#[test]
fn the_test_commands_options_and_areas_are_in_the_script() {
    let script = std::fs::read_to_string(workspace().join("scripts/test.sh")).expect("scripts/test.sh");
    let testing = std::fs::read_to_string(workspace().join("docs/testing.md")).expect("docs/testing.md");
    let options = first_column(&testing, "Options");
    let areas = first_column(&testing, "Areas");
    assert!(options.len() >= 5 && areas.len() >= 10, "{options:?} {areas:?}");
    let mut missing: Vec<String> = options
        .iter()
        .filter(|o| !has_flag(&script, o))
        .map(|o| format!("option {o}"))
        .collect();
    missing.extend(
        areas
            .iter()
            .filter(|a| !script.contains(a.as_str()))
            .map(|a| format!("area {a}")),
    );
    // `scripts/test.sh --flag` anywhere in the docs.
    for doc in documents() {
        for piece in code(&doc.text) {
            for command in commands(&piece) {
                let Some(at) = command.iter().position(|t| t == "scripts/test.sh") else {
                    continue;
                };
                for flag in command[at + 1..].iter().filter(|t| t.starts_with("--")) {
                    if !has_flag(&script, flag) {
                        missing.push(format!("{}: scripts/test.sh {flag}", doc.path));
                    }
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/testing.md names what scripts/test.sh lacks: {missing:?}"
    );
}

#[test]
fn each_measured_figure_has_one_home() {
    let docs = documents();
    let mut homes: HashMap<String, Vec<String>> = HashMap::new();
    for doc in &docs {
        for (at, _) in doc.text.match_indices("<!-- figure: ") {
            let rest = &doc.text[at + "<!-- figure: ".len()..];
            let name = rest.split_whitespace().next().unwrap_or_default().to_owned();
            homes.entry(name).or_default().push(doc.path.clone());
        }
    }
    let repeated: Vec<String> = homes
        .iter()
        .filter(|(_, places)| places.len() > 1)
        .map(|(name, places)| format!("{name}: {places:?}"))
        .collect();
    assert!(
        repeated.is_empty(),
        "figures with more than one home: {repeated:?}"
    );

    // The README links to the figures; it quotes no timing or rate.
    let readme = &docs.iter().find(|d| d.path == "README.md").expect("README").text;
    let mut timings = Vec::new();
    let words: Vec<&str> = readme.split_whitespace().collect();
    for pair in words.windows(2) {
        let number = pair[0].trim_start_matches(['(', '~']);
        let unit = pair[1].trim_end_matches([',', '.', ')', ';', ':']);
        let is_number =
            !number.is_empty() && number.chars().all(|c| c.is_ascii_digit() || c == ',' || c == '.');
        if is_number && ["s", "ms", "µs", "min", "minutes", "seconds", "hours", "req/s"].contains(&unit) {
            timings.push(format!("{} {}", pair[0], pair[1]));
        }
    }
    assert!(
        timings.is_empty(),
        "timings in the README (docs/testing.md is their home): {timings:?}"
    );

    // The admission cases are a list in cluster/src/admission.rs;
    // a count written in prose goes stale when the list grows.
    let mut counts = Vec::new();
    for doc in &docs {
        let words: Vec<&str> = doc.text.split_whitespace().collect();
        for w in words.windows(3) {
            let is_number = w[0].chars().all(|c| c.is_ascii_digit()) && !w[0].is_empty();
            if is_number && (w[1] == "cases" || (w[1] == "admission" && w[2].starts_with("cases"))) {
                counts.push(format!("{}: {} {} {}", doc.path, w[0], w[1], w[2]));
            }
        }
    }
    assert!(counts.is_empty(), "case counts in prose: {counts:?}");
}

#[test]
fn the_checks_find_what_they_look_for() {
    // The parsers above, on a sample: a check that parses nothing passes
    // vacuously, so each is shown to find its kind of claim.
    let sample = "See [a](docs/x.md#part) and `scripts/fuzz.sh`.\n```sh\ncargo run --release -p cloudshop -- cluster up --offline # note\nscripts/test.sh --only lint \\\n  --full\n```\n";
    assert_eq!(links(sample), ["docs/x.md#part"]);
    let pieces = code(sample);
    assert!(pieces.contains(&"scripts/fuzz.sh".to_owned()), "{pieces:?}");
    let commands: Vec<Vec<String>> = pieces.iter().flat_map(|p| commands(p)).collect();
    let cloudshop: Vec<&[String]> = commands.iter().filter_map(|c| cloudshop_args(c)).collect();
    assert_eq!(
        cloudshop,
        [&["cluster".to_owned(), "up".to_owned(), "--offline".to_owned()][..]]
    );
    assert!(
        commands.iter().any(|c| c.contains(&"--full".to_owned())),
        "{commands:?}"
    );
    assert_eq!(
        slug("What proves it (`cli/tests/up/observe.rs`)"),
        "what-proves-it-clitestsupobservers"
    );
    let top = top_level();
    assert_eq!(
        repository_path("k8s/overlays/local/", &top).as_deref(),
        Some("k8s/overlays/local")
    );
    assert_eq!(repository_path("ghcr.io/cloudshop/cloudshop/auth", &top), None);
    assert_eq!(repository_path("sbom/<service>.cdx.json", &top), None);
    assert!(has_flag("  --offline  Use", "--offline"));
    assert!(!has_flag("  --offline-db  Use", "--offline"));
}
