//! Trivy, here: every platform image of a release scanned in its registry,
//! offline, with its own VEX, against a vulnerability database built on this
//! machine from the RustSec advisory database the gate reads.
//!
//! - The database: Trivy's published one cannot be fetched here and
//!   trivy-db has no RustSec source, so `cloudshop-trivy-db`
//!   (`tools/trivy-db`, trivy-db's own packages) writes one into a
//!   temporary cache folder, fresh for each scan: every RustSec
//!   vulnerability advisory with its patched and unaffected versions and its
//!   CVSS score, from which Trivy takes the severity.
//! - The scan: `trivy image --image-src remote` reads the image from the
//!   registry by digest; Trivy's Rust binary analyzer reads the crates from
//!   the cargo-auditable data embedded in the binary; `--vex` is the
//!   platform image's OpenVEX document (`dist/predicates/<service>-<arch>.vex.json`),
//!   whose `not_affected` statements Trivy leaves out of the findings.
//! - The gate: a HIGH or CRITICAL finding left fails; so does an image in
//!   which Trivy found no crates at all (a scan that saw nothing proves
//!   nothing).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The Trivy this is written for (tools/versions.env: scripts/scan-tools.sh
/// installs it; a topology test checks the release workflow pins the same).
pub const TRIVY_VERSION: &str = cloudshop_topology::versions::TRIVY_VERSION;

/// Severities that fail the gate.
pub const BLOCKING: [&str; 2] = ["HIGH", "CRITICAL"];

/// One vulnerability Trivy reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// `RUSTSEC-2021-0003`.
    pub id: String,
    pub package: String,
    pub version: String,
    pub severity: String,
    pub title: String,
    /// The patched versions (`>= 1.6.1`), empty when there is none.
    pub fixed: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} {} {}: {}",
            self.severity, self.id, self.package, self.version, self.title
        )?;
        if !self.fixed.is_empty() {
            write!(f, " (fixed: {})", self.fixed)?;
        }
        Ok(())
    }
}

/// What Trivy found in one image.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageReport {
    pub image: String,
    /// Crates Trivy found in the image's binaries.
    pub packages: usize,
    /// Findings the VEX did not answer.
    pub findings: Vec<Finding>,
    /// Findings the VEX says do not affect the image.
    pub not_affected: Vec<Finding>,
}

impl ImageReport {
    /// The findings that fail the gate.
    pub fn blocking(&self) -> Vec<&Finding> {
        self.findings
            .iter()
            .filter(|f| BLOCKING.contains(&f.severity.as_str()))
            .collect()
    }

    /// Reads `trivy image --format json --list-all-pkgs --show-suppressed`.
    pub fn parse(image: &str, json: &str) -> anyhow::Result<Self> {
        let report: Value = serde_json::from_str(json).context("trivy's JSON report")?;
        let mut scanned = Self {
            image: image.to_owned(),
            packages: 0,
            findings: Vec::new(),
            not_affected: Vec::new(),
        };
        for result in report["Results"].as_array().into_iter().flatten() {
            scanned.packages += result["Packages"].as_array().map_or(0, Vec::len);
            for vulnerability in result["Vulnerabilities"].as_array().into_iter().flatten() {
                scanned.findings.push(finding(vulnerability));
            }
            for modified in result["ExperimentalModifiedFindings"]
                .as_array()
                .into_iter()
                .flatten()
            {
                if modified["Type"] == "vulnerability" && modified["Status"] == "not_affected" {
                    scanned.not_affected.push(finding(&modified["Finding"]));
                }
            }
        }
        Ok(scanned)
    }
}

fn finding(vulnerability: &Value) -> Finding {
    let text = |key: &str| vulnerability[key].as_str().unwrap_or_default().to_owned();
    Finding {
        id: text("VulnerabilityID"),
        package: text("PkgName"),
        version: text("InstalledVersion"),
        severity: text("Severity"),
        title: text("Title"),
        fixed: text("FixedVersion"),
    }
}

/// Trivy with a database of its own, for as long as this lives.
#[derive(Debug)]
pub struct Scanner {
    cache: tempfile::TempDir,
    /// What `cloudshop-trivy-db` said it wrote.
    pub database: String,
}

impl Scanner {
    /// Builds the database from the RustSec advisory database at
    /// `advisory_db`; fails when Trivy is not the pinned version.
    pub fn new(advisory_db: &Path) -> anyhow::Result<Self> {
        let version = cloudshop_topology::tools::command("trivy")
            .arg("--version")
            .output()
            .with_context(|| {
                format!("cannot run trivy v{TRIVY_VERSION} (scripts/scan-tools.sh builds it into ~/go/bin)")
            })?;
        let said = String::from_utf8_lossy(&version.stdout);
        if !said.contains(&format!("Version: {TRIVY_VERSION}")) {
            bail!(
                "trivy {TRIVY_VERSION} is needed, this one says: {}",
                said.lines().next().unwrap_or_default()
            );
        }
        let cache = tempfile::Builder::new().prefix("cloudshop-trivy-").tempdir()?;
        let built = cloudshop_topology::tools::command("cloudshop-trivy-db")
            .arg("--advisory-db")
            .arg(advisory_db)
            .arg("--cache-dir")
            .arg(cache.path())
            .output()
            .context("cannot run cloudshop-trivy-db (scripts/scan-tools.sh builds it from tools/trivy-db)")?;
        if !built.status.success() {
            bail!(
                "building Trivy's database from {} failed: {}",
                advisory_db.display(),
                String::from_utf8_lossy(&built.stderr).trim()
            );
        }
        Ok(Self {
            cache,
            database: String::from_utf8_lossy(&built.stdout).trim().to_owned(),
        })
    }

    /// Scans `image` (`<registry>/<repository>@sha256:…`, one platform's
    /// image) in its registry, with `vex` when given.
    pub fn scan(&self, image: &str, vex: Option<&Path>) -> anyhow::Result<ImageReport> {
        let mut command = cloudshop_topology::tools::command("trivy");
        command
            .arg("image")
            .arg("--cache-dir")
            .arg(self.cache.path())
            .args([
                "--skip-db-update",
                "--skip-java-db-update",
                "--skip-version-check",
                "--disable-telemetry",
                "--offline-scan",
                "--scanners",
                "vuln",
                "--image-src",
                "remote",
                "--insecure",
                "--format",
                "json",
                "--list-all-pkgs",
                "--show-suppressed",
                "--quiet",
                "--timeout",
                "5m",
            ]);
        if let Some(vex) = vex {
            command.arg("--vex").arg(vex);
        }
        let output = command.arg(image).output().context("running trivy")?;
        if !output.status.success() {
            bail!(
                "trivy could not scan {image}: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        let report = ImageReport::parse(image, &String::from_utf8_lossy(&output.stdout))
            .with_context(|| format!("trivy's report on {image}"))?;
        if report.packages == 0 {
            bail!(
                "trivy found no crates in {image}: it cannot read the binary's cargo-auditable \
                 data, so its scan proves nothing"
            );
        }
        Ok(report)
    }

    /// Where the database is (`<cache>/db/trivy.db`).
    pub fn database_path(&self) -> PathBuf {
        self.cache.path().join("db").join("trivy.db")
    }
}

/// Fails, naming each image's HIGH and CRITICAL findings, when there are any.
pub fn gate(reports: &[ImageReport]) -> anyhow::Result<()> {
    let failed: Vec<String> = reports
        .iter()
        .filter(|r| !r.blocking().is_empty())
        .map(|r| {
            let findings: Vec<String> = r.blocking().iter().map(|f| format!("  {f}")).collect();
            format!("{}:\n{}", r.image, findings.join("\n"))
        })
        .collect();
    if !failed.is_empty() {
        bail!(
            "trivy found {} vulnerabilities the VEX does not answer:\n{}",
            BLOCKING.join(" or "),
            failed.join("\n")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = r#"{
      "Results": [{
        "Target": "orders", "Class": "lang-pkgs", "Type": "rustbinary",
        "Packages": [{"Name": "smallvec"}, {"Name": "rsa"}, {"Name": "tokio"}],
        "Vulnerabilities": [
          {"VulnerabilityID": "RUSTSEC-2021-0003", "PkgName": "smallvec", "InstalledVersion": "1.6.0",
           "FixedVersion": ">= 1.6.1", "Severity": "CRITICAL", "Title": "Buffer overflow"},
          {"VulnerabilityID": "RUSTSEC-2000-0001", "PkgName": "tokio", "InstalledVersion": "1.0.0",
           "Severity": "LOW", "Title": "Minor"}
        ],
        "ExperimentalModifiedFindings": [
          {"Type": "vulnerability", "Status": "not_affected", "Statement": "component_not_present",
           "Finding": {"VulnerabilityID": "RUSTSEC-2023-0071", "PkgName": "rsa", "InstalledVersion": "0.9.10",
                       "Severity": "MEDIUM", "Title": "Marvin Attack"}}
        ]
      }]
    }"#;

    #[test]
    fn reports_are_read_and_high_or_critical_findings_fail_the_gate() {
        let report = ImageReport::parse("127.0.0.1:5000/cloudshop/orders@sha256:ab", REPORT).expect("report");
        assert_eq!(report.packages, 3);
        assert_eq!(report.findings.len(), 2);
        assert_eq!(report.not_affected[0].id, "RUSTSEC-2023-0071");
        let blocking = report.blocking();
        assert_eq!(blocking.len(), 1);
        assert_eq!(
            blocking[0].to_string(),
            "CRITICAL RUSTSEC-2021-0003 smallvec 1.6.0: Buffer overflow (fixed: >= 1.6.1)"
        );
        let err = gate(std::slice::from_ref(&report))
            .expect_err("CRITICAL fails")
            .to_string();
        assert!(
            err.contains("orders@sha256:ab:\n  CRITICAL RUSTSEC-2021-0003"),
            "{err}"
        );
        assert!(!err.contains("RUSTSEC-2000-0001"), "LOW does not fail: {err}");
    }

    #[test]
    fn low_and_answered_findings_pass() {
        let mut report = ImageReport::parse("image", REPORT).expect("report");
        report.findings.retain(|f| f.severity == "LOW");
        gate(&[report]).expect("LOW passes");
    }

    #[test]
    fn a_report_that_is_not_json_is_an_error() {
        assert!(ImageReport::parse("image", "Error: no such image").is_err());
    }
}
