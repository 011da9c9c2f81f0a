//! CloudShop's admission policies (`kyverno/policies`) on the local cluster,
//! with the two values a deployment fills in: the release's cosign public key
//! in place of `COSIGN_PUBLIC_KEY_PLACEHOLDER`, and this cluster's registry
//! (`127.0.0.1:<port>`) in place of the Kind registry's name.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;

use super::control_plane::ControlPlane;

/// The registry the committed policies and the Kind overlay name.
pub const KIND_REGISTRY: &str = "kind-registry:5000";
const PLACEHOLDER: &str = "COSIGN_PUBLIC_KEY_PLACEHOLDER";

/// `manifest` with `key` (PEM) as a block scalar wherever a value is the
/// placeholder, and `registry` in place of the Kind registry.
pub fn fill_in(manifest: &str, key: &str, registry: &str) -> anyhow::Result<String> {
    let key = key.trim();
    anyhow::ensure!(
        key.starts_with("-----BEGIN PUBLIC KEY-----"),
        "the release key is not a PEM public key"
    );
    let mut out = String::with_capacity(manifest.len() + key.len() * 8);
    let mut replaced = 0;
    for line in manifest.lines() {
        match line
            .strip_suffix(PLACEHOLDER)
            .and_then(|head| head.strip_suffix(": "))
        {
            Some(field) => {
                let indent = &field[..field.len() - field.trim_start().len()];
                out.push_str(&format!("{field}: |-\n"));
                for key_line in key.lines() {
                    out.push_str(&format!("{indent}  {key_line}\n"));
                }
                replaced += 1;
            }
            None => {
                out.push_str(&line.replace(KIND_REGISTRY, registry));
                out.push('\n');
            }
        }
    }
    anyhow::ensure!(replaced > 0, "no {PLACEHOLDER} in the policies");
    Ok(out)
}

/// `kyverno/policies` rendered for this cluster: its release key and
/// registry filled in (what `install` applies, and what `cluster gitops`
/// commits as `kyverno/release`).
pub fn render(plane: &ControlPlane, workspace: &Path) -> anyhow::Result<String> {
    let rendered = plane
        .kubectl()
        .run(&[
            "kustomize",
            &workspace.join("kyverno/policies").display().to_string(),
        ])
        .context("rendering kyverno/policies")?;
    let key = std::fs::read_to_string(plane.dir.join("cosign.pub")).context("the release's public key")?;
    fill_in(&rendered, &key, &plane.registry_address())
}

/// Applies the policies and waits until every one is READY.
pub async fn install(plane: &ControlPlane, workspace: &Path) -> anyhow::Result<()> {
    let kubectl = plane.kubectl();
    let manifest = render(plane, workspace)?;
    let expected = manifest.matches("\nkind: ").count() + usize::from(manifest.starts_with("kind: "));
    // The policy webhook may refuse for a moment after Kyverno reports ready.
    plane
        .wait_ready("kyverno", Duration::from_secs(60), || {
            let result = kubectl.apply(&manifest).map(drop);
            async move { result.context("applying the policies") }
        })
        .await?;
    plane
        .wait_ready("kyverno", Duration::from_secs(120), || {
            let states = kubectl.run(&[
                "get",
                "validatingpolicies,imagevalidatingpolicies",
                "-o",
                "jsonpath={range .items[*]}{.metadata.name}={.status.conditionStatus.ready}{\"\\n\"}{end}",
            ]);
            async move {
                let states = states?;
                let not_ready: Vec<&str> = states.lines().filter(|line| !line.ends_with("=true")).collect();
                let count = states.lines().count();
                anyhow::ensure!(
                    count >= expected && not_ready.is_empty(),
                    "policies not READY: {} (of {count}, {expected} expected)",
                    not_ready.join(", ")
                );
                Ok(())
            }
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_becomes_a_block_scalar_and_the_registry_is_replaced() {
        let manifest = "attestors:\n  - cosign:\n      key:\n        data: COSIGN_PUBLIC_KEY_PLACEHOLDER\nglob: kind-registry:5000/cloudshop/*\n";
        let key = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
        let filled = fill_in(manifest, key, "127.0.0.1:5001").expect("filled");
        assert_eq!(
            filled,
            "attestors:\n  - cosign:\n      key:\n        data: |-\n          -----BEGIN PUBLIC KEY-----\n          AAAA\n          -----END PUBLIC KEY-----\nglob: 127.0.0.1:5001/cloudshop/*\n"
        );
    }

    #[test]
    fn policies_without_the_placeholder_or_a_key_that_is_not_pem_are_refused() {
        let key = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
        assert!(fill_in("kind: ValidatingPolicy\n", key, "r").is_err());
        assert!(fill_in("data: COSIGN_PUBLIC_KEY_PLACEHOLDER\n", "not a key", "r").is_err());
    }
}
