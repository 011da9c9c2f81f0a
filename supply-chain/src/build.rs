//! Static, auditable, reproducible release binaries for every platform of
//! [`crate::PLATFORMS`].
//!
//! `cargo auditable build --profile dist --locked --target <target>` with:
//! - `-C target-feature=+crt-static -C relocation-model=static`: a fully
//!   static executable, no interpreter and no dynamic section (the musl
//!   target's default is static-pie, which keeps a dynamic section for
//!   self-relocation; the trade-off is that the code segment is at a fixed
//!   address, while stack, heap and mappings stay randomised);
//! - `--remap-path-prefix` (Rust) and `-ffile-prefix-map` (C code in crates,
//!   aws-lc, mimalloc) for the checkout and `CARGO_HOME`, so the folder a
//!   build runs in leaves no trace in the binary;
//! - `SOURCE_DATE_EPOCH` from the commit;
//! - the workspace's `dist` profile: fat LTO, one codegen unit, stripped,
//!   `panic = "abort"` (the `release` profile, which `cargo run --release`
//!   uses for the local shop and this tool, has neither LTO nor one unit).
//!
//! The two platforms build at the same time, each in its own cargo target
//! directory ([`target_dir`]: `target/` for amd64, `target/arm64/` for
//! arm64): one target directory is locked by the cargo invocation using it,
//! and most of a build's time is each binary's link-time optimisation on one
//! core, so two chains side by side keep two cores busy. The price is the
//! host's build scripts and proc-macros compiled once per directory.
//!
//! The C compiler: for amd64 Debian's `musl-gcc` (`musl-tools`). For arm64,
//! zig (`cargo auditable zigbuild`, with `cargo-zigbuild` and the `ziglang`
//! package from PyPI): one pip install brings a clang that targets
//! aarch64-linux-musl with musl's headers and libc built in, and
//! cargo-zigbuild makes it the C compiler and the linker of that target. The
//! alternatives need more and reach less: Debian's `gcc-aarch64-linux-gnu`
//! has glibc's headers, not musl's, and an aarch64 musl toolchain
//! (musl-cross-make) is no Debian or registry package. zig runs on Linux,
//! macOS and Windows alike, so a contributor on any of them can build the
//! arm64 images.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use anyhow::{Context, bail};

use crate::{AMD64, Platform, Service, Workspace, elf, file_digest};

/// The cargo profile of shipped binaries (fat LTO, one codegen unit, `panic = "abort"`).
pub const PROFILE: &str = "dist";

/// A built binary: its service and platform, path in `dist/`, digest and size.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Built {
    pub service: cloudshop_topology::ServiceId,
    /// `linux/amd64`, `linux/arm64`.
    pub platform: String,
    pub path: PathBuf,
    pub digest: String,
    pub size: u64,
}

/// The environment that makes a build for `platform` reproducible from any folder.
pub fn reproducible_env(
    workspace: &Workspace,
    platform: Platform,
    epoch: i64,
) -> anyhow::Result<Vec<(String, String)>> {
    let root = workspace.root.display().to_string();
    let cargo_home = cargo_home()?;
    let rustflags = format!(
        "-C target-feature=+crt-static -C relocation-model=static \
         --remap-path-prefix={root}=/cloudshop --remap-path-prefix={cargo_home}=/cargo"
    );
    let cflags = format!("-ffile-prefix-map={root}=/cloudshop -ffile-prefix-map={cargo_home}=/cargo");
    let suffix = platform.env_suffix();
    let mut environment = vec![
        (
            format!("CARGO_TARGET_{}_RUSTFLAGS", suffix.to_uppercase()),
            rustflags,
        ),
        (format!("CFLAGS_{suffix}"), cflags.clone()),
        (format!("CXXFLAGS_{suffix}"), cflags),
        ("SOURCE_DATE_EPOCH".into(), epoch.to_string()),
        (
            "CARGO_TARGET_DIR".into(),
            target_dir(workspace, platform).display().to_string(),
        ),
    ];
    if platform != AMD64 {
        let cache = zig_cache(epoch)?.display().to_string();
        environment.push(("ZIG_GLOBAL_CACHE_DIR".into(), cache.clone()));
        environment.push(("ZIG_LOCAL_CACHE_DIR".into(), cache));
    }
    Ok(environment)
}

/// Cargo's target directory for `platform`'s release builds: `target/` for
/// amd64 (where `cargo build --target x86_64-unknown-linux-musl` puts them
/// too), `target/<architecture>/` for the others, so each platform's chain
/// has a directory of its own and the two can build at once. A binary ends
/// in `<target_dir>/<rust target>/dist/<service>`.
pub fn target_dir(workspace: &Workspace, platform: Platform) -> PathBuf {
    let target = workspace.root.join("target");
    if platform == AMD64 {
        target
    } else {
        target.join(platform.architecture)
    }
}

/// zig's cache for builds at `epoch`: `~/.cache/cloudshop-zig/<epoch>`.
///
/// zig (clang) honours `SOURCE_DATE_EPOCH` for `__DATE__` and `__TIME__`
/// (mimalloc's `options.c` has both), but its cache does not key a C object
/// on it: with one cache for every build, an object compiled at another
/// commit's epoch comes back with that commit's time in it. (Found when the
/// work tree's arm64 `orders` differed from a clean build of the same commit
/// by exactly that string.) One cache per epoch keeps builds of one commit
/// sharing zig's own musl and compiler-rt, and no two commits sharing
/// anything; caches of other epochs unused for a day are removed.
fn zig_cache(epoch: i64) -> anyhow::Result<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .context("neither XDG_CACHE_HOME nor HOME is set")?
        .join("cloudshop-zig");
    let cache = base.join(epoch.to_string());
    std::fs::create_dir_all(&cache).with_context(|| format!("creating {}", cache.display()))?;
    let day = std::time::Duration::from_secs(24 * 3600);
    for entry in std::fs::read_dir(&base)?.filter_map(Result::ok) {
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|modified| modified.elapsed().ok())
            .is_some_and(|age| age > day);
        if entry.path() != cache && stale {
            // Best effort: a cache another build still uses is rebuilt by it.
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    Ok(cache)
}

fn cargo_home() -> anyhow::Result<String> {
    if let Some(home) = std::env::var_os("CARGO_HOME") {
        return Ok(PathBuf::from(home).canonicalize()?.display().to_string());
    }
    let home = std::env::var_os("HOME").context("neither CARGO_HOME nor HOME is set")?;
    Ok(PathBuf::from(home)
        .join(".cargo")
        .canonicalize()?
        .display()
        .to_string())
}

/// Builds `services` for each of `platforms` and copies the binaries to
/// `dist/bin/` (amd64) and `dist/arm64/bin/`.
///
/// One cargo invocation per service and platform: cargo unifies features
/// across the packages of one invocation, so building them together would
/// give each binary the features the others need. Alone, a service's binary
/// holds exactly its own dependency closure, and is the same whichever other
/// services are built with it.
pub fn build(
    workspace: &Workspace,
    services: &[Service],
    platforms: &[Platform],
) -> anyhow::Result<Vec<Built>> {
    let pairs: Vec<(Service, Platform)> = platforms
        .iter()
        .flat_map(|&platform| services.iter().map(move |&service| (service, platform)))
        .collect();
    build_pairs(workspace, &pairs)
}

/// Builds each (service, platform) of `pairs` as [`build`] does: the
/// platforms' chains side by side (a thread each, in its own target
/// directory), the services of one platform one after another, in the
/// order given. A failure stops every chain before its next binary and is
/// reported once they have all stopped. With more than one chain, cargo's
/// progress bar is off (two would overwrite each other on a terminal); its
/// `Compiling` lines and this function's own `[n/total]` lines remain.
pub fn build_pairs(workspace: &Workspace, pairs: &[(Service, Platform)]) -> anyhow::Result<Vec<Built>> {
    let commit = workspace.commit()?;
    let mut chains: Vec<(Platform, Vec<Service>)> = Vec::new();
    for &(service, platform) in pairs {
        match chains.iter_mut().find(|(p, _)| *p == platform) {
            Some((_, services)) => services.push(service),
            None => chains.push((platform, vec![service])),
        }
    }
    let progress = Progress {
        total: pairs.len(),
        started: AtomicUsize::new(0),
        failed: AtomicBool::new(false),
        several: chains.len() > 1,
    };
    let results: Vec<anyhow::Result<()>> = std::thread::scope(|scope| {
        let handles: Vec<_> = chains
            .iter()
            .map(|(platform, services)| {
                let progress = &progress;
                scope.spawn(move || {
                    let result = build_chain(workspace, *platform, services, commit.epoch, progress);
                    if result.is_err() {
                        progress.failed.store(true, Ordering::SeqCst);
                    }
                    result
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a build thread panicked")))
            })
            .collect()
    });
    for result in results {
        result?;
    }
    let mut built = Vec::new();
    for (platform, services) in &chains {
        for service in services {
            let from = target_dir(workspace, *platform)
                .join(platform.target)
                .join(PROFILE)
                .join(service.name);
            let path = workspace.binary(service, *platform);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::copy(&from, &path)
                .with_context(|| format!("cannot copy {} to {}", from.display(), path.display()))?;
            elf::check_static(&path, *platform)?;
            built.push(Built {
                service: service.id,
                platform: platform.name(),
                digest: file_digest(&path)?,
                size: std::fs::metadata(&path)?.len(),
                path,
            });
        }
    }
    Ok(built)
}

/// What the chains of one [`build_pairs`] share.
struct Progress {
    total: usize,
    /// Binaries started so far, across chains: the `n` of `[n/total]`.
    started: AtomicUsize,
    /// Set by the first chain that fails; the others stop before their next binary.
    failed: AtomicBool,
    /// More than one chain at once.
    several: bool,
}

/// One platform's services, one after another, in its own target directory.
fn build_chain(
    workspace: &Workspace,
    platform: Platform,
    services: &[Service],
    epoch: i64,
    progress: &Progress,
) -> anyhow::Result<()> {
    let mut environment = reproducible_env(workspace, platform, epoch)?;
    if progress.several {
        environment.push(("CARGO_TERM_PROGRESS_WHEN".into(), "never".into()));
    }
    for service in services {
        if progress.failed.load(Ordering::SeqCst) {
            // Another chain failed: its error is the one reported.
            break;
        }
        let n = progress.started.fetch_add(1, Ordering::SeqCst) + 1;
        let label = format!(
            "[{n}/{}] {} for {}",
            progress.total,
            service.package,
            platform.name()
        );
        cloudshop_host::progress::line(format_args!("    {label}"));
        let clock = std::time::Instant::now();
        cargo_build(workspace, service, platform, &environment)?;
        cloudshop_host::progress::line(format_args!(
            "    {label}: built in {} s",
            clock.elapsed().as_secs()
        ));
    }
    Ok(())
}

/// One `cargo auditable build` (amd64) or `zigbuild` (the others) of `service`.
fn cargo_build(
    workspace: &Workspace,
    service: &Service,
    platform: Platform,
    environment: &[(String, String)],
) -> anyhow::Result<()> {
    let mut cargo =
        cloudshop_topology::tools::command(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo.current_dir(&workspace.root).arg("auditable");
    if platform == AMD64 {
        // The musl target's C compiler for crates with C code.
        cargo
            .arg("build")
            .env(format!("CC_{}", platform.env_suffix()), "musl-gcc");
    } else {
        cargo.arg("zigbuild");
    }
    cargo
        .args(["--profile", PROFILE, "--locked", "--target", platform.target])
        .args(["-p", service.package])
        // RUSTFLAGS would also reach host build scripts and override the
        // target-scoped flags set below.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .envs(environment.iter().map(|(k, v)| (k, v)));
    let status = cargo.status().with_context(|| {
        format!(
            "cannot run cargo for {} (is cargo-auditable installed? `cargo install --locked cargo-auditable`{})",
            platform.name(),
            if platform == AMD64 {
                ""
            } else {
                "; and cargo-zigbuild with zig? `pip install cargo-zigbuild ziglang`"
            }
        )
    })?;
    if !status.success() {
        bail!(
            "cargo auditable {} of {} for {} failed ({status})",
            if platform == AMD64 { "build" } else { "zigbuild" },
            service.package,
            platform.target
        );
    }
    Ok(())
}
