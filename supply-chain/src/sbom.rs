//! One CycloneDX 1.5 JSON SBOM per service, from the binary itself.
//!
//! `cargo auditable` embeds in each binary the list of crates compiled into
//! it. The SBOM lists exactly those with kind `runtime` (build scripts' own
//! dependencies run at build time and are not in the binary), each with its
//! package URL, its licence (from `cargo metadata`) and, for registry crates,
//! the SHA-256 that `Cargo.lock` pins, plus the dependency graph. Nothing in it
//! depends on time or place, so `sbom/` can be checked in and compared.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context, bail};
use auditable_serde::{DependencyKind, Source, VersionInfo};
use serde_json::{Value, json};

use crate::{Platform, Service, Workspace, output};

/// What the SBOM needs to know beyond the binary: licences and checksums.
#[derive(Debug, Default)]
pub struct Catalogue {
    /// `(name, version)` → SPDX licence expression.
    licences: BTreeMap<(String, String), String>,
    /// `(name, version)` → SHA-256 hex from `Cargo.lock`.
    checksums: BTreeMap<(String, String), String>,
}

impl Catalogue {
    /// Licences and checksums of the packages `platform`'s builds can use.
    pub fn load(workspace: &Workspace, platform: Platform) -> anyhow::Result<Self> {
        let metadata = output(
            cloudshop_topology::tools::command(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .current_dir(&workspace.root)
                .args([
                    "metadata",
                    "--format-version",
                    "1",
                    "--locked",
                    "--filter-platform",
                    platform.target,
                ]),
        )?;
        let metadata: Value = serde_json::from_str(&metadata).context("cargo metadata output")?;
        let mut licences = BTreeMap::new();
        for package in metadata["packages"]
            .as_array()
            .context("cargo metadata: no packages")?
        {
            let (Some(name), Some(version)) = (package["name"].as_str(), package["version"].as_str()) else {
                continue;
            };
            if let Some(licence) = package["license"].as_str() {
                // Old manifests write `MIT/Apache-2.0`, meaning either.
                licences.insert(
                    (name.to_owned(), version.to_owned()),
                    licence.replace('/', " OR "),
                );
            }
        }
        let lock = std::fs::read_to_string(workspace.root.join("Cargo.lock"))?;
        let lock: toml::Value = toml::from_str(&lock).context("Cargo.lock")?;
        let mut checksums = BTreeMap::new();
        for package in lock
            .get("package")
            .and_then(|p| p.as_array())
            .into_iter()
            .flatten()
        {
            let field = |key: &str| package.get(key).and_then(|v| v.as_str()).map(str::to_owned);
            if let (Some(name), Some(version), Some(sum)) =
                (field("name"), field("version"), field("checksum"))
            {
                checksums.insert((name, version), sum);
            }
        }
        Ok(Self { licences, checksums })
    }
}

/// Reads the dependency list `cargo auditable` embedded in a binary.
pub fn audit_info(binary: &Path) -> anyhow::Result<VersionInfo> {
    auditable_info::audit_info_from_file(binary, Default::default()).with_context(|| {
        format!(
            "{} carries no cargo-auditable dependency list (was it built with `cargo auditable`?)",
            binary.display()
        )
    })
}

/// The `(name, version)` of every crate compiled into the binary.
pub fn runtime_crates(info: &VersionInfo) -> BTreeSet<(String, String)> {
    info.packages
        .iter()
        .filter(|p| p.kind == DependencyKind::Runtime)
        .map(|p| (p.name.clone(), p.version.to_string()))
        .collect()
}

fn purl(name: &str, version: &str) -> String {
    format!("pkg:cargo/{name}@{version}")
}

/// The CycloneDX document for one service's binary.
pub fn generate(
    service: &Service,
    platform: Platform,
    info: &VersionInfo,
    catalogue: &Catalogue,
    tool_version: &str,
) -> anyhow::Result<Value> {
    let runtime: Vec<_> = info
        .packages
        .iter()
        .enumerate()
        .filter(|(_, p)| p.kind == DependencyKind::Runtime)
        .collect();
    let Some((_, root)) = runtime.iter().find(|(_, p)| p.root) else {
        bail!("the dependency list of {} names no root package", service.name);
    };
    if root.name != service.package {
        bail!(
            "the binary for {} was built from {}, not {}",
            service.name,
            root.name,
            service.package
        );
    }
    let component = |package: &auditable_serde::Package, kind: &str| {
        let version = package.version.to_string();
        let key = (package.name.clone(), version.clone());
        let mut component = json!({
            "type": kind,
            "bom-ref": purl(&package.name, &version),
            "name": package.name,
            "version": version,
            "purl": purl(&package.name, &version),
        });
        if let Some(licence) = catalogue.licences.get(&key) {
            component["licenses"] = json!([{ "expression": licence }]);
        }
        if let Some(sum) = catalogue.checksums.get(&key) {
            component["hashes"] = json!([{ "alg": "SHA-256", "content": sum }]);
        }
        if package.source == Source::CratesIo {
            component["externalReferences"] = json!([{
                "type": "distribution",
                "url": format!("https://crates.io/api/v1/crates/{}/{}/download", package.name, version),
            }]);
        }
        component
    };
    let mut components: Vec<Value> = runtime
        .iter()
        .filter(|(_, p)| !p.root)
        .map(|(_, p)| component(p, "library"))
        .collect();
    components.sort_by(|a, b| a["bom-ref"].as_str().cmp(&b["bom-ref"].as_str()));
    let mut dependencies: Vec<Value> = runtime
        .iter()
        .map(|(_, p)| {
            let mut depends_on: Vec<String> = p
                .dependencies
                .iter()
                .filter_map(|&i| info.packages.get(i))
                .filter(|d| d.kind == DependencyKind::Runtime)
                .map(|d| purl(&d.name, &d.version.to_string()))
                .collect();
            depends_on.sort();
            depends_on.dedup();
            json!({ "ref": purl(&p.name, &p.version.to_string()), "dependsOn": depends_on })
        })
        .collect();
    dependencies.sort_by(|a, b| a["ref"].as_str().cmp(&b["ref"].as_str()));
    Ok(json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "metadata": {
            "tools": { "components": [{ "type": "application", "name": "cloudshop-supply-chain", "version": tool_version }] },
            "component": component(root, "application"),
            "properties": [{ "name": "cloudshop:target", "value": platform.target }],
        },
        "components": components,
        "dependencies": dependencies,
    }))
}

/// The SBOM files for `services` on each of `platforms`, as they should
/// read (path, pretty JSON).
pub fn expected(
    workspace: &Workspace,
    services: &[Service],
    platforms: &[Platform],
) -> anyhow::Result<Vec<(std::path::PathBuf, String)>> {
    let version = workspace.version()?;
    let mut files = Vec::new();
    for &platform in platforms {
        let catalogue = Catalogue::load(workspace, platform)?;
        for service in services {
            let info = audit_info(&workspace.binary(service, platform))?;
            let document = generate(service, platform, &info, &catalogue, &version)?;
            files.push((
                workspace.sbom(service, platform),
                serde_json::to_string_pretty(&document)? + "\n",
            ));
        }
    }
    Ok(files)
}

/// Writes `sbom/<service>.cdx.json` (amd64) and `sbom/arm64/<service>.cdx.json`.
pub fn write(
    workspace: &Workspace,
    services: &[Service],
    platforms: &[Platform],
) -> anyhow::Result<Vec<std::path::PathBuf>> {
    expected(workspace, services, platforms)?
        .into_iter()
        .map(|(path, text)| {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, text)?;
            Ok(path)
        })
        .collect()
}

/// Fails, naming the files, when `sbom/` differs from what the binaries give.
pub fn check(workspace: &Workspace, services: &[Service], platforms: &[Platform]) -> anyhow::Result<()> {
    let stale: Vec<String> = expected(workspace, services, platforms)?
        .into_iter()
        .filter(|(path, text)| std::fs::read_to_string(path).ok().as_deref() != Some(text.as_str()))
        .map(|(path, _)| path.display().to_string())
        .collect();
    if !stale.is_empty() {
        bail!(
            "SBOM drift: {} differ from what Cargo.lock and the sources give; run `cloudshop release sbom` and commit sbom/",
            stale.join(", ")
        );
    }
    Ok(())
}
