//! OpenVEX (v0.2.0) per image: for every RustSec vulnerability advisory that
//! affects a crate version in `Cargo.lock` (what `cargo deny`, the gate,
//! checks), whether this image is affected. An image is its binary:
//! - not in the binary's own dependency list (embedded by cargo-auditable):
//!   `not_affected`, `component_not_present`;
//! - in that list but not compiled in: also `not_affected`. cargo-auditable
//!   takes the list from `cargo metadata`, whose feature resolution is
//!   resolver 1's and names more than cargo (resolver 2) builds
//!   (rust-secure-code/cargo-auditable#126): every service's list names `rsa`
//!   (through `sqlx` → `sqlx-mysql`), which `cargo tree -p <service> --target
//!   <target> -e normal` — what cargo compiles — does not have; scanners
//!   reading the list (Trivy, syft) report it, and this statement says why it
//!   does not apply;
//! - in both: `affected`, with the reason `deny.toml` gives for letting it
//!   through.
//!
//! The document (`@context` [`OPENVEX_CONTEXT`], OpenVEX v0.2.0) is attested
//! like the SBOM under the predicate type [`OPENVEX`], `https://openvex.dev/ns`:
//! what cosign's `--type openvex` names and looks for (an attestation typed
//! `…/ns/v0.2.0` is one `cosign verify-attestation --type openvex` does not
//! find), so a scanner given the image (Trivy's `--vex`) or a person can tell
//! the findings that matter from those that do not.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context, bail};
use semver::{Version, VersionReq};
use serde_json::{Value, json};

/// The attestation's predicate type (cosign's `openvex`).
pub const OPENVEX: &str = "https://openvex.dev/ns";

/// The document's `@context`: OpenVEX v0.2.0.
pub const OPENVEX_CONTEXT: &str = "https://openvex.dev/ns/v0.2.0";

/// One RustSec vulnerability advisory, as far as VEX needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Advisory {
    pub id: String,
    pub package: String,
    pub title: String,
    pub aliases: Vec<String>,
    patched: Vec<VersionReq>,
    unaffected: Vec<VersionReq>,
}

impl Advisory {
    /// Whether `version` of the package is vulnerable: neither patched nor
    /// unaffected.
    pub fn affects(&self, version: &Version) -> bool {
        !self
            .patched
            .iter()
            .chain(&self.unaffected)
            .any(|req| req.matches(version))
    }

    /// Parses one advisory file (`crates/<name>/RUSTSEC-….md`: a TOML block
    /// between ```` ```toml ```` and ```` ``` ````, then the description,
    /// whose first heading is the title). `None` for what VEX does not
    /// cover: informational notices (unmaintained, unsound) and withdrawn
    /// advisories.
    pub fn parse(text: &str) -> anyhow::Result<Option<Self>> {
        let body = text
            .trim_start()
            .strip_prefix("```toml")
            .context("no ```toml block at the start")?;
        let (front, rest) = body
            .split_once("\n```")
            .context("the ```toml block is not closed")?;
        let front: toml::Value = toml::from_str(front).context("the advisory's TOML")?;
        let advisory = front.get("advisory").context("no [advisory] table")?;
        let text_of = |key: &str| advisory.get(key).and_then(toml::Value::as_str);
        if advisory.get("informational").is_some() || advisory.get("withdrawn").is_some() {
            return Ok(None);
        }
        let requirements = |key: &str| -> anyhow::Result<Vec<VersionReq>> {
            front
                .get("versions")
                .and_then(|v| v.get(key))
                .and_then(toml::Value::as_array)
                .into_iter()
                .flatten()
                .map(|req| {
                    let req = req
                        .as_str()
                        .context("a version requirement that is not a string")?;
                    VersionReq::parse(req).with_context(|| format!("version requirement {req:?}"))
                })
                .collect()
        };
        let title = rest
            .lines()
            .find_map(|line| line.strip_prefix("# "))
            .unwrap_or_default()
            .trim()
            .to_owned();
        Ok(Some(Self {
            id: text_of("id").context("no advisory id")?.to_owned(),
            package: text_of("package").context("no package")?.to_owned(),
            title,
            aliases: advisory
                .get("aliases")
                .and_then(toml::Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|a| a.as_str().map(str::to_owned))
                .collect(),
            patched: requirements("patched")?,
            unaffected: requirements("unaffected")?,
        }))
    }
}

/// The vulnerability advisories of the RustSec database at `db` (its
/// `crates/` folder) for the crates named in `packages`.
pub fn load(db: &Path, packages: &BTreeSet<String>) -> anyhow::Result<Vec<Advisory>> {
    let crates = db.join("crates");
    if !crates.is_dir() {
        bail!(
            "no RustSec advisory database at {} (scripts/setup-advisory-db.sh installs the snapshot; \
             `cargo deny fetch` the live one)",
            db.display()
        );
    }
    let mut advisories = Vec::new();
    for package in packages {
        let dir = crates.join(package);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
        files.sort();
        for file in files.iter().filter(|f| f.extension().is_some_and(|e| e == "md")) {
            let text = std::fs::read_to_string(file)?;
            if let Some(advisory) =
                Advisory::parse(&text).with_context(|| format!("reading {}", file.display()))?
            {
                advisories.push(advisory);
            }
        }
    }
    Ok(advisories)
}

/// Every `(name, version)` in a `Cargo.lock`.
pub fn lock_crates(lock: &str) -> anyhow::Result<BTreeSet<(String, String)>> {
    let lock: toml::Value = toml::from_str(lock).context("Cargo.lock is not TOML")?;
    Ok(lock
        .get("package")
        .and_then(toml::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| {
            Some((
                p.get("name")?.as_str()?.to_owned(),
                p.get("version")?.as_str()?.to_owned(),
            ))
        })
        .collect())
}

/// Each advisory with the crate versions of the lock file it affects
/// (advisories affecting none left out).
pub fn findings(advisories: &[Advisory], lock: &BTreeSet<(String, String)>) -> Vec<(Advisory, Vec<String>)> {
    advisories
        .iter()
        .filter_map(|advisory| {
            let versions: Vec<String> = lock
                .iter()
                .filter(|(name, version)| {
                    *name == advisory.package && Version::parse(version).is_ok_and(|v| advisory.affects(&v))
                })
                .map(|(_, version)| version.clone())
                .collect();
            (!versions.is_empty()).then(|| (advisory.clone(), versions))
        })
        .collect()
}

/// The image a document speaks of.
#[derive(Debug, Clone)]
pub struct Product<'a> {
    /// `127.0.0.1:5000/cloudshop/orders`.
    pub repository: &'a str,
    /// `sha256:…`.
    pub digest: &'a str,
    /// The crates its binaries' cargo-auditable data lists (the index's:
    /// every platform's).
    pub listed: &'a BTreeSet<(String, String)>,
    /// The crates cargo compiles for them (`cargo tree -e normal`).
    pub compiled: &'a BTreeSet<(String, String)>,
}

/// The `(name, version)` of every crate `cargo tree` prints with
/// `--prefix none --format "{p}"` (`rsa v0.9.10`, `cloudshop-orders v0.1.0
/// (/path)`, a repeated one with ` (*)`).
pub fn tree_crates(output: &str) -> BTreeSet<(String, String)> {
    output
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let name = words.next()?;
            let version = words.next()?.strip_prefix('v')?;
            Some((name.to_owned(), version.to_owned()))
        })
        .collect()
}

/// What cargo compiles for `package` on `target` (resolver 2: normal
/// dependencies, this target's features), from `cargo tree` in `root`.
pub fn compiled_crates(
    root: &Path,
    package: &str,
    target: &str,
) -> anyhow::Result<BTreeSet<(String, String)>> {
    let out = cloudshop_topology::tools::command(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(root)
        .args([
            "tree", "--locked", "-p", package, "--target", target, "-e", "normal", "--prefix", "none",
            "--format", "{p}",
        ])
        .output()
        .context("running cargo tree")?;
    if !out.status.success() {
        bail!(
            "cargo tree -p {package} --target {target} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(tree_crates(&String::from_utf8_lossy(&out.stdout)))
}

/// The OpenVEX document for `product`: one statement per finding and
/// affected crate version. `ignored` maps advisory ids to the reason
/// `deny.toml` lets them through (used as the action of an `affected`
/// statement); `timestamp` is the build's (so the document is reproducible).
pub fn document(
    product: &Product<'_>,
    findings: &[(Advisory, Vec<String>)],
    ignored: &BTreeMap<String, String>,
    timestamp: &str,
) -> Value {
    let image = image_purl(product.repository, product.digest);
    let image = image.as_str();
    let statements: Vec<Value> = findings
        .iter()
        .flat_map(|(advisory, versions)| {
            versions.iter().map(move |version| {
                let component = format!("pkg:cargo/{}@{version}", advisory.package);
                let mut statement = json!({
                    "vulnerability": {
                        "name": advisory.id,
                        "description": advisory.title,
                        "aliases": advisory.aliases,
                    },
                    "products": [{ "@id": image, "subcomponents": [{ "@id": component }] }],
                });
                let key = (advisory.package.clone(), version.clone());
                let name = &advisory.package;
                match (product.listed.contains(&key), product.compiled.contains(&key)) {
                    (true, true) => {
                        statement["status"] = json!("affected");
                        statement["action_statement"] = json!(ignored.get(&advisory.id).map_or_else(
                            || format!("update {name} past {version}"),
                            |reason| format!("accepted in deny.toml: {reason}")
                        ));
                    }
                    (true, false) => {
                        statement["status"] = json!("not_affected");
                        statement["justification"] = json!("component_not_present");
                        statement["impact_statement"] = json!(format!(
                            "{name} {version} is named in the binary's cargo-auditable dependency list (taken \
                             from cargo metadata, which over-approximates features: \
                             rust-secure-code/cargo-auditable#126) but is not compiled into it: cargo tree \
                             -e normal for its package and target does not have it"
                        ));
                    }
                    (false, _) => {
                        statement["status"] = json!("not_affected");
                        statement["justification"] = json!("component_not_present");
                        statement["impact_statement"] = json!(format!(
                            "{name} {version} is in Cargo.lock but not in this image's binary (its embedded \
                             cargo-auditable dependency list)"
                        ));
                    }
                }
                statement
            })
        })
        .collect();
    json!({
        "@context": OPENVEX_CONTEXT,
        "@id": format!("https://github.com/cloudshop/cloudshop/vex/{}", crate::sha256_digest(image.as_bytes())),
        "author": "CloudShop release (cloudshop release attest)",
        "timestamp": timestamp,
        "version": 1,
        "statements": statements,
    })
}

/// The package URL of an image by digest, as OpenVEX and scanners name it:
/// `pkg:oci/<name>@sha256%3A<hex>?repository_url=<registry>/<repository>`.
pub fn image_purl(repository: &str, digest: &str) -> String {
    let name = repository.rsplit('/').next().unwrap_or(repository);
    format!(
        "pkg:oci/{name}@{}?repository_url={repository}",
        digest.replace(':', "%3A")
    )
}

/// The ids and reasons of `deny.toml`'s `[advisories] ignore` entries.
pub fn ignored(deny_toml: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let deny: toml::Value = toml::from_str(deny_toml).context("deny.toml is not TOML")?;
    Ok(deny
        .get("advisories")
        .and_then(|a| a.get("ignore"))
        .and_then(toml::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|entry| match entry {
            toml::Value::String(id) => Some((id.clone(), String::new())),
            table => Some((
                table.get("id")?.as_str()?.to_owned(),
                table
                    .get("reason")
                    .and_then(toml::Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            )),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const RSA: &str = "```toml\n[advisory]\nid = \"RUSTSEC-2023-0071\"\npackage = \"rsa\"\n\
        aliases = [\"CVE-2023-49092\"]\n\n[versions]\npatched = []\n```\n\n# Marvin Attack: timing\n\nText.\n";
    const FIXED: &str = "```toml\n[advisory]\nid = \"RUSTSEC-2099-0001\"\npackage = \"hyper\"\n\n\
        [versions]\npatched = [\">= 1.4.0\"]\nunaffected = [\"< 0.14.0\"]\n```\n\n# Something\n";
    const UNMAINTAINED: &str = "```toml\n[advisory]\nid = \"RUSTSEC-2099-0002\"\npackage = \"rsa\"\n\
        informational = \"unmaintained\"\n\n[versions]\npatched = []\n```\n\n# Unmaintained\n";

    #[test]
    fn advisories_parse_and_match_versions() {
        let rsa = Advisory::parse(RSA).expect("parse").expect("a vulnerability");
        assert_eq!(
            (rsa.id.as_str(), rsa.package.as_str()),
            ("RUSTSEC-2023-0071", "rsa")
        );
        assert_eq!(rsa.title, "Marvin Attack: timing");
        assert_eq!(rsa.aliases, vec!["CVE-2023-49092"]);
        assert!(rsa.affects(&Version::new(0, 9, 8)));
        let fixed = Advisory::parse(FIXED).expect("parse").expect("a vulnerability");
        assert!(fixed.affects(&Version::new(1, 3, 9)));
        assert!(!fixed.affects(&Version::new(1, 4, 0)));
        assert!(!fixed.affects(&Version::new(0, 13, 5)));
        assert_eq!(Advisory::parse(UNMAINTAINED).expect("parse"), None);
        assert!(Advisory::parse("no front matter").is_err());
    }

    #[test]
    fn a_crate_outside_the_binary_is_not_affected_and_one_inside_is() {
        let advisories = vec![
            Advisory::parse(RSA).expect("parse").expect("vuln"),
            Advisory::parse(FIXED).expect("parse").expect("vuln"),
        ];
        let lock = lock_crates(
            "version = 4\n[[package]]\nname = \"rsa\"\nversion = \"0.9.8\"\n\n\
             [[package]]\nname = \"hyper\"\nversion = \"1.12.0\"\n",
        )
        .expect("lock");
        let findings = findings(&advisories, &lock);
        assert_eq!(findings.len(), 1, "hyper 1.12.0 is patched: {findings:?}");
        let ignored =
            ignored("[advisories]\nignore = [{ id = \"RUSTSEC-2023-0071\", reason = \"never runs\" }]\n")
                .expect("deny.toml");

        let without = BTreeSet::from([("hyper".to_owned(), "1.12.0".to_owned())]);
        let product = Product {
            repository: "127.0.0.1:5000/cloudshop/orders",
            digest: "sha256:abc",
            listed: &without,
            compiled: &without,
        };
        let doc = document(&product, &findings, &ignored, "2026-12-04T00:00:00Z");
        assert_eq!(doc["@context"], OPENVEX_CONTEXT);
        let statement = &doc["statements"][0];
        assert_eq!(statement["vulnerability"]["name"], "RUSTSEC-2023-0071");
        assert_eq!(statement["status"], "not_affected");
        assert_eq!(statement["justification"], "component_not_present");
        assert_eq!(
            statement["products"][0]["@id"],
            "pkg:oci/orders@sha256%3Aabc?repository_url=127.0.0.1:5000/cloudshop/orders"
        );
        assert_eq!(
            statement["products"][0]["subcomponents"][0]["@id"],
            "pkg:cargo/rsa@0.9.8"
        );

        let with = BTreeSet::from([("rsa".to_owned(), "0.9.8".to_owned())]);
        let listed_only = Product {
            listed: &with,
            ..product.clone()
        };
        let doc = document(&listed_only, &findings, &ignored, "2026-12-04T00:00:00Z");
        assert_eq!(doc["statements"][0]["status"], "not_affected");
        assert!(
            doc["statements"][0]["impact_statement"]
                .as_str()
                .is_some_and(|s| s.contains("not compiled into it")),
            "{doc}"
        );
        let compiled = Product {
            listed: &with,
            compiled: &with,
            ..product
        };
        let doc = document(&compiled, &findings, &ignored, "2026-12-04T00:00:00Z");
        assert_eq!(doc["statements"][0]["status"], "affected");
        assert_eq!(
            doc["statements"][0]["action_statement"],
            "accepted in deny.toml: never runs"
        );
    }

    #[test]
    fn cargo_tree_lines_become_crates() {
        let crates =
            tree_crates("rsa v0.9.10\ncloudshop-orders v0.1.0 (/w/services/orders)\nasn1-rs v0.7.2 (*)\n\n");
        assert_eq!(
            crates,
            BTreeSet::from([
                ("asn1-rs".to_owned(), "0.7.2".to_owned()),
                ("cloudshop-orders".to_owned(), "0.1.0".to_owned()),
                ("rsa".to_owned(), "0.9.10".to_owned()),
            ])
        );
    }
}
