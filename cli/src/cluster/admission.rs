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
//! Where each refusal happens: every Kyverno ValidatingPolicy matches
//! Deployments directly (autogen off), so a bad Deployment is itself refused.
//! The ImageValidatingPolicy matches pods only, and Pod Security enforces on
//! pods only: such a Deployment is admitted and its ReplicaSet's pods are
//! refused (asserted from the ReplicaSet's `ReplicaFailure` condition).

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

/// A pod spec: compliant unless a field says otherwise.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub image: Image,
    pub privileged: bool,
    pub no_limits: bool,
    pub secret_env: bool,
    pub root: bool,
    pub writable_root: bool,
    pub host_path: bool,
    pub host_network: bool,
}

const COMPLIANT: Spec = Spec {
    image: Image::Signed,
    privileged: false,
    no_limits: false,
    secret_env: false,
    root: false,
    writable_root: false,
    host_path: false,
    host_network: false,
};

const fn image(image: Image) -> Spec {
    Spec { image, ..COMPLIANT }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    Pod,
    Deployment,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Expect {
    Admitted,
    /// The object itself is refused by `by` with a message containing `message`.
    Refused {
        by: &'static str,
        message: &'static str,
    },
    /// A Deployment is admitted; its pods are refused.
    PodsRefused {
        by: &'static str,
        message: &'static str,
    },
}

#[derive(Debug, Clone, Copy)]
pub struct Case {
    pub name: &'static str,
    pub namespace: &'static str,
    pub kind: Kind,
    pub spec: Spec,
    pub expect: Expect,
}

const fn case(name: &'static str, namespace: &'static str, kind: Kind, spec: Spec, expect: Expect) -> Case {
    Case {
        name,
        namespace,
        kind,
        spec,
        expect,
    }
}

const fn refused(by: &'static str, message: &'static str) -> Expect {
    Expect::Refused { by, message }
}

const LATEST: Expect = refused(
    "disallow-latest-tag",
    "images must be pinned by a tag other than latest or by a digest",
);
const UNSIGNED: Expect = refused(
    "verify-cloudshop-images",
    "CloudShop images must be signed with the release key",
);
const PRIVILEGED: Expect = refused(
    "disallow-privileged",
    "privileged, escalating or capability-holding containers are not allowed",
);
const HOST_NAMESPACES: Expect = refused(
    "disallow-privileged",
    "host namespaces (hostPID, hostIPC, hostNetwork) are not allowed",
);
const LIMITS: Expect = refused(
    "require-requests-limits",
    "cpu and memory requests and limits are required",
);
const SECRET_ENV: Expect = refused(
    "disallow-secrets-in-env",
    "secrets must be mounted as files, not environment variables",
);
const NONROOT: Expect = refused(
    "require-nonroot-readonly",
    "containers must run as non-root with a read-only root filesystem",
);
const NO_SBOM: Expect = refused(
    "verify-cloudshop-images",
    "CloudShop images must carry a signed CycloneDX SBOM attestation",
);
const UNTRUSTED_PROVENANCE: Expect = refused(
    "verify-cloudshop-images",
    "CloudShop images must be built by a CloudShop release builder from CloudShop's repository",
);
const DIGEST: Expect = refused(
    "require-cloudshop-image-digests",
    "CloudShop images must be referenced by digest",
);

/// Every case, in the order they run.
pub const CASES: &[Case] = &[
    // Kyverno alone (no Pod Security level enforced here).
    case(
        "compliant",
        PROBE_NAMESPACE,
        Kind::Pod,
        COMPLIANT,
        Expect::Admitted,
    ),
    case(
        "release-arm64-image",
        PROBE_NAMESPACE,
        Kind::Pod,
        image(Image::SignedArm64),
        Expect::Admitted,
    ),
    case(
        "probe-signed-and-attested",
        PROBE_NAMESPACE,
        Kind::Pod,
        image(Image::Attested),
        Expect::Admitted,
    ),
    // Each signature format alone, good and bad.
    case(
        "bundles-only",
        PROBE_NAMESPACE,
        Kind::Pod,
        image(Image::BundleOnly),
        Expect::Admitted,
    ),
    // Kyverno 1.19.1 verifies the legacy signature but not, without a
    // transparency log, the legacy attestations (kyverno/kyverno#17109,
    // open): such an image is refused for its first attestation.
    case(
        "legacy-tags-only",
        PROBE_NAMESPACE,
        Kind::Pod,
        image(Image::LegacyOnly),
        NO_SBOM,
    ),
    case(
        "bundles-copied-from-another-image",
        PROBE_NAMESPACE,
        Kind::Pod,
        image(Image::BundleTampered),
        UNSIGNED,
    ),
    case(
        "legacy-tags-copied-from-another-image",
        PROBE_NAMESPACE,
        Kind::Pod,
        image(Image::LegacyTampered),
        UNSIGNED,
    ),
    case(
        "bundles-other-key",
        PROBE_NAMESPACE,
        Kind::Pod,
        image(Image::BundleOtherKey),
        UNSIGNED,
    ),
    case(
        "legacy-tags-other-key",
        PROBE_NAMESPACE,
        Kind::Pod,
        image(Image::LegacyOtherKey),
        UNSIGNED,
    ),
    // Provenance that verifies but was not made by a CloudShop builder from
    // CloudShop's repository.
    case(
        "provenance-other-builder",
        PROBE_NAMESPACE,
        Kind::Pod,
        image(Image::OtherBuilder),
        UNTRUSTED_PROVENANCE,
    ),
    case(
        "provenance-other-source",
        PROBE_NAMESPACE,
        Kind::Pod,
        image(Image::OtherSource),
        UNTRUSTED_PROVENANCE,
    ),
    case(
        "nginx-latest",
        PROBE_NAMESPACE,
        Kind::Pod,
        image(Image::NginxLatest),
        LATEST,
    ),
    case(
        "unsigned",
        PROBE_NAMESPACE,
        Kind::Pod,
        image(Image::Unsigned),
        UNSIGNED,
    ),
    case(
        "other-key",
        PROBE_NAMESPACE,
        Kind::Pod,
        image(Image::OtherKey),
        UNSIGNED,
    ),
    case(
        "no-sbom-attestation",
        PROBE_NAMESPACE,
        Kind::Pod,
        image(Image::NoSbom),
        NO_SBOM,
    ),
    case(
        "no-provenance-attestation",
        PROBE_NAMESPACE,
        Kind::Pod,
        image(Image::NoProvenance),
        refused(
            "verify-cloudshop-images",
            "CloudShop images must carry a signed SLSA provenance attestation",
        ),
    ),
    case(
        "tag-without-digest",
        PROBE_NAMESPACE,
        Kind::Pod,
        image(Image::TagOnly),
        DIGEST,
    ),
    case(
        "registry-not-allowed",
        PROBE_NAMESPACE,
        Kind::Pod,
        image(Image::OtherRegistry),
        refused("restrict-image-registries", "image registry not allowed"),
    ),
    case(
        "privileged",
        PROBE_NAMESPACE,
        Kind::Pod,
        Spec {
            privileged: true,
            ..COMPLIANT
        },
        PRIVILEGED,
    ),
    case(
        "no-limits",
        PROBE_NAMESPACE,
        Kind::Pod,
        Spec {
            no_limits: true,
            ..COMPLIANT
        },
        LIMITS,
    ),
    case(
        "secret-in-env",
        PROBE_NAMESPACE,
        Kind::Pod,
        Spec {
            secret_env: true,
            ..COMPLIANT
        },
        SECRET_ENV,
    ),
    case(
        "runs-as-root",
        PROBE_NAMESPACE,
        Kind::Pod,
        Spec {
            root: true,
            ..COMPLIANT
        },
        NONROOT,
    ),
    case(
        "writable-root-filesystem",
        PROBE_NAMESPACE,
        Kind::Pod,
        Spec {
            writable_root: true,
            ..COMPLIANT
        },
        NONROOT,
    ),
    case(
        "host-network",
        PROBE_NAMESPACE,
        Kind::Pod,
        Spec {
            host_network: true,
            ..COMPLIANT
        },
        HOST_NAMESPACES,
    ),
    // The same bad specs inside a Deployment.
    case(
        "deployment-nginx-latest",
        PROBE_NAMESPACE,
        Kind::Deployment,
        image(Image::NginxLatest),
        LATEST,
    ),
    case(
        "deployment-tag-without-digest",
        PROBE_NAMESPACE,
        Kind::Deployment,
        image(Image::TagOnly),
        DIGEST,
    ),
    case(
        "deployment-privileged",
        PROBE_NAMESPACE,
        Kind::Deployment,
        Spec {
            privileged: true,
            ..COMPLIANT
        },
        PRIVILEGED,
    ),
    case(
        "deployment-no-limits",
        PROBE_NAMESPACE,
        Kind::Deployment,
        Spec {
            no_limits: true,
            ..COMPLIANT
        },
        LIMITS,
    ),
    case(
        "deployment-secret-in-env",
        PROBE_NAMESPACE,
        Kind::Deployment,
        Spec {
            secret_env: true,
            ..COMPLIANT
        },
        SECRET_ENV,
    ),
    case(
        "deployment-runs-as-root",
        PROBE_NAMESPACE,
        Kind::Deployment,
        Spec {
            root: true,
            ..COMPLIANT
        },
        NONROOT,
    ),
    case(
        "deployment-unsigned",
        PROBE_NAMESPACE,
        Kind::Deployment,
        image(Image::Unsigned),
        Expect::PodsRefused {
            by: "verify-cloudshop-images",
            message: "CloudShop images must be signed with the release key",
        },
    ),
    // cloudshop-prod: Pod Security `restricted` refuses first.
    case("prod-compliant", PROD, Kind::Pod, COMPLIANT, Expect::Admitted),
    case(
        "prod-privileged",
        PROD,
        Kind::Pod,
        Spec {
            privileged: true,
            ..COMPLIANT
        },
        refused(
            "PodSecurity",
            "privileged (container \"app\" must not set securityContext.privileged=true)",
        ),
    ),
    case(
        "prod-runs-as-root",
        PROD,
        Kind::Pod,
        Spec {
            root: true,
            ..COMPLIANT
        },
        refused("PodSecurity", "runAsNonRoot != true"),
    ),
    case(
        "prod-host-path",
        PROD,
        Kind::Pod,
        Spec {
            host_path: true,
            ..COMPLIANT
        },
        refused(
            "PodSecurity",
            "restricted volume types (volume \"host\" uses restricted volume type \"hostPath\")",
        ),
    ),
    case(
        "prod-host-network",
        PROD,
        Kind::Pod,
        Spec {
            host_network: true,
            ..COMPLIANT
        },
        refused("PodSecurity", "host namespaces (hostNetwork=true)"),
    ),
    case(
        "prod-deployment-host-path",
        PROD,
        Kind::Deployment,
        Spec {
            host_path: true,
            ..COMPLIANT
        },
        Expect::PodsRefused {
            by: "PodSecurity",
            message: "restricted volume types (volume \"host\" uses restricted volume type \"hostPath\")",
        },
    ),
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
        .find(|s| s.name == "auth")
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
                cloudshop_devkit::random_secret(8)?
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

/// The pod spec of `spec` with `image`.
pub fn pod_spec(spec: &Spec, image: &str) -> Value {
    let mut resources =
        json!({"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "100m", "memory": "32Mi"}});
    if spec.no_limits {
        resources = json!({"requests": {"cpu": "10m", "memory": "16Mi"}});
    }
    let mut container = json!({
        "name": "app",
        "image": image,
        "resources": resources,
        "securityContext": {
            "privileged": spec.privileged,
            "allowPrivilegeEscalation": spec.privileged,
            "readOnlyRootFilesystem": !spec.writable_root,
            "capabilities": {"drop": ["ALL"]},
        },
    });
    if spec.secret_env {
        container["env"] = json!([{"name": "DATABASE_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "orders-secrets", "key": "db-password-orders"}}}]);
    }
    let mut security =
        json!({"runAsNonRoot": true, "runAsUser": 65532, "seccompProfile": {"type": "RuntimeDefault"}});
    if spec.root {
        security =
            json!({"runAsNonRoot": false, "runAsUser": 0, "seccompProfile": {"type": "RuntimeDefault"}});
    }
    let mut pod = json!({
        "automountServiceAccountToken": false,
        "securityContext": security,
        "containers": [container],
    });
    if spec.host_path {
        pod["volumes"] = json!([{"name": "host", "hostPath": {"path": "/var/log"}}]);
        pod["containers"][0]["volumeMounts"] =
            json!([{"name": "host", "mountPath": "/host", "readOnly": true}]);
    }
    if spec.host_network {
        pod["hostNetwork"] = json!(true);
    }
    pod
}

fn manifest(case: &Case, image: &str) -> Value {
    let name = format!("probe-{}", case.name);
    let labels =
        json!({"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "cloudshop-admission-check"});
    let spec = pod_spec(&case.spec, image);
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
pub fn names_refusal(answer: &str, by: &str, message: &str) -> bool {
    let who = if by == "PodSecurity" {
        answer.contains(POD_SECURITY)
    } else {
        answer.contains(by)
    };
    who && answer.contains(message)
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
        Expect::Refused { by, message } => match dry_run() {
            Err(error) => {
                let answer = format!("{error:#}");
                (names_refusal(&answer, by, message), answer)
            }
            Ok(out) => (false, format!("admitted: {}", out.trim())),
        },
        // Refused pods are only seen when the ReplicaSet tries to make them.
        Expect::PodsRefused { by, message } => {
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
            Expect::Refused { by, .. } => format!("refused by {by}"),
            Expect::PodsRefused { by, .. } => format!("Deployment admitted, its pods refused by {by}"),
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
        let outcome = run_case(kubectl, case, &images.get(case.spec.image)).await;
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
    use super::*;

    #[test]
    fn case_names_are_unique_and_every_refusal_names_its_refuser() {
        let mut names: Vec<&str> = CASES.iter().map(|c| c.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CASES.len());
        for case in CASES {
            if let Expect::Refused { by, message } | Expect::PodsRefused { by, message } = case.expect {
                assert!(!by.is_empty() && !message.is_empty(), "{}", case.name);
            }
            if let Expect::PodsRefused { .. } = case.expect {
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
    }

    #[test]
    fn the_compliant_spec_is_what_restricted_asks_and_each_flag_breaks_one_thing() {
        let good = pod_spec(&COMPLIANT, "i");
        assert_eq!(good["securityContext"]["runAsNonRoot"], true);
        assert_eq!(
            good["containers"][0]["securityContext"]["readOnlyRootFilesystem"],
            true
        );
        assert!(good["containers"][0]["resources"]["limits"].is_object());
        assert!(good.get("hostNetwork").is_none() && good.get("volumes").is_none());
        let bad = pod_spec(
            &Spec {
                no_limits: true,
                host_path: true,
                ..COMPLIANT
            },
            "i",
        );
        assert!(bad["containers"][0]["resources"].get("limits").is_none());
        assert_eq!(bad["volumes"][0]["hostPath"]["path"], "/var/log");
    }
}
