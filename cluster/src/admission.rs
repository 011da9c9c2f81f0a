//! `cloudshop cluster check`: CloudShop's admission cases against a live
//! cluster (the local one, or Kind in `.github/workflows/e2e-kind.yml`: one
//! list, two clusters). Each case is a pod or a Deployment that the running
//! API server is asked to admit (a server-side dry run; a Deployment whose
//! pods are to be refused is created, and deleted after); each refusal must
//! carry the refusing policy's (or Pod Security's) own message.
//!
//! Images: the released `auth` image (signed, with SBOM and provenance
//! attestations), and probe images pushed into `cloudshop/admission-probe`
//! for the cases the release cannot show: not signed, signed with another
//! key, signed without an SBOM attestation, signed without provenance; and a
//! probe signed and attested like a release, which must be admitted (so the
//! others are refused for what they lack). Probes carry what the release
//! carries, cosign's legacy tags and the Sigstore bundle referrers, except
//! those about one format: signed and attested only as bundles or only as
//! legacy tags, each format's signatures copied from another image, each
//! format signed with another key. Two more carry a validly signed
//! provenance naming another builder or another source repository.
//!
//! The probe namespace `cloudshop-admission` enforces no Pod Security level,
//! so its refusals are Kyverno's alone; `cloudshop-prod` enforces
//! `restricted`, whose refusals come first there (Pod Security runs before the
//! webhooks).
//!
//! Where each refusal happens: every Kyverno policy, the image verification
//! too, matches Deployments directly (autogen off), so a bad Deployment is
//! itself refused. Pod Security enforces on pods only: a Deployment it would
//! refuse is admitted and its ReplicaSet's pods are refused (asserted from
//! the ReplicaSet's `ReplicaFailure` condition).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use cloudshop_supply_chain::Format;
use cloudshop_supply_chain::dsse::{CYCLONEDX, SLSA_PROVENANCE_V1};
use cloudshop_supply_chain::keys::KeyFiles;
use cloudshop_supply_chain::registry::{Layer, Registry};
use cloudshop_supply_chain::release;
use serde::Serialize;
use serde_json::{Value, json};

use super::kubectl::Kubectl;

/// The namespace without Pod Security enforcement.
pub const PROBE_NAMESPACE: &str = "cloudshop-admission";
const PROD: &str = super::deploy::NAMESPACE;
const PROBE_REPOSITORY: &str = "cloudshop/admission-probe";
/// What Pod Security's refusals start with.
pub const POD_SECURITY: &str = "violates PodSecurity \"restricted:latest\"";

/// Where the cases run.
#[derive(Debug, Clone)]
pub struct Target {
    pub kubectl: Kubectl,
    /// The registry as this process pushes to it.
    pub push_registry: String,
    /// The registry as pods name it (and Kyverno fetches from it).
    pub pod_registry: String,
    /// The release record (`release.json`) of the deployed images.
    pub release: PathBuf,
    /// The release's signing key (for the probe images' signatures).
    pub key: KeyFiles,
}

/// The image a case's pod runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Image {
    /// The released `auth` image index by digest.
    Signed,
    /// The released `auth` linux/arm64 image by its own digest (what a
    /// runtime on arm64 resolves the index to).
    SignedArm64,
    /// `nginx:latest`.
    NginxLatest,
    /// A probe image nobody signed.
    Unsigned,
    /// A probe image signed with a key that is not the release's.
    OtherKey,
    /// Signed with the release key, provenance attestation only.
    NoSbom,
    /// Signed with the release key, SBOM attestation only.
    NoProvenance,
    /// A probe image signed and attested like a release (the control case:
    /// the probes above are refused for what they lack, not for being probes).
    Attested,
    /// Signed and attested with the release key as cosign's legacy tags only.
    LegacyOnly,
    /// Signed and attested with the release key as Sigstore bundles only.
    BundleOnly,
    /// Another image carrying copies of [`Image::LegacyOnly`]'s tags.
    LegacyTampered,
    /// Another image carrying a copy of [`Image::BundleOnly`]'s referrers.
    BundleTampered,
    /// Signed and attested with another key, legacy tags only.
    LegacyOtherKey,
    /// Signed and attested with another key, bundles only.
    BundleOtherKey,
    /// Signed and attested with the release key, its provenance naming
    /// another builder.
    OtherBuilder,
    /// Signed and attested with the release key, its provenance naming
    /// another source repository.
    OtherSource,
    /// The released `auth` image by tag, no digest.
    TagOnly,
    /// The released `auth` digest under a registry that is not allowed.
    OtherRegistry,
}

/// What a case's pod does wrong, from a pod that `restricted` and every
/// policy admit; the manifest is built from it (see [`pod_spec`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Violation {
    /// Nothing: the compliant pod running the released image.
    None,
    /// The compliant pod running another image: refused or admitted for the
    /// image alone.
    Image(Image),
    /// A privileged container that may escalate.
    Privileged,
    /// Requests but no limits.
    NoLimits,
    /// A secret in an environment variable.
    SecretInEnv,
    /// `runAsNonRoot: false`, user 0.
    RunsAsRoot,
    /// A writable root filesystem.
    WritableRootFilesystem,
    /// A `hostPath` volume, mounted.
    HostPath,
    /// `hostNetwork: true`.
    HostNetwork,
}

impl Violation {
    /// The image the case's pod runs.
    pub fn image(self) -> Image {
        match self {
            Violation::Image(image) => image,
            _ => Image::Signed,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    Pod,
    Deployment,
}

/// Who refuses, and what its refusal says.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Refusal {
    /// The Kyverno policy's name, or `PodSecurity`.
    pub by: &'static str,
    /// A Kyverno policy's `message` (or the literal its `messageExpression`
    /// starts with, before the `: ` and the offending containers), or a part
    /// of Pod Security's.
    pub message: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Expect {
    Admitted,
    /// The object itself is refused.
    Refused(Refusal),
    /// A Deployment is admitted; its pods are refused.
    PodsRefused(Refusal),
}

#[derive(Debug, Clone, Copy)]
pub struct Case {
    pub name: &'static str,
    pub namespace: &'static str,
    pub kind: Kind,
    pub violation: Violation,
    pub expect: Expect,
}

const fn case(
    name: &'static str,
    namespace: &'static str,
    kind: Kind,
    violation: Violation,
    expect: Expect,
) -> Case {
    Case {
        name,
        namespace,
        kind,
        violation,
        expect,
    }
}

const fn refusal(by: &'static str, message: &'static str) -> Refusal {
    Refusal { by, message }
}

// Kyverno's refusals, as the policies under `kyverno/policies/` word them
// (the unit test below reads them from there).
const LATEST: Refusal = refusal(
    "disallow-latest-tag",
    "images must be pinned by a tag other than latest or by a digest",
);
const UNSIGNED: Refusal = refusal(
    "verify-cloudshop-images",
    "CloudShop images must be signed with the release key",
);
const NO_SBOM: Refusal = refusal(
    "verify-cloudshop-images",
    "CloudShop images must carry a signed CycloneDX SBOM attestation",
);
const NO_PROVENANCE: Refusal = refusal(
    "verify-cloudshop-images",
    "CloudShop images must carry a signed SLSA provenance attestation",
);
const UNTRUSTED_PROVENANCE: Refusal = refusal(
    "verify-cloudshop-images",
    "CloudShop images must be built by a CloudShop release builder from CloudShop's repository",
);
const DIGEST: Refusal = refusal(
    "require-cloudshop-image-digests",
    "CloudShop images must be referenced by digest",
);
const REGISTRY: Refusal = refusal("restrict-image-registries", "image registry not allowed");
const PRIVILEGED: Refusal = refusal(
    "disallow-privileged",
    "privileged, escalating or capability-holding containers are not allowed",
);
const HOST_NAMESPACES: Refusal = refusal(
    "disallow-privileged",
    "host namespaces (hostPID, hostIPC, hostNetwork) are not allowed",
);
const LIMITS: Refusal = refusal(
    "require-requests-limits",
    "cpu and memory requests and limits are required",
);
const SECRET_ENV: Refusal = refusal(
    "disallow-secrets-in-env",
    "secrets must be mounted as files, not environment variables",
);
const NONROOT: Refusal = refusal(
    "require-nonroot-readonly",
    "containers must run as non-root with a read-only root filesystem",
);

// Pod Security's refusals: the API server's own words, which no file here
// holds; the live cluster is their only check.
const PSS_PRIVILEGED: Refusal = refusal(
    "PodSecurity",
    "privileged (container \"app\" must not set securityContext.privileged=true)",
);
const PSS_ROOT: Refusal = refusal("PodSecurity", "runAsNonRoot != true");
const PSS_HOST_PATH: Refusal = refusal(
    "PodSecurity",
    "restricted volume types (volume \"host\" uses restricted volume type \"hostPath\")",
);
const PSS_HOST_NETWORK: Refusal = refusal("PodSecurity", "host namespaces (hostNetwork=true)");

use Expect::{Admitted, PodsRefused, Refused};
use Kind::{Deployment, Pod};

/// Every case, in the order they run.
// One case a line, so the list reads as a table.
#[rustfmt::skip]
pub const CASES: &[Case] = &[
    // Kyverno alone (no Pod Security level enforced here).
    case("compliant",                             PROBE_NAMESPACE, Pod, Violation::None,                         Admitted),
    case("release-arm64-image",                   PROBE_NAMESPACE, Pod, Violation::Image(Image::SignedArm64),    Admitted),
    case("probe-signed-and-attested",             PROBE_NAMESPACE, Pod, Violation::Image(Image::Attested),       Admitted),
    // Each signature format alone, good and bad.
    case("bundles-only",                          PROBE_NAMESPACE, Pod, Violation::Image(Image::BundleOnly),     Admitted),
    // Kyverno 1.19.1 verifies the legacy signature but not, without a
    // transparency log, the legacy attestations (kyverno/kyverno#17109,
    // open): such an image is refused for its first attestation.
    case("legacy-tags-only",                      PROBE_NAMESPACE, Pod, Violation::Image(Image::LegacyOnly),     Refused(NO_SBOM)),
    case("bundles-copied-from-another-image",     PROBE_NAMESPACE, Pod, Violation::Image(Image::BundleTampered), Refused(UNSIGNED)),
    case("legacy-tags-copied-from-another-image", PROBE_NAMESPACE, Pod, Violation::Image(Image::LegacyTampered), Refused(UNSIGNED)),
    case("bundles-other-key",                     PROBE_NAMESPACE, Pod, Violation::Image(Image::BundleOtherKey), Refused(UNSIGNED)),
    case("legacy-tags-other-key",                 PROBE_NAMESPACE, Pod, Violation::Image(Image::LegacyOtherKey), Refused(UNSIGNED)),
    // Provenance that verifies but was not made by a CloudShop builder from
    // CloudShop's repository.
    case("provenance-other-builder",              PROBE_NAMESPACE, Pod, Violation::Image(Image::OtherBuilder),   Refused(UNTRUSTED_PROVENANCE)),
    case("provenance-other-source",               PROBE_NAMESPACE, Pod, Violation::Image(Image::OtherSource),    Refused(UNTRUSTED_PROVENANCE)),
    case("nginx-latest",                          PROBE_NAMESPACE, Pod, Violation::Image(Image::NginxLatest),    Refused(LATEST)),
    case("unsigned",                              PROBE_NAMESPACE, Pod, Violation::Image(Image::Unsigned),       Refused(UNSIGNED)),
    case("other-key",                             PROBE_NAMESPACE, Pod, Violation::Image(Image::OtherKey),       Refused(UNSIGNED)),
    case("no-sbom-attestation",                   PROBE_NAMESPACE, Pod, Violation::Image(Image::NoSbom),         Refused(NO_SBOM)),
    case("no-provenance-attestation",             PROBE_NAMESPACE, Pod, Violation::Image(Image::NoProvenance),   Refused(NO_PROVENANCE)),
    case("tag-without-digest",                    PROBE_NAMESPACE, Pod, Violation::Image(Image::TagOnly),        Refused(DIGEST)),
    case("registry-not-allowed",                  PROBE_NAMESPACE, Pod, Violation::Image(Image::OtherRegistry),  Refused(REGISTRY)),
    case("privileged",                            PROBE_NAMESPACE, Pod, Violation::Privileged,                   Refused(PRIVILEGED)),
    case("no-limits",                             PROBE_NAMESPACE, Pod, Violation::NoLimits,                     Refused(LIMITS)),
    case("secret-in-env",                         PROBE_NAMESPACE, Pod, Violation::SecretInEnv,                  Refused(SECRET_ENV)),
    case("runs-as-root",                          PROBE_NAMESPACE, Pod, Violation::RunsAsRoot,                   Refused(NONROOT)),
    case("writable-root-filesystem",              PROBE_NAMESPACE, Pod, Violation::WritableRootFilesystem,       Refused(NONROOT)),
    case("host-network",                          PROBE_NAMESPACE, Pod, Violation::HostNetwork,                  Refused(HOST_NAMESPACES)),
    // The same specs inside a Deployment, judged when it is applied.
    case("deployment-nginx-latest",               PROBE_NAMESPACE, Deployment, Violation::Image(Image::NginxLatest), Refused(LATEST)),
    case("deployment-tag-without-digest",         PROBE_NAMESPACE, Deployment, Violation::Image(Image::TagOnly),     Refused(DIGEST)),
    case("deployment-privileged",                 PROBE_NAMESPACE, Deployment, Violation::Privileged,                Refused(PRIVILEGED)),
    case("deployment-no-limits",                  PROBE_NAMESPACE, Deployment, Violation::NoLimits,                  Refused(LIMITS)),
    case("deployment-secret-in-env",              PROBE_NAMESPACE, Deployment, Violation::SecretInEnv,               Refused(SECRET_ENV)),
    case("deployment-runs-as-root",               PROBE_NAMESPACE, Deployment, Violation::RunsAsRoot,                Refused(NONROOT)),
    case("deployment-compliant",                  PROBE_NAMESPACE, Deployment, Violation::None,                      Admitted),
    case("deployment-unsigned",                   PROBE_NAMESPACE, Deployment, Violation::Image(Image::Unsigned),    Refused(UNSIGNED)),
    case("deployment-no-provenance-attestation",  PROBE_NAMESPACE, Deployment, Violation::Image(Image::NoProvenance), Refused(NO_PROVENANCE)),
    // cloudshop-prod: Pod Security `restricted` refuses first.
    case("prod-compliant",                        PROD, Pod, Violation::None,        Admitted),
    case("prod-privileged",                       PROD, Pod, Violation::Privileged,  Refused(PSS_PRIVILEGED)),
    case("prod-runs-as-root",                     PROD, Pod, Violation::RunsAsRoot,  Refused(PSS_ROOT)),
    case("prod-host-path",                        PROD, Pod, Violation::HostPath,    Refused(PSS_HOST_PATH)),
    case("prod-host-network",                     PROD, Pod, Violation::HostNetwork, Refused(PSS_HOST_NETWORK)),
    case("prod-deployment-host-path",             PROD, Deployment, Violation::HostPath, PodsRefused(PSS_HOST_PATH)),
];

/// One case's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub case: &'static str,
    pub namespace: &'static str,
    pub kind: &'static str,
    pub expected: String,
    pub passed: bool,
    /// The API server's answer (the refusal, or what went wrong).
    pub answer: String,
}

/// The images the cases name, as pods name them.
struct Images {
    signed: String,
    signed_arm64: String,
    tag_only: String,
    other_registry: String,
    probes: Vec<(Image, String)>,
}

impl Images {
    fn get(&self, image: Image) -> String {
        match image {
            Image::Signed => self.signed.clone(),
            Image::SignedArm64 => self.signed_arm64.clone(),
            Image::NginxLatest => "nginx:latest".into(),
            Image::TagOnly => self.tag_only.clone(),
            Image::OtherRegistry => self.other_registry.clone(),
            probe => self
                .probes
                .iter()
                .find(|(kind, _)| *kind == probe)
                .map(|(_, image)| image.clone())
                .unwrap_or_default(),
        }
    }
}

/// Pushes the probe images and signs/attests them as each case needs.
async fn images(target: &Target) -> anyhow::Result<Images> {
    let release = super::deploy::read_release(&target.release)?;
    let auth = release
        .services
        .iter()
        .find(|s| s.id == cloudshop_topology::ServiceId::Auth)
        .context("the release record has no auth image")?;
    let registry = Registry::new(&target.push_registry);
    let scratch = tempfile::tempdir()?;
    let (other_key, _) = cloudshop_supply_chain::keys::generate(&scratch.path().join("other"), None)?;
    let other_key = KeyFiles {
        private_key: other_key,
        password_file: None,
    };
    let sbom = json!({"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1, "components": []});
    let provenance = |builder: &str, source: &str| {
        json!({
            "buildDefinition": {
                "buildType": cloudshop_supply_chain::provenance::BUILD_TYPE,
                "externalParameters": {"source": {"uri": source}},
            },
            "runDetails": {"builder": {"id": builder}},
        })
    };
    let source =
        cloudshop_supply_chain::provenance::source_uri(cloudshop_supply_chain::provenance::REPOSITORY);
    let builder = cloudshop_supply_chain::provenance::LOCAL_BUILDER;
    let both = [
        (CYCLONEDX, sbom),
        (SLSA_PROVENANCE_V1, provenance(builder, &source)),
    ];
    // Validly signed, but from someone else's builder or repository.
    let untrusted = |provenance| vec![both[0].clone(), (SLSA_PROVENANCE_V1, provenance)];
    let other_builder = untrusted(provenance("https://github.com/someone-else/builder", &source));
    let other_source = untrusted(provenance(
        builder,
        "git+https://github.com/someone-else/cloudshop",
    ));
    let mut probes: Vec<(Image, String)> = Vec::new();
    // In this order: the tampered probes copy from the format-only ones.
    for (kind, label) in [
        (Image::Unsigned, "unsigned"),
        (Image::OtherKey, "other-key"),
        (Image::NoSbom, "no-sbom"),
        (Image::NoProvenance, "no-provenance"),
        (Image::Attested, "attested"),
        (Image::LegacyOnly, "legacy-only"),
        (Image::BundleOnly, "bundle-only"),
        (Image::LegacyTampered, "legacy-tampered"),
        (Image::BundleTampered, "bundle-tampered"),
        (Image::LegacyOtherKey, "legacy-other-key"),
        (Image::BundleOtherKey, "bundle-other-key"),
        (Image::OtherBuilder, "other-builder"),
        (Image::OtherSource, "other-source"),
    ] {
        // A distinct image per case: one layer that names it and this run.
        let layer = Layer {
            media_type: "application/vnd.oci.image.layer.v1.tar".into(),
            data: format!(
                "cloudshop admission probe {label} {}\n",
                cloudshop_host::random_secret(8)?
            )
            .into_bytes(),
            annotations: Default::default(),
        };
        let digest = registry
            .push_artifact(&registry.tagged(PROBE_REPOSITORY, label), &[layer])
            .await
            .with_context(|| format!("pushing the {label} probe image"))?;
        // As the release does, in both formats unless the case is about one.
        let release_key = Some(&target.key);
        let (key, predicates, format) = match kind {
            Image::Unsigned => (None, vec![], Format::Both),
            Image::OtherKey => (Some(&other_key), vec![], Format::Both),
            Image::NoSbom => (release_key, vec![both[1].clone()], Format::Both),
            Image::NoProvenance => (release_key, vec![both[0].clone()], Format::Both),
            Image::LegacyOnly => (release_key, both.to_vec(), Format::Legacy),
            Image::BundleOnly => (release_key, both.to_vec(), Format::Bundle),
            Image::LegacyOtherKey => (Some(&other_key), both.to_vec(), Format::Legacy),
            Image::BundleOtherKey => (Some(&other_key), both.to_vec(), Format::Bundle),
            Image::OtherBuilder => (release_key, other_builder.clone(), Format::Both),
            Image::OtherSource => (release_key, other_source.clone(), Format::Both),
            Image::LegacyTampered | Image::BundleTampered => {
                let (source, format) = if kind == Image::LegacyTampered {
                    (Image::LegacyOnly, Format::Legacy)
                } else {
                    (Image::BundleOnly, Format::Bundle)
                };
                let from = probes
                    .iter()
                    .find(|(k, _)| *k == source)
                    .and_then(|(_, image)| image.rsplit_once('@'))
                    .map(|(_, digest)| digest.to_owned())
                    .context("the probe to copy from")?;
                release::copy_signatures(&registry, PROBE_REPOSITORY, &from, &digest, format).await?;
                (None, vec![], format)
            }
            _ => (release_key, both.to_vec(), Format::Both),
        };
        if let Some(key) = key {
            release::sign_image(&registry, PROBE_REPOSITORY, &digest, key, format).await?;
            if !predicates.is_empty() {
                release::attest_image(&registry, PROBE_REPOSITORY, &digest, &predicates, key, format).await?;
            }
        }
        probes.push((
            kind,
            format!("{}/{PROBE_REPOSITORY}@{digest}", target.pod_registry),
        ));
    }
    let arm64 = auth
        .platform("linux/arm64")
        .context("the release record has no linux/arm64 auth image")?;
    Ok(Images {
        signed: format!("{}/cloudshop/auth@{}", target.pod_registry, auth.digest),
        signed_arm64: format!("{}/cloudshop/auth@{}", target.pod_registry, arm64.digest),
        tag_only: format!("{}/cloudshop/auth:{}", target.pod_registry, release.version),
        other_registry: format!("ghcr.io/cloudshop/auth@{}", auth.digest),
        probes,
    })
}

/// The pod spec that commits `violation` (and nothing else), running `image`.
pub fn pod_spec(violation: Violation, image: &str) -> Value {
    let mut resources =
        json!({"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "100m", "memory": "32Mi"}});
    if violation == Violation::NoLimits {
        resources = json!({"requests": {"cpu": "10m", "memory": "16Mi"}});
    }
    let privileged = violation == Violation::Privileged;
    let mut container = json!({
        "name": "app",
        "image": image,
        "resources": resources,
        "securityContext": {
            "privileged": privileged,
            "allowPrivilegeEscalation": privileged,
            "readOnlyRootFilesystem": violation != Violation::WritableRootFilesystem,
            "capabilities": {"drop": ["ALL"]},
        },
    });
    if violation == Violation::SecretInEnv {
        container["env"] = json!([{"name": "DATABASE_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "orders-secrets", "key": "db-password-orders"}}}]);
    }
    let mut security =
        json!({"runAsNonRoot": true, "runAsUser": 65532, "seccompProfile": {"type": "RuntimeDefault"}});
    if violation == Violation::RunsAsRoot {
        security =
            json!({"runAsNonRoot": false, "runAsUser": 0, "seccompProfile": {"type": "RuntimeDefault"}});
    }
    let mut pod = json!({
        "automountServiceAccountToken": false,
        "securityContext": security,
        "containers": [container],
    });
    if violation == Violation::HostPath {
        pod["volumes"] = json!([{"name": "host", "hostPath": {"path": "/var/log"}}]);
        pod["containers"][0]["volumeMounts"] =
            json!([{"name": "host", "mountPath": "/host", "readOnly": true}]);
    }
    if violation == Violation::HostNetwork {
        pod["hostNetwork"] = json!(true);
    }
    pod
}

fn manifest(case: &Case, image: &str) -> Value {
    let name = format!("probe-{}", case.name);
    let labels =
        json!({"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "cloudshop-admission-check"});
    let spec = pod_spec(case.violation, image);
    match case.kind {
        Kind::Pod => json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": case.namespace, "labels": labels},
            "spec": spec,
        }),
        Kind::Deployment => json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": case.namespace, "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
                "template": {"metadata": {"labels": labels}, "spec": spec},
            },
        }),
    }
}

/// `answer` names the refusal `by` made: Pod Security's prefix, or Kyverno's
/// policy name, and the message.
///
/// An image by tag is refused by two policies for the same reason: the
/// digest policy, and Kyverno's image verification, which says the image
/// "does not have a digest". The API server calls both webhooks at once and
/// reports the first refusal, so either one names the digest refusal. (The
/// digest policy alone is tested by the Kyverno CLI:
/// `kyverno/tests/require-cloudshop-image-digests`.)
pub fn names_refusal(answer: &str, by: &str, message: &str) -> bool {
    let who = if by == "PodSecurity" {
        answer.contains(POD_SECURITY)
    } else {
        answer.contains(by)
    };
    let by_verification = by == DIGEST.by
        && answer.contains("verify-cloudshop-images")
        && answer.contains("does not have a digest");
    (who && answer.contains(message)) || by_verification
}

async fn run_case(kubectl: &Kubectl, case: &Case, image: &str) -> Outcome {
    let manifest = serde_json::to_string(&manifest(case, image)).unwrap_or_default();
    // Admission alone decides these: a server-side dry run, nothing is kept.
    let dry_run = || kubectl.with_stdin(&["apply", "--dry-run=server"], &manifest);
    let (passed, answer) = match case.expect {
        Expect::Admitted => match dry_run() {
            Ok(out) => (true, out.trim().to_owned()),
            Err(error) => (false, format!("{error:#}")),
        },
        Expect::Refused(Refusal { by, message }) => match dry_run() {
            Err(error) => {
                let answer = format!("{error:#}");
                (names_refusal(&answer, by, message), answer)
            }
            Ok(out) => (false, format!("admitted: {}", out.trim())),
        },
        // Refused pods are only seen when the ReplicaSet tries to make them.
        Expect::PodsRefused(Refusal { by, message }) => {
            let outcome = match kubectl.with_stdin(&["create"], &manifest) {
                Err(error) => (false, format!("the Deployment itself was refused: {error:#}")),
                Ok(_) => match replica_failure(kubectl, case).await {
                    Ok(answer) => (names_refusal(&answer, by, message), answer),
                    Err(error) => (false, format!("{error:#}")),
                },
            };
            delete_deployment(kubectl, case);
            outcome
        }
    };
    Outcome {
        case: case.name,
        namespace: case.namespace,
        kind: match case.kind {
            Kind::Pod => "Pod",
            Kind::Deployment => "Deployment",
        },
        expected: match case.expect {
            Expect::Admitted => "admitted".into(),
            Expect::Refused(Refusal { by, .. }) => format!("refused by {by}"),
            Expect::PodsRefused(Refusal { by, .. }) => {
                format!("Deployment admitted, its pods refused by {by}")
            }
        },
        passed,
        answer,
    }
}

/// The ReplicaSet's `ReplicaFailure` message for the case's Deployment (its
/// pods' refusal), waited for up to 60 s; an error if a pod was admitted.
async fn replica_failure(kubectl: &Kubectl, case: &Case) -> anyhow::Result<String> {
    let selector = format!("app.kubernetes.io/name=probe-{}", case.name);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let pods = kubectl.run(&["-n", case.namespace, "get", "pods", "-l", &selector, "-o", "name"])?;
        anyhow::ensure!(pods.trim().is_empty(), "a pod was admitted: {}", pods.trim());
        let failure = kubectl.run(&[
            "-n",
            case.namespace,
            "get",
            "replicasets",
            "-l",
            &selector,
            "-o",
            "jsonpath={.items[*].status.conditions[?(@.type==\"ReplicaFailure\")].message}",
        ])?;
        if !failure.trim().is_empty() {
            return Ok(failure.trim().to_owned());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "no ReplicaFailure on the Deployment's ReplicaSet after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Deletes the case's Deployment (and so its ReplicaSet), not waiting.
fn delete_deployment(kubectl: &Kubectl, case: &Case) {
    let name = format!("probe-{}", case.name);
    let _ = kubectl.run(&[
        "-n",
        case.namespace,
        "delete",
        "deployment",
        &name,
        "--ignore-not-found",
        "--wait=false",
    ]);
}

/// Runs every case; prints a table (and the JSON outcomes with `json`); an
/// error names the cases that failed.
pub async fn check(target: &Target, json: bool) -> anyhow::Result<Vec<Outcome>> {
    let kubectl = &target.kubectl;
    kubectl.apply(&serde_json::to_string(&json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": PROBE_NAMESPACE},
    }))?)?;
    let images = images(target).await?;
    let mut outcomes = Vec::new();
    for case in CASES {
        let outcome = run_case(kubectl, case, &images.get(case.violation.image())).await;
        super::say(format_args!(
            "{} {:<32} {:<10} {:<20} {}",
            if outcome.passed { "ok  " } else { "FAIL" },
            case.name,
            outcome.kind,
            case.namespace,
            outcome.expected
        ));
        if !outcome.passed {
            super::say(format_args!("     answer: {}", outcome.answer));
        }
        outcomes.push(outcome);
    }
    if json {
        writeln!(
            std::io::stdout().lock(),
            "{}",
            serde_json::to_string_pretty(&outcomes)?
        )?;
    }
    let failed: Vec<&str> = outcomes.iter().filter(|o| !o.passed).map(|o| o.case).collect();
    anyhow::ensure!(
        failed.is_empty(),
        "{} of {} admission cases failed: {}",
        failed.len(),
        outcomes.len(),
        failed.join(", ")
    );
    super::say(format_args!("all {} admission cases passed", outcomes.len()));
    Ok(outcomes)
}

/// The target for a cluster made by `cloudshop cluster up`.
pub fn local_target(dir: &Path, kubectl: &Path, registry: &str) -> Target {
    Target {
        kubectl: Kubectl::new(kubectl, &dir.join("kubeconfig")),
        push_registry: registry.to_owned(),
        pod_registry: registry.to_owned(),
        release: super::deploy::release_record(dir),
        key: KeyFiles {
            private_key: dir.join("cosign.key"),
            password_file: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use yaml_rust2::{Yaml, YamlLoader};

    use super::*;

    #[test]
    fn case_names_are_unique_and_every_refusal_names_its_refuser() {
        let mut names: Vec<&str> = CASES.iter().map(|c| c.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CASES.len());
        for case in CASES {
            if let Expect::Refused(Refusal { by, message }) | Expect::PodsRefused(Refusal { by, message }) =
                case.expect
            {
                assert!(!by.is_empty() && !message.is_empty(), "{}", case.name);
            }
            if let Expect::PodsRefused(_) = case.expect {
                assert_eq!(case.kind, Kind::Deployment, "{}", case.name);
            }
        }
    }

    #[test]
    fn a_refusal_counts_only_with_its_refuser_and_message() {
        let kyverno = "admission webhook \"vpol.validate.kyverno.svc-fail\" denied the request: Policy disallow-latest-tag failed: images must be pinned by a tag other than latest or by a digest: app=nginx:latest";
        assert!(names_refusal(
            kyverno,
            "disallow-latest-tag",
            "images must be pinned by a tag other than latest"
        ));
        assert!(!names_refusal(
            kyverno,
            "restrict-image-registries",
            "image registry not allowed"
        ));
        let pss = "pods \"p\" is forbidden: violates PodSecurity \"restricted:latest\": restricted volume types (volume \"host\" uses restricted volume type \"hostPath\")";
        assert!(names_refusal(
            pss,
            "PodSecurity",
            "uses restricted volume type \"hostPath\""
        ));
        assert!(!names_refusal(pss, "PodSecurity", "privileged"));
        // An image by tag: either policy's digest refusal, nothing else.
        let verification = "admission webhook \"ivpol.validate.kyverno.svc-fail\" denied the request: Policy verify-cloudshop-images failed: image 127.0.0.1:5000/cloudshop/auth:0.1.0 does not have a digest";
        assert!(names_refusal(verification, DIGEST.by, DIGEST.message));
        assert!(!names_refusal(verification, REGISTRY.by, REGISTRY.message));
        let unsigned = "admission webhook \"ivpol.validate.kyverno.svc-fail\" denied the request: Policy verify-cloudshop-images failed: no signature";
        assert!(!names_refusal(unsigned, DIGEST.by, DIGEST.message));
    }

    #[test]
    fn the_compliant_spec_is_what_restricted_asks_and_each_violation_breaks_one_thing() {
        let good = pod_spec(Violation::None, "i");
        assert_eq!(good["securityContext"]["runAsNonRoot"], true);
        assert_eq!(
            good["containers"][0]["securityContext"]["readOnlyRootFilesystem"],
            true
        );
        assert!(good["containers"][0]["resources"]["limits"].is_object());
        assert!(good.get("hostNetwork").is_none() && good.get("volumes").is_none());
        let no_limits = pod_spec(Violation::NoLimits, "i");
        assert!(no_limits["containers"][0]["resources"].get("limits").is_none());
        assert!(no_limits.get("volumes").is_none());
        let host_path = pod_spec(Violation::HostPath, "i");
        assert_eq!(host_path["volumes"][0]["hostPath"]["path"], "/var/log");
        assert!(host_path["containers"][0]["resources"]["limits"].is_object());
        // An image case changes the image, nothing else.
        assert_eq!(pod_spec(Violation::Image(Image::Unsigned), "i"), good);
        assert_eq!(Violation::Image(Image::Unsigned).image(), Image::Unsigned);
        assert_eq!(Violation::Privileged.image(), Image::Signed);
    }

    /// A file of the repository, as the topology's tests read the manifests.
    fn yaml(path: &str) -> Vec<Yaml> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let text = std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// A validation's refusal text: its `message`, or the string literal its
    /// `messageExpression` starts with (`'text: ' + variables.bad.join(', ')`),
    /// without the `: ` that joins the offending containers.
    fn refusal_text(validation: &Yaml, path: &str) -> String {
        if let Some(message) = validation["message"].as_str() {
            return message.to_owned();
        }
        let expression = validation["messageExpression"]
            .as_str()
            .unwrap_or_else(|| panic!("{path}: a validation with neither message nor messageExpression"));
        let literal = expression
            .strip_prefix('\'')
            .and_then(|rest| rest.split_once('\''))
            .map(|(literal, _)| literal)
            .unwrap_or_else(|| {
                panic!("{path}: messageExpression does not start with a literal: {expression}")
            });
        literal.strip_suffix(": ").unwrap_or(literal).to_owned()
    }

    /// Every refusal text of every policy the cluster installs (the
    /// kustomization's resources), by policy name.
    fn policy_refusals() -> Vec<(String, String)> {
        let kustomization = &yaml("kyverno/policies/kustomization.yaml")[0];
        let resources = kustomization["resources"]
            .as_vec()
            .expect("kyverno/policies/kustomization.yaml: resources");
        let mut refusals = Vec::new();
        for resource in resources {
            let file = resource.as_str().expect("a resource path");
            let path = format!("kyverno/policies/{file}");
            for policy in yaml(&path) {
                let name = policy["metadata"]["name"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{path}: no metadata.name"));
                let validations = policy["spec"]["validations"]
                    .as_vec()
                    .unwrap_or_else(|| panic!("{path}: no spec.validations"));
                for validation in validations {
                    refusals.push((name.to_owned(), refusal_text(validation, &path)));
                }
            }
        }
        refusals
    }

    /// The Kyverno refusal texts the cases expect are the policies' own, so
    /// a policy edit that rewords one fails here and not only on a live
    /// cluster; and every refusal a policy can make is one some case provokes.
    #[test]
    fn each_kyverno_refusal_is_worded_as_its_policy_words_it() {
        let policies = policy_refusals();
        let expected: Vec<(&str, &str)> = CASES
            .iter()
            .filter_map(|case| match case.expect {
                Expect::Refused(refusal) | Expect::PodsRefused(refusal) => Some((case.name, refusal)),
                Expect::Admitted => None,
            })
            .filter(|(_, refusal)| refusal.by != "PodSecurity")
            .map(|(name, refusal)| {
                assert!(
                    policies
                        .iter()
                        .any(|(by, message)| by == refusal.by && message == refusal.message),
                    "case {name}: no policy {} refuses with {:?}; the policy says: {:?}",
                    refusal.by,
                    refusal.message,
                    policies
                        .iter()
                        .filter(|(by, _)| by == refusal.by)
                        .collect::<Vec<_>>()
                );
                (refusal.by, refusal.message)
            })
            .collect();
        for (by, message) in &policies {
            assert!(
                expected.contains(&(by.as_str(), message.as_str())),
                "no case provokes {by}'s refusal {message:?}"
            );
        }
    }

    /// The Pod Security cases expect `restricted` at `latest` in the
    /// CloudShop namespace ([`POD_SECURITY`]): the namespace's labels say so.
    #[test]
    fn the_prod_namespace_enforces_the_pod_security_level_the_cases_expect() {
        let path = "k8s/base/namespace/namespace.yaml";
        let namespace = yaml(path)
            .into_iter()
            .find(|doc| doc["kind"].as_str() == Some("Namespace"))
            .unwrap_or_else(|| panic!("{path}: no Namespace"));
        assert_eq!(namespace["metadata"]["name"].as_str(), Some(PROD), "{path}");
        let labels = &namespace["metadata"]["labels"];
        let level = labels["pod-security.kubernetes.io/enforce"]
            .as_str()
            .unwrap_or("");
        let version = labels["pod-security.kubernetes.io/enforce-version"]
            .as_str()
            .unwrap_or("");
        assert_eq!(
            format!("violates PodSecurity \"{level}:{version}\""),
            POD_SECURITY,
            "{path}: what Pod Security enforces"
        );
        assert!(CASES.iter().any(|case| case.namespace == PROD
            && matches!(case.expect, Expect::Refused(r) if r.by == "PodSecurity")));
    }
}
