//! Where two images first differ, file by file: what a failed
//! reproducibility check needs to say. Two builds of one commit that give
//! different image digests differ in some layer; this names the first layer
//! whose digest differs and, inside it, the first file whose tar entry (type,
//! mode, owner, size, time, link target) or content differs. The layers are
//! read from the registry and listed and unpacked with GNU tar.

use std::path::Path;
use std::process::Command;

use anyhow::Context;
use oci_client::Reference;
use serde::Deserialize;

use crate::output;
use crate::registry::Registry;

#[derive(Deserialize)]
struct Manifest {
    layers: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct Descriptor {
    digest: String,
}

/// Where the platform images `first` and `second` (manifest digests in
/// `repository`) first differ, for a person to read; `None` when their
/// layers are the same (then their configurations or manifests differ).
pub async fn first_difference(
    registry: &Registry,
    repository: &str,
    first: &str,
    second: &str,
) -> anyhow::Result<Option<String>> {
    let (first, second) = (
        registry.by_digest(repository, first),
        registry.by_digest(repository, second),
    );
    let a = layers(registry, &first).await?;
    let b = layers(registry, &second).await?;
    let scratch = tempfile::tempdir().context("a folder for the layers")?;
    for (n, (x, y)) in a.iter().zip(&b).enumerate() {
        if x == y {
            continue;
        }
        let mut files = Vec::new();
        for (which, image, digest) in [("first", &first, x), ("second", &second, y)] {
            let path = scratch.path().join(format!("{which}-{n}.tar"));
            std::fs::write(&path, registry.blob(image, digest).await?)?;
            files.push(path);
        }
        let inside = first_differing_file(&files[0], &files[1], scratch.path())?;
        return Ok(Some(format!("layer {} ({x} and {y}): {inside}", n + 1)));
    }
    if a.len() != b.len() {
        let (longer, image, extra) = if a.len() > b.len() {
            ("the first", &first, &a[b.len()..])
        } else {
            ("the second", &second, &b[a.len()..])
        };
        let path = scratch.path().join("extra.tar");
        std::fs::write(&path, registry.blob(image, &extra[0]).await?)?;
        let listed = list(&path)?;
        let name = listed.first().map_or("no file", |entry| entry.name.as_str());
        return Ok(Some(format!(
            "{longer} image has {} more layer(s); the first of them ({}) starts with `{name}`",
            extra.len(),
            extra[0]
        )));
    }
    Ok(None)
}

async fn layers(registry: &Registry, reference: &Reference) -> anyhow::Result<Vec<String>> {
    let (bytes, _) = registry
        .manifest(reference)
        .await?
        .with_context(|| format!("{reference} is not in the registry"))?;
    let manifest: Manifest =
        serde_json::from_slice(&bytes).with_context(|| format!("{reference} is not an image manifest"))?;
    Ok(manifest.layers.into_iter().map(|layer| layer.digest).collect())
}

/// One tar entry as `tar --list --verbose` shows it: everything but the name
/// (type and mode, owner, size, time, link target), and the name.
#[derive(Debug, PartialEq)]
struct Entry {
    name: String,
    line: String,
}

fn list(archive: &Path) -> anyhow::Result<Vec<Entry>> {
    // GNU tar, verbose: "-rwxr-xr-x 0/0 8182560 2026-12-04 21:19:53 bin/orders".
    let listed = output(
        Command::new("tar")
            .args(["--list", "--verbose", "--full-time", "--numeric-owner", "--file"])
            .arg(archive),
    )?;
    let mut names = output(Command::new("tar").args(["--list", "--file"]).arg(archive))?
        .lines()
        .map(str::to_owned)
        .collect::<Vec<_>>()
        .into_iter();
    listed
        .lines()
        .map(|line| {
            let name = names.next().context("tar listed fewer names than entries")?;
            Ok(Entry {
                name,
                line: line.to_owned(),
            })
        })
        .collect()
}

/// The first entry of two layer archives that differs, in archive order: by
/// its listing, or else by its content.
fn first_differing_file(a: &Path, b: &Path, scratch: &Path) -> anyhow::Result<String> {
    let (first, second) = (list(a)?, list(b)?);
    for (x, y) in first.iter().zip(&second) {
        if x != y {
            return Ok(format!(
                "first differing file `{}`: `{}` and `{}`",
                x.name, x.line, y.line
            ));
        }
    }
    if first.len() != second.len() {
        let shorter = first.len().min(second.len());
        let extra = first
            .get(shorter)
            .or(second.get(shorter))
            .map_or("", |e| e.name.as_str());
        return Ok(format!(
            "{} and {} files; the first one only one of them has is `{extra}`",
            first.len(),
            second.len()
        ));
    }
    let mut roots = Vec::new();
    for (which, archive) in [("a", a), ("b", b)] {
        let root = scratch.join(format!("unpacked-{which}"));
        std::fs::create_dir_all(&root)?;
        output(
            Command::new("tar")
                .args(["--extract", "--no-same-owner", "--file"])
                .arg(archive)
                .arg("--directory")
                .arg(&root),
        )?;
        roots.push(root);
    }
    for entry in &first {
        let (x, y) = (roots[0].join(&entry.name), roots[1].join(&entry.name));
        if !x.is_file() || x.is_symlink() {
            continue;
        }
        let (x, y) = (std::fs::read(&x)?, std::fs::read(&y)?);
        if x != y {
            let at = x
                .iter()
                .zip(&y)
                .position(|(p, q)| p != q)
                .unwrap_or(x.len().min(y.len()));
            return Ok(format!(
                "first differing file `{}`: same entry, content differs from byte {at} on ({} and {})",
                entry.name,
                crate::sha256_digest(&x),
                crate::sha256_digest(&y)
            ));
        }
    }
    Ok(
        "no entry's listing or content differs: the archives differ in a header field tar does not list \
        (user or group names, pax records) or in their compression"
            .to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(dir: &Path, name: &str, files: &[(&str, &str)], mtime: &str) -> std::path::PathBuf {
        let root = dir.join(format!("{name}-root"));
        for (file, content) in files {
            std::fs::create_dir_all(root.join(file).parent().expect("parent")).expect("dir");
            std::fs::write(root.join(file), content).expect("file");
        }
        let path = dir.join(format!("{name}.tar"));
        let mut command = Command::new("tar");
        command
            .args([
                "--create",
                "--sort=name",
                "--owner=0",
                "--group=0",
                "--numeric-owner",
            ])
            .arg(format!("--mtime={mtime}"))
            .arg("--file")
            .arg(&path)
            .arg("--directory")
            .arg(&root)
            .arg(".");
        output(&mut command).expect("tar");
        path
    }

    #[test]
    fn names_the_first_file_whose_content_or_entry_differs() {
        let dir = tempfile::tempdir().expect("dir");
        let a = archive(
            dir.path(),
            "a",
            &[("bin/orders", "same"), ("etc/x", "one")],
            "2026-01-01",
        );
        let b = archive(
            dir.path(),
            "b",
            &[("bin/orders", "same"), ("etc/x", "two")],
            "2026-01-01",
        );
        let found = first_differing_file(&a, &b, &dir.path().join("s1")).expect("compared");
        assert!(
            found.contains("`./etc/x`") && found.contains("content differs from byte 0"),
            "{found}"
        );

        let c = archive(
            dir.path(),
            "c",
            &[("bin/orders", "same"), ("etc/x", "one")],
            "2026-01-02",
        );
        let found = first_differing_file(&a, &c, &dir.path().join("s2")).expect("compared");
        assert!(found.contains("first differing file `./`"), "{found}");
        assert!(
            found.contains("2026-01-01") && found.contains("2026-01-02"),
            "{found}"
        );
    }
}
