//! The pipeline as `cloudshop release`: every step in order, or one of
//! them (`cloudshop release build`, `sbom`, `images`, `gate`, `push`, `sign`,
//! `attest`, `scan`, `verify`, `pin-overlay`, `keygen`). Progress goes to
//! stderr; `--json` prints a summary on stdout; any failure exits non-zero.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use cloudshop_host::progress;
use serde_json::{Value, json};

use crate::images::Engine;
use crate::keys::KeyFiles;
use crate::registry::Registry;
use crate::release::{self, Builder};
use crate::{Format, PLATFORMS, Platform, SERVICES, Service, Workspace, gate};

#[derive(Debug, Clone, Args)]
pub struct Common {
    /// The CloudShop checkout to build.
    #[arg(long, default_value = ".")]
    pub workspace: PathBuf,
    /// Where binaries and release records go (default: <workspace>/dist).
    #[arg(long)]
    pub dist: Option<PathBuf>,
    /// Only these services (repeatable; default: all five).
    #[arg(long = "service")]
    pub services: Vec<cloudshop_topology::ServiceId>,
    /// Only these platforms, `linux/amd64` or `linux/arm64` (repeatable;
    /// default: both). `push` and `release` need both: a release is one
    /// image index per service listing every platform.
    #[arg(long = "platform")]
    pub platforms: Vec<String>,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct RegistryArgs {
    /// The OCI registry (plain HTTP only on the loopback interface).
    #[arg(long, default_value = "127.0.0.1:5000")]
    pub registry: String,
}

#[derive(Debug, Clone, Args)]
pub struct SigningArgs {
    /// cosign private key (`cloudshop release keygen` or `cosign generate-key-pair`).
    #[arg(long, default_value = "cosign.key")]
    pub key: PathBuf,
    /// File holding the key's password (default: empty password).
    #[arg(long)]
    pub key_password_file: Option<PathBuf>,
    /// Publish signatures and attestations as cosign's legacy tags
    /// (`sha256-<hex>.sig`/`.att`), as Sigstore bundles attached as OCI
    /// referrers, or both.
    #[arg(long, value_enum, default_value_t = Format::Both)]
    pub format: Format,
}

#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    /// cosign public key to verify with.
    #[arg(long = "public-key", default_value = "cosign.pub")]
    pub public_key: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct ProvenanceArgs {
    /// Source repository named in the provenance.
    #[arg(long, default_value = crate::provenance::REPOSITORY)]
    pub repository_url: String,
    /// Builder id named in the provenance (the default: a local release;
    /// the GitHub release workflow names itself).
    #[arg(long, default_value = crate::provenance::LOCAL_BUILDER)]
    pub builder_id: String,
    /// The RustSec advisory database the VEX documents come from (default:
    /// the one `cargo deny` keeps under $CARGO_HOME/advisory-dbs/).
    #[arg(long)]
    pub advisory_db: Option<PathBuf>,
}

impl RegistryArgs {
    fn registry(&self) -> Registry {
        Registry::new(&self.registry)
    }
}

impl ProvenanceArgs {
    fn builder(self) -> Builder {
        Builder {
            repository_url: self.repository_url,
            id: self.builder_id,
            advisory_db: self.advisory_db.unwrap_or_else(gate::advisory_db),
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct GateArgs {
    /// Use the advisory database already on disk (no fetch).
    #[arg(long)]
    pub offline: bool,
}

/// The `cloudshop` commands this crate runs: `release` (every step in
/// order, or one: `cloudshop release build`), and each step by its own name
/// (`cloudshop build`): the names scripts and workflows used before the
/// steps moved under `release`, which `cloudshop --help` no longer lists.
#[derive(Debug, Clone, Subcommand)]
#[allow(clippy::large_enum_variant, reason = "parsed once per run, then consumed")]
pub enum Command {
    /// The release pipeline: every step in order (build, sbom, images, gate,
    /// push, sign, attest, scan, verify), or the one named.
    Release(ReleaseArgs),
    #[command(flatten)]
    Step(Step),
}

/// `cloudshop release [STEP]`.
#[derive(Debug, Clone, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ReleaseArgs {
    /// One step alone (default: all of them, with the options below).
    #[command(subcommand)]
    pub step: Option<Step>,
    #[command(flatten)]
    pub all: AllSteps,
}

/// The options of a whole release.
#[derive(Debug, Clone, Args)]
pub struct AllSteps {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    registry: RegistryArgs,
    #[command(flatten)]
    signing: SigningArgs,
    #[command(flatten)]
    verify: VerifyArgs,
    #[command(flatten)]
    provenance: ProvenanceArgs,
    #[command(flatten)]
    gate: GateArgs,
    /// Then write the release's digests into this committed release
    /// layer (e.g. k8s/overlays/release, which Argo CD syncs).
    #[arg(long)]
    pin_overlay: Option<PathBuf>,
}

/// One step of the release.
#[derive(Debug, Clone, Subcommand)]
pub enum Step {
    /// Build the static auditable release binaries into dist/bin/.
    Build(#[command(flatten)] Common),
    /// Write sbom/<service>.cdx.json from the built binaries.
    Sbom {
        #[command(flatten)]
        common: Common,
        /// Fail if sbom/ differs instead of writing it.
        #[arg(long)]
        check: bool,
    },
    /// Build the FROM-scratch images with podman or docker.
    Images(#[command(flatten)] Common),
    /// cargo deny and hadolint.
    Gate {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        gate: GateArgs,
    },
    /// Push the images; record them by digest in dist/release.json.
    Push {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Sign the pushed images (cosign format).
    Sign {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        registry: RegistryArgs,
        #[command(flatten)]
        signing: SigningArgs,
    },
    /// Attest the SBOM and SLSA provenance of the pushed images.
    Attest {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        registry: RegistryArgs,
        #[command(flatten)]
        signing: SigningArgs,
        #[command(flatten)]
        provenance: ProvenanceArgs,
        /// Only write the predicates to dist/predicates/ (for keyless cosign).
        #[arg(long)]
        predicates_only: bool,
    },
    /// Scan every pushed platform image with Trivy and its VEX, offline,
    /// against a database built from the RustSec advisory database; HIGH
    /// or CRITICAL findings fail. `--image` scans those images instead.
    Scan {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        registry: RegistryArgs,
        /// The RustSec advisory database (default: the one `cargo deny`
        /// keeps under $CARGO_HOME/advisory-dbs/).
        #[arg(long)]
        advisory_db: Option<PathBuf>,
        /// An image to scan (`<registry>/<repository>@sha256:…` or a tag;
        /// repeatable), without a VEX, instead of the release's.
        #[arg(long = "image")]
        images: Vec<String>,
    },
    /// Verify signatures and attestations against a public key.
    Verify {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        registry: RegistryArgs,
        #[command(flatten)]
        verify: VerifyArgs,
        /// Require this format (`both`: each format). Default: either,
        /// whichever the images carry.
        #[arg(long, value_enum)]
        format: Option<Format>,
    },
    /// Write a release record's digests into a committed release layer.
    PinOverlay {
        /// The release layer's folder (its kustomization.yaml is edited).
        #[arg(default_value = "k8s/overlays/release")]
        dir: PathBuf,
        /// The release record.
        #[arg(long, default_value = "dist/release.json")]
        release: PathBuf,
    },
    /// Make a cosign key pair: <out>.key (encrypted with the password in
    /// --password-file, an empty one without it) and <out>.pub.
    Keygen {
        /// Path prefix of the key files.
        #[arg(long, default_value = "cosign")]
        out: PathBuf,
        /// File holding the password to encrypt the key with (default: empty).
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
}

fn step(name: &str, detail: impl std::fmt::Display) {
    progress::stage(name, detail);
}

fn item(detail: impl std::fmt::Display) {
    progress::line(format_args!("    {detail}"));
}

/// What a step works on: the workspace, and the services and platforms
/// the options select (all by default, in [`SERVICES`] and [`PLATFORMS`]
/// order).
struct Selection {
    workspace: Workspace,
    services: Vec<Service>,
    platforms: Vec<Platform>,
}

impl Common {
    fn select(&self) -> anyhow::Result<Selection> {
        let mut workspace = Workspace::new(&self.workspace)?;
        if let Some(dist) = &self.dist {
            workspace = workspace.with_dist(dist);
        }
        let services = if self.services.is_empty() {
            SERVICES.to_vec()
        } else {
            SERVICES
                .into_iter()
                .filter(|s| self.services.contains(&s.id))
                .collect()
        };
        let named = self
            .platforms
            .iter()
            .map(|p| Platform::named(p))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let platforms = PLATFORMS
            .into_iter()
            .filter(|p| named.is_empty() || named.contains(p))
            .collect();
        Ok(Selection {
            workspace,
            services,
            platforms,
        })
    }

    /// As [`Self::select`], failing unless every platform is selected
    /// (`push`, `release`).
    fn select_all_platforms(&self) -> anyhow::Result<Selection> {
        let selection = self.select()?;
        if selection.platforms.len() != PLATFORMS.len() {
            anyhow::bail!(
                "a release is one image index per service with every platform ({}): leave out --platform",
                PLATFORMS.map(|p| p.name()).join(", ")
            );
        }
        Ok(selection)
    }

    /// What the step prints with `--json`: `{"<step>": <its summary>}`.
    fn summary(&self, step: &str, value: Value) -> (bool, Value) {
        (self.json, json!({ step: value }))
    }
}

fn key_files(signing: &SigningArgs) -> KeyFiles {
    KeyFiles {
        private_key: signing.key.clone(),
        password_file: signing.key_password_file.clone(),
    }
}

/// Runs one command; the summary is printed when `--json` asks for it.
pub async fn run(command: Command) -> anyhow::Result<()> {
    let (json, summary) = match command {
        Command::Release(args) => match args {
            ReleaseArgs { step: None, all } => release_all(all).await?,
            ReleaseArgs { step: Some(one), .. } => run_step(one).await?,
        },
        Command::Step(one) => run_step(one).await?,
    };
    if json {
        use std::io::Write as _;
        // The summary is the command's output.
        writeln!(
            std::io::stdout().lock(),
            "{}",
            serde_json::to_string_pretty(&summary)?
        )?;
    }
    Ok(())
}

/// Every step in order; `(--json, the summary)`.
async fn release_all(all: AllSteps) -> anyhow::Result<(bool, Value)> {
    let AllSteps {
        common,
        registry,
        signing,
        verify,
        provenance,
        gate,
        pin_overlay,
    } = all;
    let selection = common.select_all_platforms()?;
    let workspace = &selection.workspace;
    let record = release::release_path(workspace);
    let registry = registry.registry();
    let key = key_files(&signing);
    // Fail before the slow build when the key cannot be used.
    key.signer()?;
    let builder = provenance.builder();
    let advisory_db = builder.advisory_db.clone();
    let summary = json!({
        "build": do_build(&selection)?,
        "sbom": do_sbom(&selection, false)?,
        "images": do_images(&selection)?,
        "gate": do_gate(workspace, &gate)?,
        "push": do_push(&selection, &registry).await?,
        "sign": do_sign(workspace, &registry, &key, signing.format).await?,
        "attest": do_attest(workspace, &registry, Some(&key), &builder, signing.format).await?,
        "scan": do_scan(workspace, &registry, &advisory_db, &[])?,
        "verify": do_verify(workspace, &registry, &verify, Some(signing.format)).await?,
        "release": record,
    });
    step("release", format!("wrote {}", record.display()));
    if let Some(dir) = pin_overlay {
        do_pin(&dir, &record)?;
    }
    Ok((common.json, summary))
}

/// One step; `(--json, the summary)`.
async fn run_step(one: Step) -> anyhow::Result<(bool, Value)> {
    Ok(match one {
        Step::Keygen { out, password_file } => {
            let (private, public) = crate::keys::generate(&out, password_file.as_deref())?;
            step(
                "keygen",
                format!("wrote {} and {}", private.display(), public.display()),
            );
            (false, Value::Null)
        }
        Step::Build(common) => common.summary("build", do_build(&common.select()?)?),
        Step::Sbom { common, check } => common.summary("sbom", do_sbom(&common.select()?, check)?),
        Step::Images(common) => common.summary("images", do_images(&common.select()?)?),
        Step::Gate { common, gate } => common.summary("gate", do_gate(&common.select()?.workspace, &gate)?),
        Step::Push { common, registry } => {
            let selection = common.select_all_platforms()?;
            common.summary("push", do_push(&selection, &registry.registry()).await?)
        }
        Step::Sign {
            common,
            registry,
            signing,
        } => {
            let Selection { workspace, .. } = common.select()?;
            let key = key_files(&signing);
            let signed = do_sign(&workspace, &registry.registry(), &key, signing.format).await?;
            common.summary("sign", signed)
        }
        Step::Attest {
            common,
            registry,
            signing,
            provenance,
            predicates_only,
        } => {
            let Selection { workspace, .. } = common.select()?;
            let key = (!predicates_only).then(|| key_files(&signing));
            let builder = provenance.builder();
            let attested = do_attest(
                &workspace,
                &registry.registry(),
                key.as_ref(),
                &builder,
                signing.format,
            )
            .await?;
            common.summary("attest", attested)
        }
        Step::Scan {
            common,
            registry,
            advisory_db,
            images,
        } => {
            let Selection { workspace, .. } = common.select()?;
            let advisory_db = advisory_db.unwrap_or_else(gate::advisory_db);
            let scanned = do_scan(&workspace, &registry.registry(), &advisory_db, &images)?;
            common.summary("scan", scanned)
        }
        Step::Verify {
            common,
            registry,
            verify,
            format,
        } => {
            let Selection { workspace, .. } = common.select()?;
            let verified = do_verify(&workspace, &registry.registry(), &verify, format).await?;
            common.summary("verify", verified)
        }
        Step::PinOverlay { dir, release } => {
            do_pin(&dir, &release)?;
            (false, Value::Null)
        }
    })
}

fn do_pin(dir: &std::path::Path, record: &std::path::Path) -> anyhow::Result<()> {
    let release = release::Release::read(record, "run `cloudshop release` first")?;
    let path = crate::pin::pin_overlay(dir, &release)?;
    step(
        "pin-overlay",
        format!(
            "{} now names release {} by digest",
            path.display(),
            release.commit
        ),
    );
    Ok(())
}

fn do_build(selection: &Selection) -> anyhow::Result<Value> {
    let Selection {
        workspace,
        services,
        platforms,
    } = selection;
    step(
        "build",
        format!(
            "cargo auditable build --profile {} for {}, {} binaries",
            crate::build::PROFILE,
            platforms
                .iter()
                .map(|p| p.target)
                .collect::<Vec<_>>()
                .join(" and "),
            services.len() * platforms.len()
        ),
    );
    let record = release::build(workspace, services, platforms)?;
    for binary in &record.binaries {
        item(format!(
            "{:<12} {:<12} {:>6.2} MB  {}",
            binary.service,
            binary.platform,
            mb(binary.size),
            binary.digest
        ));
    }
    Ok(serde_json::to_value(record)?)
}

fn do_sbom(selection: &Selection, check: bool) -> anyhow::Result<Value> {
    let Selection {
        workspace,
        services,
        platforms,
    } = selection;
    step(
        "sbom",
        if check {
            "checking sbom/ against the binaries"
        } else {
            "writing sbom/"
        },
    );
    let paths = release::sboms(workspace, services, platforms, check)?;
    for path in &paths {
        item(path.display());
    }
    Ok(json!(paths))
}

fn do_images(selection: &Selection) -> anyhow::Result<Value> {
    let Selection {
        workspace,
        services,
        platforms,
    } = selection;
    let engine = Engine::detect()?;
    step("images", format!("FROM scratch with {}", engine.program()));
    let images = crate::images::build(engine, workspace, services, platforms)?;
    for image in &images {
        item(format!(
            "{:<34} {:<12} {:>6.2} MB  {}",
            image.tag,
            image.platform,
            mb(image.size),
            image.id
        ));
    }
    Ok(serde_json::to_value(images)?)
}

fn do_gate(workspace: &Workspace, args: &GateArgs) -> anyhow::Result<Value> {
    step("gate", "cargo deny check, hadolint");
    gate::deny(&workspace.root, args.offline)?;
    item("cargo deny: advisories, bans, licenses, sources ok");
    let checked = gate::hadolint(&workspace.root.join("images"))?;
    item(format!("hadolint: {checked} Dockerfiles ok"));
    Ok(json!({ "cargo_deny": "ok", "hadolint": checked }))
}

async fn do_push(selection: &Selection, registry: &Registry) -> anyhow::Result<Value> {
    let Selection {
        workspace, services, ..
    } = selection;
    step("push", registry.host());
    let release = release::push(Engine::detect()?, workspace, registry, services).await?;
    for service in &release.services {
        item(format!("{}  (index)", service.image));
        for platform in &service.platforms {
            item(format!("  {:<12} {}", platform.platform, platform.digest));
        }
    }
    Ok(serde_json::to_value(release)?)
}

async fn do_sign(
    workspace: &Workspace,
    registry: &Registry,
    key: &KeyFiles,
    format: Format,
) -> anyhow::Result<Value> {
    step(
        "sign",
        format!("{} ({} format)", key.private_key.display(), format.name()),
    );
    let release = release::sign(workspace, registry, key, format).await?;
    let mut signatures = Vec::new();
    for service in &release.services {
        signatures.push(&service.signature);
        signatures.extend(service.platforms.iter().map(|p| &p.signature));
    }
    for signature in &signatures {
        item(signature.as_deref().unwrap_or_default());
    }
    Ok(json!(signatures))
}

async fn do_attest(
    workspace: &Workspace,
    registry: &Registry,
    key: Option<&KeyFiles>,
    builder: &Builder,
    format: Format,
) -> anyhow::Result<Value> {
    step(
        "attest",
        if key.is_some() {
            format!(
                "CycloneDX SBOM, SLSA provenance v1 and OpenVEX ({} format)",
                format.name()
            )
        } else {
            "writing dist/predicates/ only".to_owned()
        },
    );
    let release = release::attest(workspace, registry, key, builder, format).await?;
    let mut attestations = Vec::new();
    for service in &release.services {
        attestations.push(&service.attestation);
        attestations.extend(service.platforms.iter().map(|p| &p.attestation));
    }
    for attestation in &attestations {
        item(attestation.as_deref().unwrap_or_default());
    }
    Ok(json!(attestations))
}

fn do_scan(
    workspace: &Workspace,
    registry: &Registry,
    advisory_db: &std::path::Path,
    images: &[String],
) -> anyhow::Result<Value> {
    step(
        "scan",
        format!(
            "trivy {}, offline, database from {}",
            crate::scan::TRIVY_VERSION,
            advisory_db.display()
        ),
    );
    let scanner = crate::scan::Scanner::new(advisory_db)?;
    item(&scanner.database);
    let reports = if images.is_empty() {
        release::scan(workspace, registry, &scanner)?
    } else {
        images
            .iter()
            .map(|image| scanner.scan(image, None))
            .collect::<anyhow::Result<_>>()?
    };
    for report in &reports {
        let answered: Vec<&str> = report.not_affected.iter().map(|f| f.id.as_str()).collect();
        item(format!(
            "{}  {} crates; findings: {} ({} {}); not affecting it per its VEX: {}{}",
            report.image,
            report.packages,
            report.findings.len(),
            report.blocking().len(),
            crate::scan::BLOCKING.join("/"),
            answered.len(),
            if answered.is_empty() {
                String::new()
            } else {
                format!(" ({})", answered.join(", "))
            }
        ));
        for finding in &report.findings {
            item(format!("  {finding}"));
        }
    }
    crate::scan::gate(&reports)?;
    Ok(serde_json::to_value(reports)?)
}

async fn do_verify(
    workspace: &Workspace,
    registry: &Registry,
    args: &VerifyArgs,
    format: Option<Format>,
) -> anyhow::Result<Value> {
    step(
        "verify",
        format!(
            "{} ({})",
            args.public_key.display(),
            format.map_or("either format", |f| f.name())
        ),
    );
    let verified = release::verify(workspace, registry, &args.public_key, format).await?;
    for v in &verified {
        item(format!(
            "{}  signed and attested ({}): {}",
            v.image,
            v.formats.join(", "),
            v.attestations.join(", ")
        ));
    }
    Ok(serde_json::to_value(verified)?)
}

#[allow(clippy::cast_precision_loss)] // sizes in MB for people
fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1_000_000.0
}
