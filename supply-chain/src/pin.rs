//! `cloudshop release --pin-overlay DIR` (or `cloudshop release pin-overlay`): the
//! committed release layer Argo CD syncs (`k8s/overlays/release`, named by
//! `gitops/application.yaml`) gets the digests of the release just pushed.
//!
//! The file is edited in place, line by line: each CloudShop image line
//! `  - {name: <registry>/cloudshop/<service>, digest: "sha256:…"}` gets that
//! service's digest from the release record; every other line (comments, the
//! PostgreSQL pin, the resources) stays as it is. A release commit or pull
//! request then carries the change. A service without its line, or a line
//! for a service the release does not have, is an error and nothing is
//! written.

use std::path::Path;

use anyhow::{Context, bail};
use cloudshop_topology::ServiceId;

use crate::release::Release;

/// `kustomization` with each CloudShop image line pinned to `release`.
pub fn pinned(kustomization: &str, release: &Release) -> anyhow::Result<String> {
    let mut out = String::with_capacity(kustomization.len());
    let mut pinned = Vec::new();
    for line in kustomization.lines() {
        match image_line(line) {
            Some((head, service)) => {
                let id: Option<ServiceId> = service.parse().ok();
                let released = release
                    .services
                    .iter()
                    .find(|s| Some(s.id) == id)
                    .with_context(|| format!("the release has no image for `{line}`"))?;
                let digest = &released.digest;
                if !(digest.len() == 71 && digest.starts_with("sha256:")) {
                    bail!("{service}: `{digest}` is not a sha256 digest");
                }
                out.push_str(&format!("{head}, digest: \"{digest}\"}}"));
                pinned.extend(id);
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    let missing: Vec<&str> = release
        .services
        .iter()
        .filter(|s| !pinned.contains(&s.id))
        .map(|s| s.id.name())
        .collect();
    if !missing.is_empty() {
        bail!("no image line for {}", missing.join(", "));
    }
    Ok(out)
}

/// `(everything before `, digest`, service)` of a CloudShop image line.
fn image_line(line: &str) -> Option<(&str, &str)> {
    let (head, _) = line.split_once(", digest: ")?;
    let name = head.trim_start().strip_prefix("- {name: ")?;
    let (_, service) = name.rsplit_once("/cloudshop/")?;
    Some((head, service))
}

/// Rewrites `<dir>/kustomization.yaml` with `release`'s digests.
pub fn pin_overlay(dir: &Path, release: &Release) -> anyhow::Result<std::path::PathBuf> {
    let path = dir.join("kustomization.yaml");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading {} (the committed release layer)", path.display()))?;
    let new = pinned(&text, release).with_context(|| format!("pinning {}", path.display()))?;
    let temporary = path.with_extension("yaml.new");
    std::fs::write(&temporary, new)?;
    std::fs::rename(&temporary, &path)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::release::Released;

    fn release() -> Release {
        Release {
            version: "0.1.0".into(),
            commit: "c".into(),
            registry: "localhost:5001".into(),
            services: [ServiceId::Storefront, ServiceId::Auth]
                .into_iter()
                .enumerate()
                .map(|(i, id)| Released {
                    id,
                    image: String::new(),
                    digest: format!("sha256:{}", i.to_string().repeat(64)),
                    platforms: Vec::new(),
                    signature: None,
                    attestation: None,
                })
                .collect(),
            signed_as: None,
        }
    }

    const LAYER: &str = "# comment\nresources:\n  - ../kind\nimages:\n  - {name: kind-registry:5000/cloudshop/storefront, digest: \"sha256:aa\"}\n  - {name: kind-registry:5000/cloudshop/auth, digest: \"sha256:bb\"}\n  - {name: docker.io/library/postgres, digest: \"sha256:cc\"}\n";

    #[test]
    fn cloudshop_lines_get_the_release_digests_and_the_rest_stays() {
        let out = pinned(LAYER, &release()).expect("pinned");
        let zero = "0".repeat(64);
        let one = "1".repeat(64);
        assert_eq!(
            out,
            format!(
                "# comment\nresources:\n  - ../kind\nimages:\n  - {{name: kind-registry:5000/cloudshop/storefront, digest: \"sha256:{zero}\"}}\n  - {{name: kind-registry:5000/cloudshop/auth, digest: \"sha256:{one}\"}}\n  - {{name: docker.io/library/postgres, digest: \"sha256:cc\"}}\n"
            )
        );
    }

    #[test]
    fn a_missing_line_or_an_unknown_service_writes_nothing() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("kustomization.yaml");
        let short = LAYER.replace(
            "  - {name: kind-registry:5000/cloudshop/auth, digest: \"sha256:bb\"}\n",
            "",
        );
        std::fs::write(&path, &short).expect("write");
        let error = pin_overlay(dir.path(), &release()).expect_err("refused");
        assert!(
            format!("{error:#}").contains("no image line for auth"),
            "{error:#}"
        );
        assert_eq!(std::fs::read_to_string(&path).expect("read"), short);
        let extra = format!("{LAYER}  - {{name: r/cloudshop/orders, digest: \"sha256:dd\"}}\n");
        let error = pinned(&extra, &release()).expect_err("refused");
        assert!(format!("{error:#}").contains("no image for"), "{error:#}");
    }
}
