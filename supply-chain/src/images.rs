//! `FROM scratch` images built with podman or docker (whichever is on
//! `PATH`, podman first), one per service and platform, pushed to a registry
//! and listed there in one image index per service (see [`index`]).
//!
//! The Dockerfiles only copy the binary (no `RUN`), so an arm64 image builds
//! on an amd64 machine without emulation: `--platform linux/arm64` only sets
//! the architecture its config declares.
//!
//! Reproducible: the build context holds only the binary, every timestamp is
//! the commit's (`--timestamp` / `SOURCE_DATE_EPOCH`), and podman's
//! builder-version label is left out, so the same commit gives the same image
//! digest in any folder and on any machine. Podman before 5.6 (Debian 12 has
//! 4.3) still writes the id and random hostname of its build container into a
//! docker-format config, so podman images are normalised after the build:
//! those fields are cleared and the image is loaded back with the new config
//! (see [`normalise`]). Docker's BuildKit writes neither field.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, bail};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::{AMD64, Platform, Service, Workspace, output, run};

/// The container engine the pipeline drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Podman,
    Docker,
}

impl Engine {
    /// Podman when present, else docker; an error names both when neither is.
    pub fn detect() -> anyhow::Result<Engine> {
        for (engine, program) in [(Engine::Podman, "podman"), (Engine::Docker, "docker")] {
            let works = Command::new(program)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success());
            if works {
                return Ok(engine);
            }
        }
        bail!("neither podman nor docker is installed (Debian: apt-get install podman runc)")
    }

    pub fn program(&self) -> &'static str {
        match self {
            Engine::Podman => "podman",
            Engine::Docker => "docker",
        }
    }

    pub fn command(&self) -> Command {
        Command::new(self.program())
    }
}

/// A locally built image.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Image {
    pub service: cloudshop_topology::ServiceId,
    /// `linux/amd64`, `linux/arm64`.
    pub platform: String,
    /// Local name, `cloudshop/<service>:<version>`.
    pub tag: String,
    /// The engine's image id (the config digest).
    pub id: String,
    /// Uncompressed size in bytes.
    pub size: u64,
}

/// The local tag of a service's image for `platform`: `cloudshop/<service>:<version>`
/// for amd64 (the one compose runs on this machine), `…:<version>-arm64`.
pub fn local_tag(service: &Service, version: &str, platform: Platform) -> String {
    format!("{}:{}", service.repository(), platform_tag(version, platform))
}

/// A platform image's tag: the version for amd64, `<version>-<architecture>` otherwise.
pub fn platform_tag(version: &str, platform: Platform) -> String {
    if platform == AMD64 {
        version.to_owned()
    } else {
        format!("{version}-{}", platform.architecture)
    }
}

/// Builds one image per service and platform from
/// `images/<service>.Dockerfile` with only that platform's binary in the
/// build context, tagged as [`local_tag`] says.
pub fn build(
    engine: Engine,
    workspace: &Workspace,
    services: &[Service],
    platforms: &[Platform],
) -> anyhow::Result<Vec<Image>> {
    let version = workspace.version()?;
    let mut images = Vec::new();
    for &platform in platforms {
        for service in services {
            let tag = local_tag(service, &version, platform);
            images.push(build_tagged(engine, workspace, service, platform, &tag)?);
        }
    }
    Ok(images)
}

/// Builds one service's image for `platform` under `tag`.
pub fn build_tagged(
    engine: Engine,
    workspace: &Workspace,
    service: &Service,
    platform: Platform,
    tag: &str,
) -> anyhow::Result<Image> {
    let version = workspace.version()?;
    let commit = workspace.commit()?;
    let created = OffsetDateTime::from_unix_timestamp(commit.epoch)?.format(&Rfc3339)?;
    let context = build_context(workspace, service, platform)?;
    let mut command = engine.command();
    // No layer cache: it keys on the unexpanded instruction, so a cached
    // LABEL step would carry an earlier commit's revision. No intermediate
    // images either: each would name a random container in the history.
    command.args(["build", "--no-cache", "--platform", &platform.name()]);
    if engine == Engine::Podman {
        command.args(["--layers=false", "--format", "docker"]);
        command.args(["--identity-label=false", "--pull=never"]);
        command.args(["--timestamp", &commit.epoch.to_string()]);
    }
    command
        .env("SOURCE_DATE_EPOCH", commit.epoch.to_string())
        .args(["--file", &workspace.dockerfile(service).display().to_string()])
        .args(["--tag", tag])
        .args(["--build-arg", &format!("REVISION={}", commit.id)])
        .args(["--build-arg", &format!("VERSION={version}")])
        .args(["--build-arg", &format!("CREATED={created}")])
        .arg(&context);
    let result = output(&mut command).with_context(|| format!("building the {} image", service.name));
    std::fs::remove_dir_all(&context).ok();
    result?;
    if engine == Engine::Podman {
        normalise(engine, workspace, service, platform, tag)?;
    }
    inspect(engine, service, platform, tag)
}

/// Rewrites a podman-built image without the build container's id and
/// hostname (the only fields that differ between two builds of the same
/// binary) and moves `tag` to the result. The layer is kept byte for byte;
/// the image id becomes the digest of the rewritten config.
fn normalise(
    engine: Engine,
    workspace: &Workspace,
    service: &Service,
    platform: Platform,
    tag: &str,
) -> anyhow::Result<()> {
    let built = inspect(engine, service, platform, tag)?;
    let folder = workspace
        .dist
        .join("context")
        .join(format!("{}-{}.image", service.name, platform.architecture));
    if folder.exists() {
        std::fs::remove_dir_all(&folder)?;
    }
    let result = rewrite_saved(engine, &folder, tag);
    std::fs::remove_dir_all(&folder).ok();
    let id = result.with_context(|| format!("normalising the {} image", service.name))?;
    if id != built.id {
        run(engine.command().args(["tag", &id, tag]))?;
        // The unnormalised image has no tag left; nothing else refers to it.
        output(engine.command().args(["rmi", &built.id])).ok();
    }
    Ok(())
}

/// Saves `tag` as a docker directory, clears the non-reproducible config
/// fields, loads it back and returns the new image id.
fn rewrite_saved(engine: Engine, folder: &std::path::Path, tag: &str) -> anyhow::Result<String> {
    output(
        engine
            .command()
            .args(["save", "--quiet", "--format", "docker-dir", "--output"])
            .arg(folder)
            .arg(tag),
    )?;
    let manifest_path = folder.join("manifest.json");
    let mut manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(&manifest_path)?)?;
    let old = manifest["config"]["digest"]
        .as_str()
        .and_then(|d| d.strip_prefix("sha256:"))
        .context("saved manifest without a config digest")?
        .to_owned();
    let mut config: serde_json::Value = serde_json::from_slice(&std::fs::read(folder.join(&old))?)?;
    let object = config.as_object_mut().context("image config is not an object")?;
    object.remove("container");
    for section in ["config", "container_config"] {
        if let Some(hostname) = object.get_mut(section).and_then(|s| s.get_mut("Hostname")) {
            *hostname = serde_json::Value::String(String::new());
        }
    }
    let bytes = serde_json::to_vec(&config)?;
    let digest = crate::sha256_digest(&bytes);
    let hex = digest.trim_start_matches("sha256:");
    std::fs::remove_file(folder.join(&old))?;
    std::fs::write(folder.join(hex), &bytes)?;
    manifest["config"]["digest"] = digest.clone().into();
    manifest["config"]["size"] = bytes.len().into();
    std::fs::write(&manifest_path, serde_json::to_vec(&manifest)?)?;
    output(
        engine
            .command()
            .args(["pull", "--quiet"])
            .arg(format!("dir:{}", folder.display())),
    )?;
    Ok(hex.to_owned())
}

/// A build context holding only `bin/<service>`, the binary for `platform`.
fn build_context(workspace: &Workspace, service: &Service, platform: Platform) -> anyhow::Result<PathBuf> {
    let context = workspace
        .dist
        .join("context")
        .join(format!("{}-{}", service.name, platform.architecture));
    if context.exists() {
        std::fs::remove_dir_all(&context)?;
    }
    std::fs::create_dir_all(context.join("bin"))?;
    let binary = workspace.binary(service, platform);
    std::fs::copy(&binary, context.join("bin").join(service.name)).with_context(|| {
        format!(
            "{} is missing: run `cloudshop release build` first",
            binary.display()
        )
    })?;
    Ok(context)
}

/// The id and size of a local image, which must be for `platform`.
pub fn inspect(engine: Engine, service: &Service, platform: Platform, tag: &str) -> anyhow::Result<Image> {
    let out = output(engine.command().args([
        "image",
        "inspect",
        "--format",
        "{{.Id}} {{.Size}} {{.Os}}/{{.Architecture}}",
        tag,
    ]))?;
    let mut fields = out.split_whitespace();
    let (Some(id), Some(size), Some(declared)) = (fields.next(), fields.next(), fields.next()) else {
        bail!("unexpected image inspect output: {out}");
    };
    if declared != platform.name() {
        bail!("{tag} is a {declared} image, not {}", platform.name());
    }
    Ok(Image {
        service: service.id,
        platform: platform.name(),
        tag: tag.to_owned(),
        id: id.to_owned(),
        size: size.parse()?,
    })
}

/// Pushes a local image to `<registry>/cloudshop/<service>:<tag>`.
/// Plain HTTP is used only for a registry on the loopback interface.
pub fn push(engine: Engine, image: &Image, registry: &str, tag: &str) -> anyhow::Result<String> {
    let remote = format!("{registry}/cloudshop/{}:{tag}", image.service);
    match engine {
        Engine::Podman => {
            let mut command = engine.command();
            command.args(["push", "--quiet", "--format", "v2s2"]);
            if crate::registry::is_loopback(registry) {
                command.arg("--tls-verify=false");
            }
            run(command.arg(&image.tag).arg(format!("docker://{remote}")))?;
        }
        Engine::Docker => {
            run(engine.command().args(["tag", &image.tag, &remote]))?;
            run(engine.command().args(["push", "--quiet", &remote]))?;
        }
    }
    Ok(remote)
}

/// The image index of one service: its platform images, in the order of
/// [`crate::PLATFORMS`], as an OCI image index (`application/vnd.oci.image.index.v1+json`).
///
/// The platform manifests stay in the Docker v2 schema 2 format podman
/// pushes (the OCI image config has no `HEALTHCHECK`, which compose uses);
/// an OCI index may list them, and docker, podman, containerd, cosign and
/// Kyverno read such an index. Its bytes depend only on the manifests'
/// digests and sizes, so reproducible platform images give a reproducible
/// index digest.
pub fn index(manifests: &[(Platform, String, u64)]) -> anyhow::Result<Vec<u8>> {
    let entries: Vec<serde_json::Value> = manifests
        .iter()
        .map(|(platform, digest, size)| {
            let mut descriptor = serde_json::json!({
                "mediaType": crate::registry::DOCKER_MANIFEST,
                "digest": digest,
                "size": size,
                "platform": { "os": "linux", "architecture": platform.architecture },
            });
            if let Some(variant) = platform.variant {
                descriptor["platform"]["variant"] = variant.into();
            }
            descriptor
        })
        .collect();
    Ok(serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": crate::registry::OCI_INDEX,
        "manifests": entries,
    }))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ARM64;

    #[test]
    fn the_index_lists_each_platform_manifest_in_order_and_is_the_same_each_time() {
        let amd = format!("sha256:{}", "a".repeat(64));
        let arm = format!("sha256:{}", "b".repeat(64));
        let manifests = [(AMD64, amd.clone(), 1000), (ARM64, arm.clone(), 999)];
        let bytes = index(&manifests).expect("index");
        assert_eq!(bytes, index(&manifests).expect("index"));
        let index: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
        assert_eq!(index["mediaType"], crate::registry::OCI_INDEX);
        assert_eq!(index["manifests"][0]["digest"], amd.as_str());
        assert_eq!(
            index["manifests"][0]["platform"],
            serde_json::json!({"os": "linux", "architecture": "amd64"})
        );
        assert_eq!(index["manifests"][1]["digest"], arm.as_str());
        assert_eq!(
            index["manifests"][1]["platform"],
            serde_json::json!({"os": "linux", "architecture": "arm64", "variant": "v8"})
        );
        assert_eq!(index["manifests"][1]["size"], 999);
        assert_eq!(platform_tag("0.1.0", AMD64), "0.1.0");
        assert_eq!(platform_tag("0.1.0", ARM64), "0.1.0-arm64");
    }
}
