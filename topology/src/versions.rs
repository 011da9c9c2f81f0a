//! The pinned tool versions, whose one home is `tools/versions.env` (the
//! scripts `source` it). The file is read at compile time, so a constant here
//! cannot drift from what the scripts install, and a name missing from the
//! file fails the build. The tests check that the workflows, which cannot
//! source it, pin the same versions, and that no script or Rust file spells
//! a pinned version out again.

/// The file as compiled in: `NAME=value` lines, comments and blank lines.
pub const FILE: &str = include_str!("../../tools/versions.env");

/// kwok, as `MODULE@VERSION` (`cloudshop cluster` reads its stages from the
/// module cache).
pub const KWOK: &str = pinned("KWOK");
/// Kyverno, as `MODULE@VERSION` (`cloudshop cluster` reads its CRDs from the
/// module cache).
pub const KYVERNO: &str = pinned("KYVERNO");
/// CoreDNS, as `MODULE@VERSION`: `cloudshop cluster up --node real` tags
/// its image with the version.
pub const COREDNS: &str = pinned("COREDNS");
/// Traefik, as `MODULE@VERSION`: `cloudshop cluster up --node real` tags
/// its image with the version.
pub const TRAEFIK: &str = pinned("TRAEFIK");
/// Prometheus (and its promtool), as `MODULE@VERSION`: `cloudshop up
/// --observe` runs its `prometheus`.
pub const PROMETHEUS: &str = pinned("PROMETHEUS");
/// prometheus-operator, as `MODULE@VERSION`: `cloudshop cluster up` applies
/// the ServiceMonitor and PrometheusRule CRDs from its module.
pub const PROMETHEUS_OPERATOR: &str = pinned("PROMETHEUS_OPERATOR");
/// kube-state-metrics, as `MODULE@VERSION`: `cloudshop cluster up` tags
/// its image with the version.
pub const KUBE_STATE_METRICS: &str = pinned("KUBE_STATE_METRICS");
/// Alertmanager, as `MODULE@VERSION`: `cloudshop cluster up` tags its
/// image with the version.
pub const ALERTMANAGER: &str = pinned("ALERTMANAGER");
/// Argo CD, as `MODULE@VERSION`: `cloudshop cluster gitops` applies its
/// CRDs from its module.
pub const ARGOCD: &str = pinned("ARGOCD");
/// trivy, as `MODULE@VERSION`.
pub const TRIVY: &str = pinned("TRIVY");
/// trivy's version as it prints it (`Version: 0.…`, no `v`).
pub const TRIVY_VERSION: &str = bare_version(TRIVY);

/// Every `(NAME, value)` pair of the file, in its order.
pub fn all() -> impl Iterator<Item = (&'static str, &'static str)> {
    FILE.lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .filter_map(|line| line.split_once('='))
}

/// The value of `NAME=` in [`FILE`]; a compile error when there is none (the
/// constants above are evaluated at compile time).
const fn pinned(name: &str) -> &'static str {
    let file = FILE.as_bytes();
    let name = name.as_bytes();
    let mut start = 0;
    while start < file.len() {
        let mut end = start;
        while end < file.len() && file[end] != b'\n' {
            end += 1;
        }
        if end - start > name.len() && file[start + name.len()] == b'=' && at(file, start, name) {
            let (_, rest) = file.split_at(start + name.len() + 1);
            let (value, _) = rest.split_at(end - start - name.len() - 1);
            return match std::str::from_utf8(value) {
                Ok(value) => value,
                Err(_) => panic!("tools/versions.env is not UTF-8"),
            };
        }
        start = end + 1;
    }
    panic!("tools/versions.env does not pin a name this module reads")
}

/// Whether `file` has `name` at `start`.
const fn at(file: &[u8], start: usize, name: &[u8]) -> bool {
    let mut i = 0;
    while i < name.len() {
        if file[start + i] != name[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// `0.74.0` of `module@v0.74.0`.
const fn bare_version(module: &'static str) -> &'static str {
    let bytes = module.as_bytes();
    let mut i = 0;
    while i < bytes.len() && bytes[i] != b'@' {
        i += 1;
    }
    if i + 1 < bytes.len() && bytes[i + 1] == b'v' {
        i += 1;
    }
    let (_, version) = bytes.split_at(i + 1);
    match std::str::from_utf8(version) {
        Ok(version) => version,
        Err(_) => panic!("tools/versions.env is not UTF-8"),
    }
}

/// The version part of a pin: after `@` for a Go module, else all of it.
pub fn version(value: &str) -> &str {
    value.split_once('@').map_or(value, |(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    /// The pin in `tools/versions.env` for one `go install`, `cargo install`
    /// or `pip install` argument of a workflow, and the version it asks for.
    fn pin_for(argument: &str, go: bool) -> Option<(&'static str, &str)> {
        if go {
            let (package, asked) = argument.split_once('@')?;
            // The longest module that the package is in.
            let (name, _) = all()
                .filter_map(|(name, value)| value.split_once('@').map(|(module, _)| (name, module)))
                .filter(|(_, module)| package == *module || package.starts_with(&format!("{module}/")))
                .max_by_key(|(_, module)| module.len())?;
            return Some((name, asked));
        }
        let (tool, asked) = argument.split_once("==").or_else(|| argument.split_once('@'))?;
        let wanted = tool.to_ascii_uppercase().replace('-', "_");
        let (name, _) = all().find(|(name, _)| *name == wanted)?;
        Some((name, asked))
    }

    #[test]
    fn the_constants_come_from_the_file() {
        let get = |wanted: &str| all().find(|(name, _)| *name == wanted).map(|(_, v)| v);
        assert_eq!(get("KWOK"), Some(KWOK));
        assert_eq!(get("KYVERNO"), Some(KYVERNO));
        assert_eq!(TRIVY_VERSION, version(TRIVY).trim_start_matches('v'));
        assert!(KWOK.starts_with("sigs.k8s.io/kwok@v"), "{KWOK}");
        assert!(
            !TRIVY_VERSION.starts_with('v') && TRIVY_VERSION.contains('.'),
            "{TRIVY_VERSION}"
        );
    }

    #[test]
    fn every_line_is_a_comment_a_blank_or_a_plain_assignment() {
        for line in FILE.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
            let (name, value) = line
                .split_once('=')
                .unwrap_or_else(|| panic!("not NAME=value: {line}"));
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'),
                "{line}"
            );
            // Sourced by bash: no quoting, spaces or expansion to go wrong.
            assert!(
                !value.is_empty() && !value.contains(|c: char| c.is_whitespace() || "\"'$`\\#;".contains(c)),
                "{line}"
            );
        }
        let mut names: Vec<_> = all().map(|(name, _)| name).collect();
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count, "a name is pinned twice");
    }

    #[test]
    fn every_workflow_installs_the_pinned_versions() {
        let mut checked = 0;
        let dir = root().join(".github/workflows");
        for entry in std::fs::read_dir(&dir).expect("the workflows folder") {
            let path = entry.expect("a workflow").path();
            if path.extension().is_none_or(|ext| ext != "yml") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("a workflow");
            for line in text.lines() {
                // `cargo install` before `go install`, which it contains.
                let Some((installer, rest)) = ["cargo install", "pip\" install", "pip install", "go install"]
                    .iter()
                    .find_map(|installer| line.split_once(installer).map(|(_, rest)| (*installer, rest)))
                else {
                    continue;
                };
                let rest = rest.split(" #").next().unwrap_or(rest);
                for argument in rest.split_whitespace().filter(|a| !a.starts_with('-')) {
                    if !argument.contains('@') && !argument.contains("==") {
                        continue;
                    }
                    let (name, asked) = pin_for(argument, installer == "go install").unwrap_or_else(|| {
                        panic!("{}: {argument} is not in tools/versions.env", path.display())
                    });
                    let pinned = all().find(|(n, _)| *n == name).map(|(_, v)| version(v));
                    assert_eq!(Some(asked), pinned, "{}: {argument} ({name})", path.display());
                    checked += 1;
                }
            }
        }
        // cosign twice and trivy in release.yml, the cargo and pip tools.
        assert!(
            checked >= 10,
            "only {checked} pinned installs found in the workflows"
        );
    }

    /// What would be a second home for a pin: the version itself in a
    /// script; `MODULE@VERSION`, `tool@version`, `tool==version` or a string
    /// that is just the version in Rust.
    fn repeats(text: &str, in_script: bool) -> Vec<String> {
        let mut found = Vec::new();
        for (name, value) in all() {
            let bare = version(value).trim_start_matches('v');
            let tool = name.to_ascii_lowercase().replace('_', "-");
            let needles: Vec<String> = if in_script {
                vec![bare.to_owned()]
            } else if value.contains('@') {
                vec![
                    value.to_owned(),
                    format!("\"{}\"", version(value)),
                    format!("\"{bare}\""),
                ]
            } else {
                vec![format!("{tool}@{value}"), format!("{tool}=={value}")]
            };
            for needle in needles {
                let hit = text.match_indices(&needle).any(|(at, _)| {
                    let before = text[..at].chars().next_back();
                    let after = text[at + needle.len()..].chars().next();
                    // A whole version: 1.6.0 is not in 11.6.0 or 1.6.01.
                    !before.is_some_and(|c| c.is_ascii_digit() || c == '.')
                        && !after.is_some_and(|c| c.is_ascii_digit() || c == '.')
                });
                if hit {
                    found.push(format!("{name} ({needle})"));
                }
            }
        }
        found
    }

    fn files(dir: &Path, extension: &str, into: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if path.is_dir() {
                if !name.starts_with('.') && name != "target" && name != "node_modules" {
                    files(&path, extension, into);
                }
            } else if path.extension().is_some_and(|ext| ext == extension) {
                into.push(path);
            }
        }
    }

    #[test]
    fn no_script_or_rust_file_repeats_a_pinned_version() {
        let root = root();
        let mut scripts = Vec::new();
        files(&root.join("scripts"), "sh", &mut scripts);
        let mut sources = Vec::new();
        files(&root, "rs", &mut sources);
        assert!(scripts.len() > 3 && sources.len() > 50, "{scripts:?}");
        let mut repeated = Vec::new();
        for (path, in_script) in scripts
            .iter()
            .map(|p| (p, true))
            .chain(sources.iter().map(|p| (p, false)))
        {
            let text = std::fs::read_to_string(path).expect("a source file");
            for hit in repeats(&text, in_script) {
                repeated.push(format!(
                    "{}: {hit}",
                    path.strip_prefix(&root).unwrap_or(path).display()
                ));
            }
        }
        assert!(
            repeated.is_empty(),
            "pinned in tools/versions.env, repeated:\n{}",
            repeated.join("\n")
        );
    }

    /// The schema generator (tools/schemas) names the module it reads
    /// Kyverno's CRDs from: that of the Kyverno the tests run. Its Kubernetes
    /// API schemas follow the Kind node's Kubernetes, not the control plane
    /// that scripts/cluster-tools.sh builds, so they are not compared.
    #[test]
    fn the_python_tools_read_kyverno_at_its_pin() {
        let mut sources = Vec::new();
        files(&root().join("tools"), "py", &mut sources);
        let (module, _) = KYVERNO.split_once('@').unwrap_or_default();
        let prefix = format!("{module}@");
        let mut checked = 0;
        for path in sources {
            let text = std::fs::read_to_string(&path).expect("a Python file");
            for (at, _) in text.match_indices(&prefix) {
                let named = text[at..]
                    .split(|c: char| c == '"' || c == '\'' || c.is_whitespace())
                    .next();
                assert_eq!(named, Some(KYVERNO), "{}", path.display());
                checked += 1;
            }
        }
        assert!(checked > 0, "no Python file names {prefix}");
    }

    #[test]
    fn the_go_tool_modules_require_the_pinned_versions() {
        let mut checked = 0;
        for (name, value) in all() {
            let Some((module, pinned)) = value.split_once('@') else {
                continue;
            };
            // tools/kyverno builds KYVERNO; other modules it needs are its own business.
            let dir = root().join("tools").join(name.to_ascii_lowercase());
            let Ok(go_mod) = std::fs::read_to_string(dir.join("go.mod")) else {
                continue;
            };
            {
                let required = go_mod.lines().find_map(|line| {
                    let mut words = line.trim().trim_start_matches("require ").split_whitespace();
                    (words.next() == Some(module)).then(|| words.next()).flatten()
                });
                if let Some(required) = required {
                    assert_eq!(
                        required,
                        pinned,
                        "{}/go.mod requires {module} ({name})",
                        dir.display()
                    );
                    checked += 1;
                }
            }
        }
        // Kubernetes, etcd, Kyverno and Traefik.
        assert!(checked >= 4, "only {checked} go.mod requirements checked");
    }

    #[test]
    fn the_check_finds_a_repeat_and_ignores_a_longer_version() {
        let (_, kyverno_version) = KYVERNO.split_once('@').unwrap_or_default();
        assert!(!repeats(&format!("x={kyverno_version}"), true).is_empty());
        assert!(!repeats(&format!("const K: &str = \"{KYVERNO}\";"), false).is_empty());
        assert!(repeats(&format!("x={kyverno_version}1"), true).is_empty());
        assert!(repeats("source tools/versions.env", true).is_empty());
    }
}
