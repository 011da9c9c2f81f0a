//! `cloudshop compose`: the certificates and secrets `compose.yaml` mounts,
//! and optionally the image references of a release.
//!
//! Everything goes to `.cloudshop/compose/` (the same layout as the local
//! shop's folder: `pki/`, `secrets/`), created when missing and reused after.
//! Compose bind-mounts secret files as they are on the host, and the services
//! run as user 65532 (PostgreSQL as 70), which is neither the host user nor
//! root; so the mounted files are readable by everyone (0644) and the folder
//! itself is closed (0700): other users of the host cannot reach them. The
//! CA's private key is not mounted and stays 0600.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::release::Release;
use anyhow::Context;
use cloudshop_host::files::ShopFiles;

#[derive(Debug, clap::Args)]
pub struct ComposeArgs {
    /// Where the compose secrets go (`compose.yaml` reads this folder).
    #[arg(long, default_value = ".cloudshop/compose")]
    dir: PathBuf,
    /// Also write `images.env` with the images of this release by digest
    /// (`docker compose --env-file <dir>/images.env up`); without it the
    /// stack uses the local tags `cloudshop release images` gives.
    #[arg(long)]
    release: Option<PathBuf>,
}

pub fn run(args: &ComposeArgs) -> anyhow::Result<()> {
    write_secrets(&args.dir)?;
    let mut env_file = None;
    if let Some(release) = &args.release {
        let release = Release::read(release, "run `cloudshop release` first")?;
        let path = args.dir.join("images.env");
        fs::write(&path, images_env(&release)).with_context(|| format!("writing {}", path.display()))?;
        env_file = Some(path);
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "Compose secrets are in {}.", args.dir.display())?;
    match env_file {
        Some(path) => writeln!(
            out,
            "Start the shop from the release's images:\n  docker compose --env-file {0} up -d\n  podman-compose --env-file {0} up -d",
            path.display()
        )?,
        None => writeln!(
            out,
            "Start the shop from the local images (`cloudshop release build && cloudshop release images`):\n  docker compose up -d\n  podman-compose up -d"
        )?,
    }
    writeln!(
        out,
        "Then: storefront http://localhost:3000, gateway https://localhost:8080 (CA in {}).",
        ShopFiles::new(&args.dir).ca_cert().display()
    )?;
    Ok(())
}

/// Creates (or completes) the compose secrets in `dir` with the modes above.
pub fn write_secrets(dir: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .with_context(|| format!("closing {}", dir.display()))?;
    let files = ShopFiles::new(dir);
    files.ensure().context("preparing certificates and secrets")?;
    files
        .ensure_postgres_password()
        .context("writing PostgreSQL's password")?;
    for sub in ["pki", "secrets"] {
        for entry in fs::read_dir(dir.join(sub))? {
            let path = entry?.path();
            let mode = if path == files.root().join("pki/ca-key.pem") {
                0o600
            } else {
                0o644
            };
            fs::set_permissions(&path, fs::Permissions::from_mode(mode))?;
        }
    }
    Ok(())
}

/// `CLOUDSHOP_<SERVICE>_IMAGE=<image>@<digest>` for each service of a release.
pub fn images_env(release: &Release) -> String {
    let mut out =
        String::from("# Written by `cloudshop compose --release`: the release's images by digest.\n");
    for service in &release.services {
        let variable = service.id.name().to_uppercase().replace('-', "_");
        out.push_str(&format!("CLOUDSHOP_{variable}_IMAGE={}\n", service.image));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::release::Released;
    use cloudshop_topology::ServiceId;

    #[test]
    fn images_env_names_each_release_image_by_digest() {
        let released = |id: ServiceId| Released {
            id,
            image: format!("ghcr.io/cloudshop/{id}@sha256:{}", "a".repeat(64)),
            digest: format!("sha256:{}", "a".repeat(64)),
            platforms: Vec::new(),
            signature: None,
            attestation: None,
        };
        let release = Release {
            version: "0.1.0".into(),
            commit: "c".into(),
            registry: "ghcr.io".into(),
            services: vec![released(ServiceId::ApiGateway), released(ServiceId::Auth)],
            signed_as: None,
        };
        let env = images_env(&release);
        let digest = "a".repeat(64);
        assert!(env.contains(&format!(
            "\nCLOUDSHOP_API_GATEWAY_IMAGE=ghcr.io/cloudshop/api-gateway@sha256:{digest}\n"
        )));
        assert!(env.contains(&format!(
            "\nCLOUDSHOP_AUTH_IMAGE=ghcr.io/cloudshop/auth@sha256:{digest}\n"
        )));
    }

    #[test]
    fn secrets_are_readable_inside_a_closed_folder() {
        let dir = tempfile::tempdir().expect("dir");
        let compose = dir.path().join("compose");
        write_secrets(&compose).expect("secrets");
        let mode = |path: &Path| fs::metadata(path).expect("metadata").permissions().mode() & 0o777;
        assert_eq!(mode(&compose), 0o700);
        assert_eq!(mode(&compose.join("pki/auth-key.pem")), 0o644);
        assert_eq!(mode(&compose.join("secrets/db-password-postgres")), 0o644);
        assert_eq!(mode(&compose.join("pki/ca-key.pem")), 0o600);
        // A second run keeps what is there.
        let password = fs::read(compose.join("secrets/db-password-postgres")).expect("password");
        write_secrets(&compose).expect("again");
        assert_eq!(
            fs::read(compose.join("secrets/db-password-postgres")).expect("password"),
            password
        );
    }
}
