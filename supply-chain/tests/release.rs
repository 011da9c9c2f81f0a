//! The release pipeline end to end, against a real registry (Debian's
//! `docker-registry` on 127.0.0.1), real podman, real cosign and syft.
//!
//! One fixture per test binary: `cloudshop release` (build, sbom, images,
//! gate, push, sign, attest, verify) with a fresh key pair. The tests then
//! look at what it made, and at what `verify` refuses.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use clap::Parser;
use cloudshop_api::auth::{Credentials, Password, Registration};
use cloudshop_api::client::{Caller, Client};
use cloudshop_api::orders::{Line, OrderRequest, OrderStatus};
use cloudshop_api::paths;
use cloudshop_api::products::ProductQuery;
use cloudshop_supply_chain::dsse::{CYCLONEDX, SLSA_PROVENANCE_V1};
use cloudshop_supply_chain::images::Engine;
use cloudshop_supply_chain::keys::KeyFiles;
use cloudshop_supply_chain::registry::{Registry, cosign_tag};
use cloudshop_supply_chain::release::{self, Release};
use cloudshop_supply_chain::{
    AMD64, ARM64, Format, PLATFORMS, Platform, SERVICES, Service, Workspace, build, bundle, elf, images,
    sbom, verify,
};
use cloudshop_topology::ServiceId;

#[derive(Debug, Parser)]
struct Cli {
    #[command(subcommand)]
    command: cloudshop_supply_chain::cli::Command,
}

#[derive(Debug)]
struct Fixture {
    workspace: Workspace,
    registry: String,
    key: KeyFiles,
    public_key: PathBuf,
    scratch: PathBuf,
    release: Release,
}

static FIXTURE: OnceLock<Result<Fixture, String>> = OnceLock::new();

fn fixture() -> &'static Fixture {
    let result = FIXTURE.get_or_init(|| {
        // The pipeline is async; run it on a runtime of its own, whatever
        // runtime the first test to get here is on.
        std::thread::spawn(|| {
            tokio::runtime::Runtime::new()
                .map_err(|e| e.to_string())?
                .block_on(setup())
                .map_err(|e| format!("{e:#}"))
        })
        .join()
        .unwrap_or_else(|_| Err("the release fixture panicked".into()))
    });
    match result {
        Ok(fixture) => fixture,
        Err(reason) => panic!("cannot run the release pipeline: {reason}"),
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// A folder of this test binary's, removed (with the registry stopped) by a
/// watchdog when the binary exits.
fn scratch_dir() -> anyhow::Result<PathBuf> {
    let dir = tempfile::Builder::new()
        .prefix("cloudshop-release-")
        .tempdir()?
        .keep();
    Ok(dir)
}

/// Starts `docker-registry` on a free loopback port for this test binary.
fn start_registry(scratch: &Path) -> anyhow::Result<String> {
    let port = cloudshop_host::ports::reserve_one()?;
    let config = scratch.join("registry.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            scratch.join("registry").display()
        ),
    )?;
    // The watchdog's stdin is a pipe from this process: EOF when it is gone.
    let script = r#"docker-registry serve "$1" >"$2/registry.log" 2>&1 & r=$!
cat >/dev/null
kill $r; wait $r
for c in $(podman ps -aq --filter label=cloudshop.test="$2" 2>/dev/null); do podman rm -f "$c" >/dev/null 2>&1; done
rm -rf "$2""#;
    let watchdog = Command::new("sh")
        .args(["-c", script, "watchdog"])
        .arg(&config)
        .arg(scratch)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()?;
    std::mem::forget(watchdog);
    let address = format!("127.0.0.1:{port}");
    for _ in 0..100 {
        if std::net::TcpStream::connect(&address).is_ok() {
            return Ok(address);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    anyhow::bail!(
        "docker-registry did not start: {}",
        std::fs::read_to_string(scratch.join("registry.log"))?
    )
}

async fn run_cli(args: &[&str]) -> anyhow::Result<()> {
    let cli = Cli::try_parse_from(std::iter::once("cloudshop").chain(args.iter().copied()))?;
    cloudshop_supply_chain::cli::run(cli.command).await
}

async fn setup() -> anyhow::Result<Fixture> {
    let root = workspace_root();
    let scratch = scratch_dir()?;
    let registry = start_registry(&scratch)?;
    let dist = root.join("target").join("supply-chain-test");
    let workspace = Workspace::new(&root)?.with_dist(&dist);
    let password = scratch.join("key-password");
    std::fs::write(&password, "correct horse battery staple\n")?;
    let prefix = scratch.join("cosign");
    let password_arg = password.display().to_string();
    run_cli(&[
        "keygen",
        "--out",
        &prefix.display().to_string(),
        "--password-file",
        &password_arg,
    ])
    .await?;
    let key = KeyFiles {
        private_key: prefix.with_extension("key"),
        password_file: Some(password),
    };
    let public_key = prefix.with_extension("pub");

    // The SBOM check first: `release` rewrites sbom/, and a stale sbom/ must
    // fail the test command rather than be silently refreshed.
    let root_arg = root.display().to_string();
    let dist_arg = dist.display().to_string();
    let common = ["--workspace", root_arg.as_str(), "--dist", dist_arg.as_str()];
    run_cli(&[&["build"][..], &common].concat()).await?;
    run_cli(&[&["sbom", "--check"][..], &common].concat()).await?;

    let key_arg = key.private_key.display().to_string();
    let public_arg = public_key.display().to_string();
    let mut release = vec![
        "release",
        "--registry",
        &registry,
        "--key",
        &key_arg,
        "--key-password-file",
        &password_arg,
    ];
    release.extend(["--public-key", &public_arg]);
    release.extend(common);
    if std::env::var_os("CLOUDSHOP_GATE_ONLINE").is_none() {
        release.push("--offline");
    }
    run_cli(&release).await?;
    let release: Release = serde_json::from_str(&std::fs::read_to_string(dist.join("release.json"))?)?;
    Ok(Fixture {
        workspace,
        registry,
        key,
        public_key,
        scratch,
        release,
    })
}

fn released(fixture: &Fixture, id: ServiceId) -> &cloudshop_supply_chain::release::Released {
    fixture
        .release
        .services
        .iter()
        .find(|s| s.id == id)
        .expect("service in release.json")
}

fn engine() -> Engine {
    Engine::detect().expect("a container engine")
}

fn podman(args: &[&str]) -> String {
    let out = Command::new("podman").args(args).output().expect("podman runs");
    assert!(
        out.status.success(),
        "podman {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs cosign (installed by scripts/test.sh); returns (success, output).
fn cosign(args: &[&str], password: Option<&str>) -> (bool, String) {
    let mut command = Command::new("cosign");
    command
        .args(args)
        .env("COSIGN_YES", "true")
        .env_remove("COSIGN_PASSWORD");
    // cosign reads a key's password only from this variable; the test key's
    // password is a throwaway.
    if let Some(password) = password {
        command.env("COSIGN_PASSWORD", password);
    }
    let out = command
        .output()
        .expect("cosign is installed (scripts/test.sh installs it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

const COSIGN_LOCAL: [&str; 3] = [
    "--allow-http-registry=true",
    "--allow-insecure-registry=true",
    "--insecure-ignore-tlog=true",
];

#[tokio::test]
async fn release_records_every_service_by_digest_signed_and_attested() {
    let fixture = fixture();
    let names: Vec<_> = fixture.release.services.iter().map(|s| s.id.name()).collect();
    assert_eq!(names, SERVICES.iter().map(|s| s.name).collect::<Vec<_>>());
    for service in &fixture.release.services {
        assert_eq!(
            service.image,
            format!("{}/cloudshop/{}@{}", fixture.registry, service.id, service.digest)
        );
        assert!(
            service.signature.as_deref().is_some_and(|s| s.ends_with(".sig")),
            "{service:?}"
        );
        assert!(
            service
                .attestation
                .as_deref()
                .is_some_and(|s| s.ends_with(".att")),
            "{service:?}"
        );
        // One image per platform, amd64 then arm64, each signed and attested.
        let platforms: Vec<_> = service.platforms.iter().map(|p| p.platform.as_str()).collect();
        assert_eq!(platforms, ["linux/amd64", "linux/arm64"], "{}", service.id);
        let named = service.id.service();
        for image in &service.platforms {
            let platform = Platform::named(&image.platform).expect("platform");
            assert_eq!(
                image.image,
                format!("{}/cloudshop/{}@{}", fixture.registry, service.id, image.digest)
            );
            assert_ne!(image.digest, service.digest);
            assert!(
                image.signature.as_deref().is_some_and(|s| s.ends_with(".sig")),
                "{image:?}"
            );
            assert!(
                image.attestation.as_deref().is_some_and(|s| s.ends_with(".att")),
                "{image:?}"
            );
            assert_eq!(
                image.sbom_digest,
                cloudshop_supply_chain::file_digest(&fixture.workspace.sbom(named, platform))
                    .expect("sbom digest")
            );
            assert_eq!(
                image.binary_digest,
                cloudshop_supply_chain::file_digest(&fixture.workspace.binary(named, platform))
                    .expect("binary digest")
            );
        }
        // The registry's index under the version tag lists exactly those two.
        let registry = Registry::new(&fixture.registry);
        let index_tag = registry.tagged(&named.repository(), &fixture.release.version);
        assert_eq!(
            registry.digest(&index_tag).await.expect("index digest"),
            service.digest
        );
        let (bytes, _) = registry
            .manifest_of(&index_tag, &[cloudshop_supply_chain::registry::OCI_INDEX])
            .await
            .expect("index")
            .expect("an OCI image index");
        let index: serde_json::Value = serde_json::from_slice(&bytes).expect("index JSON");
        let listed: Vec<(String, String)> = index["manifests"]
            .as_array()
            .expect("manifests")
            .iter()
            .map(|m| {
                (
                    m["platform"]["architecture"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    m["digest"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        assert_eq!(
            listed,
            service
                .platforms
                .iter()
                .map(|p| (
                    p.platform.trim_start_matches("linux/").to_owned(),
                    p.digest.clone()
                ))
                .collect::<Vec<_>>()
        );
    }
}

#[tokio::test]
async fn binaries_are_static_stripped_and_carry_their_dependency_list() {
    let fixture = fixture();
    for platform in PLATFORMS {
        for service in SERVICES {
            let binary = fixture.workspace.binary(&service, platform);
            elf::check_static(&binary, platform).expect("fully static, for its platform");
            let sections = Command::new("readelf")
                .args(["-S", "-W"])
                .arg(&binary)
                .output()
                .expect("readelf");
            let sections = String::from_utf8_lossy(&sections.stdout);
            assert!(
                !sections.contains(".symtab"),
                "{} is not stripped",
                binary.display()
            );
            assert!(
                sections.contains(".dep-v0"),
                "{} has no cargo-auditable section",
                binary.display()
            );
            let header = Command::new("readelf")
                .arg("-h")
                .arg(&binary)
                .output()
                .expect("readelf -h");
            let header = String::from_utf8_lossy(&header.stdout);
            let machine = if platform == ARM64 { "AArch64" } else { "X86-64" };
            assert!(
                header
                    .lines()
                    .any(|l| l.contains("Machine:") && l.contains(machine)),
                "{}: {header}",
                binary.display()
            );
            let info = sbom::audit_info(&binary).expect("audit info");
            assert!(info.packages.iter().any(|p| p.root && p.name == service.package));
        }
    }
    // The dynamic-section check is a real one: a glibc binary fails it, and
    // so does a binary of the other platform.
    let err = elf::check_static(Path::new("/bin/sh"), AMD64).expect_err("/bin/sh is dynamic");
    assert!(err.to_string().contains("interpreter"), "{err}");
    let orders = ServiceId::Orders.service();
    let err =
        elf::check_static(&fixture.workspace.binary(orders, AMD64), ARM64).expect_err("amd64 is not arm64");
    assert!(err.to_string().contains("linux/arm64"), "{err}");
}

/// Every arm64 binary runs under user-mode emulation (qemu-user-static):
/// `--help` answers with its usage, a wrong argument is refused with exit 2.
#[tokio::test]
async fn arm64_binaries_run_under_emulation() {
    let fixture = fixture();
    for service in SERVICES {
        let binary = fixture.workspace.binary(&service, ARM64);
        let out = Command::new("qemu-aarch64-static")
            .arg(&binary)
            .arg("--help")
            .output()
            .expect("qemu-aarch64-static (scripts/test.sh installs qemu-user-static)");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{}: {out:?}", service.name);
        assert!(text.starts_with(&format!("{} ", service.name)), "{text}");
        assert!(text.contains("CLOUDSHOP_CONFIG"), "{text}");
        let out = Command::new("qemu-aarch64-static")
            .arg(&binary)
            .arg("--no-such-flag")
            .output()
            .expect("qemu-aarch64-static");
        assert_eq!(out.status.code(), Some(2), "{}: {out:?}", service.name);
        assert!(String::from_utf8_lossy(&out.stderr).contains("unexpected arguments"));
    }
}

/// The provenance says what was done: the `dist` profile, the musl target,
/// each service's own package, the commit and `Cargo.lock` that were built,
/// the compiler, the binary's digest, and a build type whose document exists.
#[tokio::test]
async fn provenance_states_how_each_binary_was_built() {
    let fixture = fixture();
    let root = &fixture.workspace.root;
    let dist = &fixture.workspace.dist;
    let head = Command::new("git")
        .current_dir(root)
        .args(["rev-parse", "HEAD"])
        .output()
        .expect("git rev-parse");
    let head = String::from_utf8_lossy(&head.stdout).trim().to_owned();
    let rustc = Command::new("rustc")
        .current_dir(root)
        .arg("--version")
        .output()
        .expect("rustc --version");
    let rustc = String::from_utf8_lossy(&rustc.stdout).trim().to_owned();
    let lock = cloudshop_supply_chain::file_digest(&root.join("Cargo.lock")).expect("Cargo.lock");
    let auditable = Command::new("cargo")
        .args(["install", "--list"])
        .output()
        .expect("cargo install --list");
    let auditable = String::from_utf8_lossy(&auditable.stdout)
        .lines()
        .find(|l| l.starts_with("cargo-auditable v"))
        .expect("cargo-auditable is installed")
        .trim_end_matches(':')
        .to_owned();
    let commit_time = Command::new("git")
        .current_dir(root)
        .args(["log", "-1", "--format=%ct"])
        .output()
        .expect("git log");
    let commit_time: i64 = String::from_utf8_lossy(&commit_time.stdout)
        .trim()
        .parse()
        .expect("the commit's time");
    for service in SERVICES.iter() {
        // Each platform image's provenance names its target and binary; the
        // index's names both.
        let mut files: Vec<(String, Vec<Platform>)> = PLATFORMS
            .iter()
            .map(|p| {
                (
                    format!("{}-{}.provenance.json", service.name, p.architecture),
                    vec![*p],
                )
            })
            .collect();
        files.push((format!("{}.provenance.json", service.name), PLATFORMS.to_vec()));
        for (file, platforms) in files {
            let path = dist.join("predicates").join(&file);
            let provenance: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&path).expect("provenance")).expect("json");
            let definition = &provenance["buildDefinition"];
            let build_type = definition["buildType"].as_str().expect("buildType");
            let (document, section) = build_type
                .strip_prefix("https://github.com/cloudshop/cloudshop/blob/main/")
                .and_then(|rest| rest.split_once('#'))
                .unwrap_or_else(|| panic!("{build_type} is not a document of this repository"));
            let text = std::fs::read_to_string(root.join(document))
                .unwrap_or_else(|e| panic!("{build_type}: {document} cannot be read: {e}"));
            assert!(
                text.lines().any(|line| line == format!("## {section}")),
                "{document} has no section `## {section}`"
            );
            let parameters = &definition["externalParameters"];
            assert_eq!(parameters["profile"], build::PROFILE, "{file}");
            assert_eq!(parameters["profile"], "dist");
            assert_eq!(
                parameters["targets"],
                serde_json::json!(platforms.iter().map(|p| p.target).collect::<Vec<_>>()),
                "{file}"
            );
            assert_eq!(
                parameters["services"],
                serde_json::json!([service.name]),
                "{file}"
            );
            assert_eq!(parameters["package"], service.package);
            assert_eq!(
                parameters["source"]["uri"],
                format!("git+{}", cloudshop_supply_chain::provenance::REPOSITORY),
                "{file}"
            );
            assert_eq!(parameters["source"]["digest"]["gitCommit"], head.as_str());
            let internal = &definition["internalParameters"];
            assert_eq!(internal["rustc"], rustc.as_str());
            assert_eq!(internal["cargoAuditable"], auditable.as_str());
            assert_eq!(internal["sourceDateEpoch"], commit_time, "{file}");
            assert!(internal["dirtyTree"].is_boolean(), "{file}");
            let dependencies = definition["resolvedDependencies"]
                .as_array()
                .expect("dependencies");
            assert_eq!(dependencies.len(), 4, "{file}: {dependencies:?}");
            assert_eq!(
                dependencies[0]["uri"],
                format!("git+{}@{head}", cloudshop_supply_chain::provenance::REPOSITORY)
            );
            assert_eq!(dependencies[0]["digest"]["gitCommit"], head.as_str());
            let named = |name: &str| {
                dependencies
                    .iter()
                    .find(|d| d["name"] == name)
                    .unwrap_or_else(|| panic!("{file}: {name} not in resolvedDependencies"))
            };
            assert_eq!(
                format!(
                    "sha256:{}",
                    named("Cargo.lock")["digest"]["sha256"].as_str().expect("digest")
                ),
                lock
            );
            let rustc_version = rustc.split_whitespace().nth(1).expect("rustc's version");
            assert_eq!(
                named("rustc")["uri"],
                format!("pkg:generic/rustc@{rustc_version}")
            );
            assert_eq!(named("rustc")["annotations"]["version"], rustc.as_str());
            let auditable_version = auditable.trim_start_matches("cargo-auditable v");
            assert_eq!(
                named("cargo-auditable")["uri"],
                format!("pkg:cargo/cargo-auditable@{auditable_version}")
            );
            let run = &provenance["runDetails"];
            assert_eq!(
                run["builder"]["id"],
                cloudshop_supply_chain::provenance::LOCAL_BUILDER,
                "{file}"
            );
            for time in ["startedOn", "finishedOn"] {
                let stamp = run["metadata"][time].as_str().expect("timestamp");
                time::OffsetDateTime::parse(stamp, &time::format_description::well_known::Rfc3339)
                    .unwrap_or_else(|e| panic!("{file}: {time} {stamp}: {e}"));
            }
            // The binaries, then the SBOMs, each by its digest.
            let byproducts = run["byproducts"].as_array().expect("byproducts");
            assert_eq!(byproducts.len(), 2 * platforms.len(), "{file}");
            let (binaries, sboms) = byproducts.split_at(platforms.len());
            for ((binary_entry, sbom_entry), platform) in binaries.iter().zip(sboms).zip(&platforms) {
                let binary = fixture.workspace.binary(service, *platform);
                let relative = binary.strip_prefix(dist).expect("below dist/");
                assert_eq!(binary_entry["name"], relative.display().to_string(), "{file}");
                assert_eq!(
                    format!(
                        "sha256:{}",
                        binary_entry["digest"]["sha256"].as_str().expect("digest")
                    ),
                    cloudshop_supply_chain::file_digest(&binary).expect("binary"),
                    "{file}: the provenance names another binary than {} holds",
                    relative.display()
                );
                let sbom = fixture.workspace.sbom(service, *platform);
                let relative = sbom.strip_prefix(root).expect("below the checkout");
                assert_eq!(sbom_entry["name"], relative.display().to_string(), "{file}");
                assert_eq!(sbom_entry["mediaType"], "application/vnd.cyclonedx+json");
                assert_eq!(
                    format!(
                        "sha256:{}",
                        sbom_entry["digest"]["sha256"].as_str().expect("digest")
                    ),
                    cloudshop_supply_chain::file_digest(&sbom).expect("sbom"),
                    "{file}: the provenance names another SBOM than {} holds",
                    relative.display()
                );
            }
        }
    }
}

/// Each image's OpenVEX document: every vulnerability advisory that affects
/// a crate of `Cargo.lock` gets a statement; `rsa` (RUSTSEC-2023-0071, the
/// one `deny.toml` accepts) is compiled into the release tool only, so every
/// image is `not_affected` by it with `component_not_present` (its binary's
/// cargo-auditable list names it all the same: see `vex.rs`), and a
/// statement is `affected` exactly when its crate is both listed in and
/// compiled into that image's binary.
#[tokio::test]
async fn vex_says_which_advisories_each_image_is_affected_by() {
    let fixture = fixture();
    let dist = &fixture.workspace.dist;
    for service in &fixture.release.services {
        let named = service.id.service();
        let mut documents = vec![(
            format!("{}.vex.json", service.id),
            service.digest.clone(),
            PLATFORMS.to_vec(),
        )];
        documents.extend(service.platforms.iter().map(|p| {
            let platform = Platform::named(&p.platform).expect("platform");
            (
                format!("{}-{}.vex.json", service.id, platform.architecture),
                p.digest.clone(),
                vec![platform],
            )
        }));
        for (file, digest, platforms) in documents {
            let vex: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(dist.join("predicates").join(&file)).expect("vex"),
            )
            .expect("json");
            assert_eq!(vex["@context"], "https://openvex.dev/ns/v0.2.0", "{file}");
            let (mut listed, mut compiled) = (BTreeSet::new(), BTreeSet::new());
            for platform in &platforms {
                let info = sbom::audit_info(&fixture.workspace.binary(named, *platform)).expect("audit data");
                listed.extend(sbom::runtime_crates(&info));
                compiled.extend(
                    cloudshop_supply_chain::vex::compiled_crates(
                        &fixture.workspace.root,
                        named.package,
                        platform.target,
                    )
                    .expect("cargo tree"),
                );
            }
            let statements = vex["statements"].as_array().expect("statements");
            let rsa = statements
                .iter()
                .find(|s| s["vulnerability"]["name"] == "RUSTSEC-2023-0071")
                .unwrap_or_else(|| panic!("{file}: no statement on rsa: {vex}"));
            assert_eq!(rsa["status"], "not_affected", "{file}");
            assert_eq!(rsa["justification"], "component_not_present", "{file}");
            for statement in statements {
                let product = &statement["products"][0];
                assert_eq!(
                    product["@id"],
                    cloudshop_supply_chain::vex::image_purl(
                        &format!("{}/{}", fixture.registry, named.repository()),
                        &digest
                    ),
                    "{file}"
                );
                let component = product["subcomponents"][0]["@id"].as_str().expect("component");
                let (name, version) = component
                    .strip_prefix("pkg:cargo/")
                    .and_then(|c| c.split_once('@'))
                    .expect("a cargo purl");
                let key = (name.to_owned(), version.to_owned());
                let inside = listed.contains(&key) && compiled.contains(&key);
                assert_eq!(
                    statement["status"],
                    if inside { "affected" } else { "not_affected" },
                    "{file}: {statement}"
                );
            }
        }
    }
}

#[tokio::test]
async fn images_are_small_non_root_scratch_images_with_labels_and_healthcheck() {
    let fixture = fixture();
    for (service, image) in fixture
        .release
        .services
        .iter()
        .flat_map(|s| s.platforms.iter().map(move |p| (s, p)))
    {
        assert!(
            image.image_size <= 12_000_000,
            "{} {} image is {} bytes",
            service.id,
            image.platform,
            image.image_size
        );
        let platform = Platform::named(&image.platform).expect("platform");
        let tag = images::local_tag(service.id.service(), &fixture.release.version, platform);
        let config: serde_json::Value =
            serde_json::from_str(&podman(&["image", "inspect", &tag])).expect("inspect json");
        let config = &config[0];
        assert_eq!(config["Os"], "linux");
        assert_eq!(config["Architecture"], platform.architecture, "{tag}");
        assert_eq!(config["Config"]["User"], "65532:65532");
        assert_eq!(config["Config"]["Entrypoint"][0], format!("/{}", service.id));
        assert_eq!(
            config["RootFS"]["Layers"].as_array().map(Vec::len),
            Some(1),
            "one layer: the binary"
        );
        let labels = &config["Labels"];
        assert_eq!(
            labels["org.opencontainers.image.revision"],
            fixture.release.commit.as_str()
        );
        assert_eq!(labels["org.opencontainers.image.licenses"], "Apache-2.0");
        assert!(
            labels["org.opencontainers.image.created"]
                .as_str()
                .is_some_and(|c| c.ends_with('Z'))
        );
        let health = podman(&["image", "inspect", "--format", "{{json .HealthCheck}}", &tag]);
        assert!(health.contains("healthcheck"), "{}: {health}", service.id);
        let ports = podman(&[
            "image",
            "inspect",
            "--format",
            "{{json .Config.ExposedPorts}}",
            &tag,
        ]);
        let service = service.id.service();
        assert!(
            ports.contains(&format!("{}/tcp", service.ports.api))
                && ports.contains(&format!("{}/tcp", service.ports.admin))
        );
    }
}

#[tokio::test]
async fn sbom_lists_exactly_the_crates_syft_finds_in_each_image() {
    let fixture = fixture();
    // syft reads the index and picks the platform asked for, as a pull would.
    for (service, platform) in fixture
        .release
        .services
        .iter()
        .flat_map(|s| PLATFORMS.iter().map(move |p| (s, *p)))
    {
        let sbom: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(fixture.workspace.sbom(service.id.service(), platform))
                .expect("sbom file"),
        )
        .expect("sbom json");
        assert_eq!(sbom["metadata"]["properties"][0]["value"], platform.target);
        assert_eq!(sbom["bomFormat"], "CycloneDX");
        assert_eq!(sbom["specVersion"], "1.5");
        let mut listed: BTreeSet<(String, String)> = sbom["components"]
            .as_array()
            .expect("components")
            .iter()
            .map(|c| {
                (
                    c["name"].as_str().unwrap_or_default().to_owned(),
                    c["version"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let root = &sbom["metadata"]["component"];
        listed.insert((
            root["name"].as_str().unwrap_or_default().into(),
            root["version"].as_str().unwrap_or_default().into(),
        ));
        // Every registry crate carries its Cargo.lock checksum and a licence.
        for component in sbom["components"].as_array().expect("components") {
            if component["externalReferences"].is_array() {
                assert!(
                    component["hashes"][0]["content"]
                        .as_str()
                        .is_some_and(|h| h.len() == 64),
                    "{component}"
                );
                assert!(component["licenses"].is_array(), "{component}");
            }
        }
        let out = Command::new("syft")
            .args(["scan", "-q", "-o", "json", "--platform", &platform.name()])
            .arg(format!("registry:{}", service.image))
            .env("SYFT_REGISTRY_INSECURE_USE_HTTP", "true")
            .env("SYFT_CHECK_FOR_APP_UPDATE", "false")
            .output()
            .expect("syft is installed (scripts/test.sh installs it)");
        assert!(
            out.status.success(),
            "syft: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let scan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("syft json");
        let found: BTreeSet<(String, String)> = scan["artifacts"]
            .as_array()
            .expect("artifacts")
            .iter()
            .filter(|a| a["type"] == "rust-crate")
            .map(|a| {
                (
                    a["name"].as_str().unwrap_or_default().to_owned(),
                    a["version"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        assert!(!found.is_empty(), "syft found no crates in {}", service.image);
        let only_sbom: Vec<_> = listed.difference(&found).collect();
        let only_syft: Vec<_> = found.difference(&listed).collect();
        assert!(
            only_sbom.is_empty() && only_syft.is_empty(),
            "{} {}: only in SBOM {only_sbom:?}, only in syft {only_syft:?}",
            service.id,
            platform.name()
        );
    }
}

#[tokio::test]
async fn cosign_verifies_our_signatures_and_attestations() {
    let fixture = fixture();
    let public = fixture.public_key.display().to_string();
    // The index and each platform image, each by its own digest.
    let images = fixture
        .release
        .services
        .iter()
        .flat_map(|s| std::iter::once(&s.image).chain(s.platforms.iter().map(|p| &p.image)));
    for image in images {
        let (ok, out) = cosign(
            &[&["verify", "--key", &public][..], &COSIGN_LOCAL, &[image]].concat(),
            None,
        );
        assert!(ok, "cosign verify {image}: {out}");
        for kind in ["cyclonedx", "slsaprovenance1", "openvex"] {
            let args = [
                &["verify-attestation", "--key", &public, "--type", kind][..],
                &COSIGN_LOCAL,
                &[image],
            ]
            .concat();
            let (ok, out) = cosign(&args, None);
            assert!(ok, "cosign verify-attestation --type {kind} {image}: {out}");
        }
    }
    // And it refuses them with another key.
    let other = fixture.scratch.join("other");
    cloudshop_supply_chain::keys::generate(&other, None).expect("other key");
    let other = other.with_extension("pub").display().to_string();
    let image = &released(fixture, ServiceId::Orders).image;
    let (ok, _) = cosign(
        &[&["verify", "--key", &other][..], &COSIGN_LOCAL, &[image]].concat(),
        None,
    );
    assert!(!ok, "cosign accepted a signature with the wrong key");
}

/// Pushes a copy of a released image under another repository name.
async fn copy_image(fixture: &Fixture, from: ServiceId, repository: &str) -> String {
    let tag = format!("cloudshop/{from}:{}", fixture.release.version);
    let remote = format!("{}/{repository}:copy", fixture.registry);
    podman(&[
        "push",
        "--quiet",
        "--tls-verify=false",
        &tag,
        &format!("docker://{remote}"),
    ]);
    Registry::new(&fixture.registry)
        .digest(&Registry::new(&fixture.registry).tagged(repository, "copy"))
        .await
        .expect("digest of the copy")
}

/// Copies the released `service` image to `repository`, signs it with the
/// release key and attests its SBOM and a provenance with real cosign
/// (key-based, no transparency log), in cosign's legacy layout or its
/// bundle format; returns the copy's digest.
async fn cosign_signed_and_attested(
    fixture: &Fixture,
    service: ServiceId,
    repository: &str,
    bundles: bool,
) -> String {
    let digest = copy_image(fixture, service, repository).await;
    let image = format!("{}/{repository}@{digest}", fixture.registry);
    let password =
        std::fs::read_to_string(fixture.key.password_file.as_ref().expect("password")).expect("password");
    let key = fixture.key.private_key.display().to_string();
    let bundle_format = format!("--new-bundle-format={bundles}");
    let cosign_write = [
        "--tlog-upload=false",
        "--allow-http-registry=true",
        "--allow-insecure-registry=true",
        bundle_format.as_str(),
        "--use-signing-config=false",
    ];
    let (ok, out) = cosign(
        &[&["sign", "--key", &key][..], &cosign_write, &[&image]].concat(),
        Some(password.trim_end()),
    );
    assert!(ok, "cosign sign: {out}");
    let sbom = fixture
        .workspace
        .sbom(service.service(), AMD64)
        .display()
        .to_string();
    let provenance = fixture
        .scratch
        .join(format!("{}-provenance.json", repository.replace('/', "-")));
    std::fs::write(&provenance, r#"{"buildDefinition":{"buildType":"https://example.com/t","externalParameters":{}},"runDetails":{"builder":{"id":"https://example.com/b"}}}"#)
        .expect("predicate");
    let provenance = provenance.display().to_string();
    for (kind, predicate) in [("cyclonedx", &sbom), ("slsaprovenance1", &provenance)] {
        let (ok, out) = cosign(
            &[
                &["attest", "--key", &key, "--type", kind, "--predicate", predicate][..],
                &cosign_write,
                &[&image],
            ]
            .concat(),
            Some(password.trim_end()),
        );
        assert!(ok, "cosign attest {kind}: {out}");
    }
    digest
}

#[tokio::test]
async fn our_verify_accepts_what_cosign_signed_and_attested() {
    let fixture = fixture();
    let repository = "cloudshop/cosigned";
    let digest = cosign_signed_and_attested(fixture, ServiceId::Storefront, repository, false).await;
    let registry = Registry::new(&fixture.registry);
    verify::verify(
        &registry,
        repository,
        &digest,
        &fixture.public_key,
        &[CYCLONEDX, SLSA_PROVENANCE_V1],
        Some(Format::Legacy),
    )
    .await
    .expect("our verify accepts cosign's signature and attestations");
}

/// cosign v3.1.3's own format: it signs and attests in Sigstore bundles
/// attached as OCI referrers (its default; key-based, no transparency log),
/// and our verify accepts those bundles and finds no legacy tags.
#[tokio::test]
async fn our_verify_accepts_the_bundles_cosign_made() {
    let fixture = fixture();
    let repository = "cloudshop/cosign-bundled";
    let digest = cosign_signed_and_attested(fixture, ServiceId::Products, repository, true).await;
    let registry = Registry::new(&fixture.registry);
    let verified = verify::verify(
        &registry,
        repository,
        &digest,
        &fixture.public_key,
        &[CYCLONEDX, SLSA_PROVENANCE_V1],
        Some(Format::Bundle),
    )
    .await
    .expect("our verify accepts cosign's bundles");
    assert_eq!(verified.formats, vec!["bundle"]);
    assert!(
        registry
            .manifest(&registry.tagged(repository, &cosign_tag(&digest, "sig")))
            .await
            .expect("registry")
            .is_none(),
        "cosign wrote a legacy signature too"
    );
}

/// Each format alone: an image signed and attested only as cosign's legacy
/// tags, and one only as Sigstore bundle referrers. The registry holds only
/// that format; real cosign verifies the signature and both attestations of
/// each (reading bundles when there are any, the tags otherwise, and failing
/// when told to read the tags of the bundle-only image); our verify finds
/// exactly that format and refuses when asked for the other or for both.
#[tokio::test]
async fn each_format_alone_is_verified_by_cosign_and_by_our_verify() {
    let fixture = fixture();
    let registry = Registry::new(&fixture.registry);
    let public = fixture.public_key.display().to_string();
    let required = [CYCLONEDX, SLSA_PROVENANCE_V1];
    let sbom: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture.workspace.sbom(ServiceId::Storefront.service(), AMD64))
            .expect("sbom"),
    )
    .expect("json");
    let provenance = serde_json::json!({
        "buildDefinition": {"buildType": "https://example.com/t", "externalParameters": {}},
        "runDetails": {"builder": {"id": "https://example.com/b"}},
    });
    for (format, other) in [(Format::Legacy, Format::Bundle), (Format::Bundle, Format::Legacy)] {
        let repository = format!("cloudshop/only-{}", format.name());
        let digest = copy_image(fixture, ServiceId::Storefront, &repository).await;
        release::sign_image(&registry, &repository, &digest, &fixture.key, format)
            .await
            .expect("sign");
        release::attest_image(
            &registry,
            &repository,
            &digest,
            &[
                (CYCLONEDX, sbom.clone()),
                (SLSA_PROVENANCE_V1, provenance.clone()),
            ],
            &fixture.key,
            format,
        )
        .await
        .expect("attest");

        // Only this format is in the registry.
        for suffix in ["sig", "att"] {
            let tag = registry
                .manifest(&registry.tagged(&repository, &cosign_tag(&digest, suffix)))
                .await
                .expect("registry");
            assert_eq!(tag.is_some(), format == Format::Legacy, "{format:?} .{suffix}");
        }
        let referrers = bundle::referrers(&registry, &repository, &digest)
            .await
            .expect("referrers");
        assert_eq!(
            referrers.len(),
            if format == Format::Bundle { 3 } else { 0 },
            "{format:?}: {referrers:?}"
        );

        let image = format!("{}/{repository}@{digest}", fixture.registry);
        let (ok, out) = cosign(
            &[&["verify", "--key", &public][..], &COSIGN_LOCAL, &[&image]].concat(),
            None,
        );
        assert!(ok, "cosign verify {image} ({format:?} only): {out}");
        for kind in ["cyclonedx", "slsaprovenance1"] {
            let (ok, out) = cosign(
                &[
                    &["verify-attestation", "--key", &public, "--type", kind][..],
                    &COSIGN_LOCAL,
                    &[&image],
                ]
                .concat(),
                None,
            );
            assert!(
                ok,
                "cosign verify-attestation --type {kind} {image} ({format:?} only): {out}"
            );
        }
        // Told to read the legacy tags, cosign finds them only where they are.
        let (ok, out) = cosign(
            &[
                &["verify", "--key", &public, "--new-bundle-format=false"][..],
                &COSIGN_LOCAL,
                &[&image],
            ]
            .concat(),
            None,
        );
        assert_eq!(
            ok,
            format == Format::Legacy,
            "{format:?} only, legacy read: {out}"
        );

        let verified = verify::verify(
            &registry,
            &repository,
            &digest,
            &fixture.public_key,
            &required,
            None,
        )
        .await
        .expect("verified in its format");
        assert_eq!(verified.formats, vec![format.name()]);
        assert_eq!(verified.attestations, vec![CYCLONEDX, SLSA_PROVENANCE_V1]);
        verify::verify(
            &registry,
            &repository,
            &digest,
            &fixture.public_key,
            &required,
            Some(format),
        )
        .await
        .expect("its own format required");
        for wanted in [other, Format::Both] {
            let err = verify::verify(
                &registry,
                &repository,
                &digest,
                &fixture.public_key,
                &required,
                Some(wanted),
            )
            .await
            .expect_err("the missing format required");
            let message = format!("{err:#}");
            assert!(
                message.contains(&format!("{} format", other.name())) && message.contains("not signed"),
                "{format:?} only, {wanted:?} required: {message}"
            );
        }
    }
}

#[tokio::test]
async fn verify_refuses_unsigned_tampered_wrong_key_and_unattested_images() {
    let fixture = fixture();
    let registry = Registry::new(&fixture.registry);
    let required = [CYCLONEDX, SLSA_PROVENANCE_V1];
    let orders = released(fixture, ServiceId::Orders);

    // Unsigned: a copy of a signed image's content in a repository with no signature.
    let repository = "cloudshop/unsigned";
    let digest = copy_image(fixture, ServiceId::Products, repository).await;
    let err = verify::verify(
        &registry,
        repository,
        &digest,
        &fixture.public_key,
        &required,
        None,
    )
    .await
    .expect_err("unsigned");
    assert!(err.to_string().contains("not signed"), "{err:#}");

    // Tampered: another image carrying the orders image's signature and
    // attestations, copied next to it as an attacker would.
    let repository = "cloudshop/orders";
    let tampered = tampered_image(fixture).await;
    // What the reproducibility check says of two images that differ: here
    // the released amd64 image and the one built on it, one file added.
    let amd64 = orders.platform("linux/amd64").expect("amd64 image");
    let found =
        cloudshop_supply_chain::layers::first_difference(&registry, repository, &amd64.digest, &tampered)
            .await
            .expect("compared")
            .expect("they differ");
    assert!(
        found.starts_with("the second image has 1 more layer(s)") && found.ends_with("`extra`"),
        "{found}"
    );
    release::copy_signatures(&registry, repository, &orders.digest, &tampered, Format::Legacy)
        .await
        .expect("copy the signature and attestations");
    let err = verify::verify(
        &registry,
        repository,
        &tampered,
        &fixture.public_key,
        &required,
        None,
    )
    .await
    .expect_err("tampered");
    assert!(err.to_string().contains("not signed"), "{err:#}");
    let (ok, _) = cosign(
        &[
            &["verify", "--key", &fixture.public_key.display().to_string()][..],
            &COSIGN_LOCAL,
            &[&format!("{}/{repository}@{tampered}", fixture.registry)],
        ]
        .concat(),
        None,
    );
    assert!(!ok, "cosign accepted a tampered image");

    // Wrong key.
    let other = fixture.scratch.join("wrong");
    cloudshop_supply_chain::keys::generate(&other, None).expect("other key");
    let err = verify::verify(
        &registry,
        repository,
        &orders.digest,
        &other.with_extension("pub"),
        &required,
        None,
    )
    .await
    .expect_err("wrong key");
    assert!(
        err.to_string().contains("no signature made with this public key"),
        "{err:#}"
    );

    // Signed, SBOM attested, provenance missing.
    let repository = "cloudshop/unattested";
    let digest = copy_image(fixture, ServiceId::Auth, repository).await;
    cloudshop_supply_chain::sign::sign(&registry, repository, &digest, &fixture.key)
        .await
        .expect("sign");
    let sbom: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture.workspace.sbom(ServiceId::Auth.service(), AMD64)).expect("sbom"),
    )
    .expect("json");
    cloudshop_supply_chain::attest::attest(
        &registry,
        repository,
        &digest,
        &[(CYCLONEDX, sbom)],
        &fixture.key,
    )
    .await
    .expect("attest");
    let err = verify::verify(
        &registry,
        repository,
        &digest,
        &fixture.public_key,
        &required,
        Some(Format::Legacy),
    )
    .await
    .expect_err("unattested");
    assert!(err.to_string().contains(SLSA_PROVENANCE_V1), "{err:#}");
    // With both required, the same image passes once provenance is there too.
    verify::verify(
        &registry,
        repository,
        &digest,
        &fixture.public_key,
        &[CYCLONEDX],
        Some(Format::Legacy),
    )
    .await
    .expect("SBOM alone verifies");
}

/// The orders image with one extra file, pushed as `cloudshop/orders:tampered`.
async fn tampered_image(fixture: &Fixture) -> String {
    let context = fixture.scratch.join("tampered");
    std::fs::create_dir_all(&context).expect("context");
    std::fs::write(context.join("extra"), "not from the pipeline").expect("file");
    std::fs::write(
        context.join("Dockerfile"),
        format!(
            "FROM cloudshop/orders:{}\nCOPY extra /extra\n",
            fixture.release.version
        ),
    )
    .expect("dockerfile");
    podman(&[
        "build",
        "--quiet",
        "--pull=never",
        "--tag",
        "cloudshop/orders:tampered",
        &context.display().to_string(),
    ]);
    let remote = format!("{}/cloudshop/orders:tampered", fixture.registry);
    podman(&[
        "push",
        "--quiet",
        "--tls-verify=false",
        "cloudshop/orders:tampered",
        &format!("docker://{remote}"),
    ]);
    let registry = Registry::new(&fixture.registry);
    registry
        .digest(&registry.tagged("cloudshop/orders", "tampered"))
        .await
        .expect("digest")
}

/// `cloudshop release` scanned every platform image with Trivy, offline,
/// with a database built here from the RustSec snapshot: Trivy read each
/// binary's crates from its cargo-auditable data, found nothing HIGH or
/// CRITICAL, and took each image's VEX for the advisories it answers
/// (`rsa`'s Marvin attack: named in the binaries' dependency lists, not
/// compiled in).
#[test]
fn trivy_scanned_every_platform_image_with_its_vex() {
    let fixture = fixture();
    let text = std::fs::read_to_string(release::scan_path(&fixture.workspace)).expect("dist/scan.json");
    let reports: Vec<cloudshop_supply_chain::scan::ImageReport> =
        serde_json::from_str(&text).expect("scan.json");
    let scanned: BTreeSet<&str> = reports.iter().map(|r| r.image.as_str()).collect();
    let released: BTreeSet<&str> = fixture
        .release
        .services
        .iter()
        .flat_map(|s| s.platforms.iter().map(|p| p.image.as_str()))
        .collect();
    assert_eq!(scanned, released, "every platform image, by digest");
    for report in &reports {
        assert!(
            report.packages > 20,
            "{}: only {} crates",
            report.image,
            report.packages
        );
        assert!(
            report.blocking().is_empty(),
            "{}: {:?}",
            report.image,
            report.blocking()
        );
    }
    // Every service's cargo-auditable list names rsa (supply-chain/src/vex.rs).
    let unanswered: Vec<&str> = reports
        .iter()
        .filter(|r| {
            !r.not_affected
                .iter()
                .any(|f| f.id == "RUSTSEC-2023-0071" && f.package == "rsa")
        })
        .map(|r| r.image.as_str())
        .collect();
    assert!(
        unanswered.is_empty(),
        "Trivy did not take the VEX's not_affected for rsa's RUSTSEC-2023-0071 in {unanswered:?}: {reports:#?}"
    );
    assert!(
        reports
            .iter()
            .all(|r| r.findings.iter().all(|f| f.id != "RUSTSEC-2023-0071")),
        "Trivy reported rsa's advisory despite the VEX: {reports:#?}"
    );
}

/// The gate can fail: a scratch image whose binary has smallvec 1.6.0
/// compiled in (RUSTSEC-2021-0003, CVSS 9.8), pushed to the same registry,
/// is refused by `cloudshop release scan`, naming the advisory.
#[tokio::test]
async fn the_trivy_gate_refuses_an_image_with_a_critical_advisory() {
    let fixture = fixture();
    let root = workspace_root();
    let target = fixture.scratch.join("vulnerable-target");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let built = Command::new(cargo)
        .args(["auditable", "build", "--release", "--locked", "--manifest-path"])
        .arg(root.join("supply-chain/tests/vulnerable/Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        .output()
        .expect("cargo auditable");
    assert!(
        built.status.success(),
        "building the vulnerable program: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    let context = fixture.scratch.join("vulnerable");
    std::fs::create_dir_all(&context).expect("context");
    std::fs::copy(target.join("release/vulnerable"), context.join("vulnerable")).expect("binary");
    std::fs::write(
        context.join("Dockerfile"),
        "FROM scratch\nCOPY vulnerable /vulnerable\nENTRYPOINT [\"/vulnerable\"]\n",
    )
    .expect("dockerfile");
    let local = format!("localhost/cloudshop-test/vulnerable:{}", std::process::id());
    podman(&[
        "build",
        "--quiet",
        "--pull=never",
        "--tag",
        &local,
        &context.display().to_string(),
    ]);
    let remote = format!("{}/cloudshop-test/vulnerable:1", fixture.registry);
    podman(&[
        "push",
        "--quiet",
        "--tls-verify=false",
        &local,
        &format!("docker://{remote}"),
    ]);
    podman(&["rmi", &local]);

    let root_arg = root.display().to_string();
    let dist_arg = fixture.workspace.dist.display().to_string();
    let refused = run_cli(&[
        "scan",
        "--workspace",
        &root_arg,
        "--dist",
        &dist_arg,
        "--registry",
        &fixture.registry,
        "--image",
        &remote,
    ])
    .await
    .expect_err("a CRITICAL advisory fails the gate");
    let message = format!("{refused:#}");
    assert!(
        message.contains(&format!("{remote}:\n  CRITICAL RUSTSEC-2021-0003 smallvec 1.6.0")),
        "{message}"
    );
}

/// The one test of the run that builds the static binaries again instead of
/// sharing the first build (release, compose, bench and cluster tests share
/// it through cargo's cache): reproducibility needs an independent build from
/// nothing, in another folder.
#[tokio::test]
async fn a_second_clean_build_elsewhere_gives_identical_binaries_and_images() {
    let fixture = fixture();
    // A copy of the checkout (sources and .git; no target/, no dist/) in
    // another folder, built from nothing.
    let copy = fixture.scratch.join("second-checkout");
    copy_checkout(&fixture.workspace.root, &copy).expect("copy the checkout");
    let second = Workspace::new(&copy)
        .expect("workspace")
        .with_dist(copy.join("dist"));
    let builds = reproducibility_builds();
    // The platforms' chains side by side, as the first build ran them.
    let built = build::build_pairs(&second, &builds).expect("second build");
    let first: cloudshop_supply_chain::provenance::BuildRecord = serde_json::from_str(
        &std::fs::read_to_string(fixture.workspace.dist.join("build.json")).expect("build.json"),
    )
    .expect("build record");
    for binary in &built {
        let original = first
            .binaries
            .iter()
            .find(|b| b.service == binary.service && b.platform == binary.platform)
            .expect("first build");
        assert_eq!(
            binary.digest, original.digest,
            "{} {} differs between the two builds",
            binary.service, binary.platform
        );
    }
    let registry = Registry::new(&fixture.registry);
    let mut services: Vec<Service> = builds.iter().map(|(service, _)| *service).collect();
    services.dedup_by_key(|service| service.id);
    for service in &services {
        let released = released(fixture, service.id);
        let mut manifests = Vec::new();
        let platforms: Vec<Platform> = builds
            .iter()
            .filter(|(s, _)| s.id == service.id)
            .map(|(_, platform)| *platform)
            .collect();
        for &platform in &platforms {
            let tag = format!("second-build-{}", platform.architecture);
            let image = images::build_tagged(
                engine(),
                &second,
                service,
                platform,
                &format!("cloudshop/{}:{tag}", service.name),
            )
            .expect("second image");
            let remote = images::push(engine(), &image, &fixture.registry, &tag).expect("push");
            assert!(remote.ends_with(&format!(":{tag}")));
            let (manifest, digest) = registry
                .manifest(&registry.tagged(&service.repository(), &tag))
                .await
                .expect("manifest")
                .expect("pushed");
            let first = &released
                .platform(&platform.name())
                .expect("released platform image")
                .digest;
            if &digest != first {
                // Say where: the first layer file that differs.
                let found = cloudshop_supply_chain::layers::first_difference(
                    &registry,
                    &service.repository(),
                    first,
                    &digest,
                )
                .await;
                let found = match found {
                    Ok(Some(found)) => found,
                    Ok(None) => {
                        "the layers are the same; the configuration or the manifest differs".to_owned()
                    }
                    Err(err) => format!("(the layers could not be compared: {err:#})"),
                };
                panic!(
                    "{} {} image digest differs ({first} and {digest}): {found}",
                    service.name,
                    platform.name(),
                );
            }
            let original = images::inspect(
                engine(),
                service,
                platform,
                &images::local_tag(service, &fixture.release.version, platform),
            )
            .expect("first image");
            assert_eq!(
                image.id,
                original.id,
                "{} {} image config differs",
                service.name,
                platform.name()
            );
            manifests.push((platform, digest, manifest.len() as u64));
        }
        if platforms.len() < PLATFORMS.len() {
            continue; // the index needs every platform's image
        }
        // And so the index over them is the released one, byte for byte.
        let index = images::index(&manifests).expect("index");
        assert_eq!(
            cloudshop_supply_chain::sha256_digest(&index),
            released.digest,
            "{} image index differs",
            service.name
        );
    }
}

/// Which builds the reproducibility test repeats from nothing: every
/// service for both platforms (unset or `all`: `scripts/test.sh --full` and
/// the release workflow), or a list of `service` (both platforms) and
/// `service@architecture` entries, such as the one service for one platform
/// `scripts/test.sh` samples by default (`orders@amd64`).
/// Not a `CLOUDSHOP_*` name: the services read every such variable as a
/// setting and refuse an unknown one.
fn reproducibility_builds() -> Vec<(Service, Platform)> {
    let every = || {
        SERVICES
            .iter()
            .flat_map(|service| PLATFORMS.iter().map(move |platform| (*service, *platform)))
            .collect()
    };
    match std::env::var("REPRO_SERVICES").as_deref() {
        Ok("all") | Err(_) => every(),
        Ok(list) => {
            let mut builds: Vec<(Service, Platform)> = Vec::new();
            for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
                let (name, architecture) = match entry.split_once('@') {
                    Some((name, architecture)) => (name, Some(architecture)),
                    None => (entry, None),
                };
                let service = *Service::named(name).unwrap_or_else(|err| panic!("REPRO_SERVICES: {err:#}"));
                let platforms: Vec<Platform> = PLATFORMS
                    .iter()
                    .filter(|p| architecture.is_none_or(|a| a == p.architecture))
                    .copied()
                    .collect();
                assert!(!platforms.is_empty(), "REPRO_SERVICES: no platform {entry:?}");
                builds.extend(platforms.into_iter().map(|platform| (service, platform)));
            }
            // Grouped by service, as the image checks walk them.
            builds.sort_by_key(|(service, _)| service.id);
            builds
        }
    }
}

fn copy_checkout(from: &Path, to: &Path) -> anyhow::Result<()> {
    let listed = Command::new("git")
        .current_dir(from)
        .args(["ls-files", "-z", "--cached", "--others", "--exclude-standard"])
        .output()?;
    for file in listed.stdout.split(|b| *b == 0).filter(|f| !f.is_empty()) {
        let relative = Path::new(std::str::from_utf8(file)?);
        let source = from.join(relative);
        if !source.is_file() {
            continue; // deleted in the work tree
        }
        let target = to.join(relative);
        std::fs::create_dir_all(target.parent().expect("parent"))?;
        std::fs::copy(&source, &target)?;
    }
    let status = Command::new("cp")
        .arg("-a")
        .arg(from.join(".git"))
        .arg(to.join(".git"))
        .status()?;
    anyhow::ensure!(status.success(), "cannot copy .git");
    Ok(())
}

#[tokio::test]
async fn the_gate_fails_on_a_crate_with_a_known_advisory() {
    let fixture = fixture();
    let copy = fixture.scratch.join("gate-checkout");
    copy_checkout(&fixture.workspace.root, &copy).expect("copy the checkout");
    // tar 0.4.35 has RUSTSEC-2021-0080 (unpacking links escapes the folder).
    let manifest = copy.join("platform").join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).expect("manifest");
    std::fs::write(
        &manifest,
        text.replacen("[dependencies]\n", "[dependencies]\ntar = \"=0.4.35\"\n", 1),
    )
    .expect("write manifest");
    // Resolve the new dependency into the copy's Cargo.lock.
    let fetched = Command::new("cargo")
        .current_dir(&copy)
        .args(["fetch"])
        .stderr(Stdio::null())
        .status()
        .expect("cargo fetch");
    assert!(fetched.success(), "cargo fetch in the scratch copy");
    let offline = std::env::var_os("CLOUDSHOP_GATE_ONLINE").is_none();
    let err = cloudshop_supply_chain::gate::deny(&copy, offline).expect_err("the gate must fail");
    let message = format!("{err:#}");
    assert!(
        message.contains("error[vulnerability]") && message.contains("RUSTSEC-2021-0080"),
        "{message}"
    );
    // The unchanged workspace passes the same gate.
    cloudshop_supply_chain::gate::deny(&fixture.workspace.root, offline).expect("the workspace passes");
}

#[tokio::test]
async fn hadolint_refuses_a_careless_dockerfile() {
    let fixture = fixture();
    let dir = fixture.scratch.join("bad-images");
    std::fs::create_dir_all(&dir).expect("dir");
    let mut file = std::fs::File::create(dir.join("bad.Dockerfile")).expect("file");
    writeln!(
        file,
        "FROM debian:latest\nRUN apt-get update && apt-get install -y curl\nADD https://example.com/x /x"
    )
    .expect("write");
    let err = cloudshop_supply_chain::gate::hadolint(&dir).expect_err("hadolint must fail");
    assert!(format!("{err:#}").contains("DL3007"), "{err:#}");
    cloudshop_supply_chain::gate::hadolint(&fixture.workspace.root.join("images"))
        .expect("our Dockerfiles pass");
}

/// Copies the test environment's certificates and secrets to a folder the
/// containers' user (65532) can read, inside this binary's 0700 scratch folder.
fn readable_copy(from: &Path, to: &Path) -> cloudshop_host::files::ShopFiles {
    for entry in ["pki", "secrets"] {
        let status = Command::new("cp")
            .arg("-a")
            .arg(from.join(entry))
            .arg(to.join(entry))
            .status()
            .expect("cp");
        assert!(status.success());
    }
    for file in std::fs::read_dir(from).expect("files").flatten() {
        if file.path().is_file() {
            std::fs::copy(file.path(), to.join(file.file_name())).expect("copy file");
        }
    }
    let status = Command::new("chmod")
        .args(["-R", "a+rX"])
        .arg(to)
        .status()
        .expect("chmod");
    assert!(status.success());
    cloudshop_host::files::ShopFiles::new(to)
}

#[tokio::test]
async fn the_shop_works_from_its_images_read_only_without_capabilities() {
    let fixture = fixture();
    let env = cloudshop_host::testing::env();
    let database = env.new_database();
    let shop_dir = fixture.scratch.join("shop");
    std::fs::create_dir_all(&shop_dir).expect("dir");
    let files = readable_copy(env.files().root(), &shop_dir);
    let ports = cloudshop_wiring::FixedPorts::reserve().expect("free ports");
    let wiring = cloudshop_wiring::Wiring::new(&files, |role| cloudshop_platform::db::DatabaseSettings {
        password_file: files.db_password(role),
        ca_file: files.ca_cert(),
        ..env.database(role, &database)
    });
    let shop = wiring.fixed(&ports);

    let label = format!("cloudshop.test={}", fixture.scratch.display());
    let mut names = Vec::new();
    // Started in dependency order: auth, products, orders, the gateway, the storefront.
    for (service, config) in shop.to_toml().expect("settings as TOML") {
        let (_, admin_port) = ports.of(service);
        let config_path = shop_dir.join(format!("{service}.toml"));
        std::fs::write(&config_path, config).expect("config");
        let name = format!("cloudshop-test-{}-{service}", std::process::id());
        let mount = format!("{0}:{0}:ro", shop_dir.display());
        let image = format!("cloudshop/{service}:{}", fixture.release.version);
        let config_env = format!("CLOUDSHOP_CONFIG={}", config_path.display());
        podman(&[
            "run",
            "--detach",
            "--rm",
            "--name",
            &name,
            "--label",
            &label,
            "--network",
            "host",
            "--read-only",
            "--cap-drop=ALL",
            "--security-opt",
            "no-new-privileges",
            "--user",
            "65532:65532",
            "--volume",
            &mount,
            "--env",
            &config_env,
            &image,
        ]);
        wait_ready(&name, admin_port).await;
        names.push(name);
    }

    // Each container runs as 65532 without capabilities, and its image's
    // HEALTHCHECK (the binary's own `healthcheck`) passes.
    for name in &names {
        let inspect: serde_json::Value = serde_json::from_str(&podman(&["inspect", name])).expect("inspect");
        assert_eq!(inspect[0]["Config"]["User"], "65532:65532");
        assert_eq!(inspect[0]["HostConfig"]["ReadonlyRootfs"], true);
        let status = Command::new("podman")
            .args(["healthcheck", "run", name])
            .status()
            .expect("healthcheck");
        assert!(status.success(), "{name}: healthcheck failed");
    }

    // Shop through them: the storefront's home page, then an order through the gateway.
    let home = reqwest::get(format!("http://127.0.0.1:{}/", ports.storefront.0))
        .await
        .expect("storefront");
    assert_eq!(home.status(), 200);
    assert!(home.text().await.expect("page").contains("CloudShop"));
    let gateway = cloudshop_wiring::url(ports.gateway.0);
    let client = cloudshop_host::testing::public_client();
    let health = client
        .get(format!("{gateway}{}", paths::HEALTH))
        .send()
        .await
        .expect("gateway health");
    assert_eq!(health.status(), 200);
    let api = Client::new(client, &gateway);
    let registration = Registration {
        email: format!("container-{}@example.com", std::process::id()),
        password: Password::new("tJ8#qv2!Lm9zRw-container"),
    };
    let account = api
        .register(Caller::anonymous(), &registration)
        .await
        .expect("register");
    assert_eq!(account.email, registration.email);
    let login = Credentials {
        email: registration.email.clone(),
        password: registration.password.clone(),
        device_token: None,
    };
    let token = api.login(Caller::anonymous(), &login).await.expect("login");
    let catalogue = api
        .products(Caller::anonymous(), &ProductQuery::default())
        .await
        .expect("catalogue");
    let order = OrderRequest {
        lines: vec![Line {
            product_id: catalogue.items.first().expect("a product").id,
            quantity: 1,
        }],
    };
    let key = format!("container-{}", std::process::id());
    let placed = api
        .place_order(Caller::with_token(&token.access_token), &key, &order)
        .await
        .expect("order");
    assert_eq!(placed.order.status, OrderStatus::Confirmed, "{:?}", placed.order);

    for name in &names {
        podman(&["rm", "--force", name]);
    }
}

/// The arm64 products service and gateway under user-mode emulation, with
/// their real settings, TLS and a real PostgreSQL: the catalogue comes back
/// through the gateway's TLS port and the mutual-TLS hop to products.
#[tokio::test]
async fn arm64_products_and_gateway_serve_the_catalogue_under_emulation() {
    let fixture = fixture();
    let env = cloudshop_host::testing::env();
    let database = env.new_database();
    let files = env.files();
    let ports = cloudshop_wiring::FixedPorts::reserve().expect("free ports");
    let wiring = cloudshop_wiring::Wiring::new(files, |role| env.database(role, &database));
    let shop = wiring.fixed(&ports);
    let dir = fixture.scratch.join("arm64-shop");
    std::fs::create_dir_all(&dir).expect("dir");
    let mut running = Vec::new();
    for (service, config) in shop.to_toml().expect("settings as TOML") {
        if ![ServiceId::Products, ServiceId::ApiGateway].contains(&service) {
            continue;
        }
        let config_path = dir.join(format!("{service}.toml"));
        std::fs::write(&config_path, config).expect("config");
        let log = std::fs::File::create(dir.join(format!("{service}.log"))).expect("log");
        let binary = fixture.workspace.binary(service.service(), ARM64);
        let child = Command::new("qemu-aarch64-static")
            .arg(&binary)
            .env("CLOUDSHOP_CONFIG", &config_path)
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("qemu-aarch64-static");
        running.push(Emulated { child });
        let (_, admin_port) = ports.of(service);
        wait_ready_process(service.name(), admin_port, &dir.join(format!("{service}.log"))).await;
    }
    let gateway = cloudshop_wiring::url(ports.gateway.0);
    let api = Client::new(cloudshop_host::testing::public_client(), &gateway);
    let catalogue = api
        .products(Caller::anonymous(), &ProductQuery::default())
        .await
        .expect("the catalogue through the arm64 gateway and products");
    assert!(!catalogue.items.is_empty(), "{catalogue:?}");
    assert!(catalogue.total >= 30, "the seed's catalogue: {catalogue:?}");
    drop(running);
}

/// A process under emulation, killed when the test ends (or fails).
struct Emulated {
    child: std::process::Child,
}

impl Drop for Emulated {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn wait_ready_process(name: &str, admin_port: u16, log: &Path) {
    let url = format!("http://127.0.0.1:{admin_port}/readyz");
    // Emulated start-up (migrations, the seed, TLS set-up) is slower.
    for _ in 0..600 {
        if reqwest::get(&url).await.is_ok_and(|r| r.status() == 200) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!(
        "{name} (arm64, emulated) not ready after 60 s: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

async fn wait_ready(name: &str, admin_port: u16) {
    let url = format!("http://127.0.0.1:{admin_port}/readyz");
    for _ in 0..150 {
        if reqwest::get(&url).await.is_ok_and(|r| r.status() == 200) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let logs = Command::new("podman")
        .args(["logs", name])
        .output()
        .expect("logs");
    panic!(
        "{name} not ready: {}{}",
        String::from_utf8_lossy(&logs.stdout),
        String::from_utf8_lossy(&logs.stderr)
    );
}
