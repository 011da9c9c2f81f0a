//! A private PostgreSQL cluster run from the machine's server binaries.
//!
//! The cluster accepts TCP connections on 127.0.0.1 only over TLS (`hostssl`
//! lines only, TLS 1.3, the development CA's `postgres` certificate) with
//! SCRAM passwords; the superuser is reachable only through the Unix socket in
//! the cluster's own folder. PostgreSQL refuses to run as root, so when this
//! process is root the cluster belongs to, and runs as, the `postgres` user.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use cloudshop_topology::database_roles;

use crate::files::ShopFiles;
use crate::signals::{self, Signal};

/// Where `initdb`, `postgres` and `psql` are.
#[derive(Debug, Clone)]
pub struct Binaries {
    dir: PathBuf,
}

impl Binaries {
    /// Finds the server binaries on `PATH`, else under
    /// `/usr/lib/postgresql/<version>/bin` (the newest version).
    pub fn find() -> anyhow::Result<Self> {
        if let Some(path) = std::env::var_os("PATH") {
            for dir in std::env::split_paths(&path) {
                // Follow links (Debian links some into /usr/local/bin) to the
                // folder that also holds psql.
                if let Ok(initdb) = fs::canonicalize(dir.join("initdb"))
                    && let Some(dir) = initdb.parent()
                    && ["postgres", "psql"].iter().all(|p| dir.join(p).is_file())
                {
                    return Ok(Self { dir: dir.to_owned() });
                }
            }
        }
        let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let version = entry.file_name().to_str()?.parse().ok()?;
                let bin = entry.path().join("bin");
                bin.join("initdb").is_file().then_some((version, bin))
            })
            .collect();
        versions.sort();
        match versions.pop() {
            Some((_, dir)) => Ok(Self { dir }),
            None => bail!(
                "PostgreSQL server binaries (initdb, postgres) were found neither on PATH nor under \
                 /usr/lib/postgresql/<version>/bin; install them, e.g. `apt-get install postgresql`"
            ),
        }
    }

    pub fn path(&self, program: &str) -> PathBuf {
        self.dir.join(program)
    }
}

/// How a new cluster's data folder is made.
#[derive(Debug, Clone, Copy)]
enum Origin {
    Initdb,
    Template,
}

/// Whether the cluster must survive a crash (the local shop) or may skip fsync
/// for speed (tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    Durable,
    Ephemeral,
}

#[derive(Debug, Clone, Copy)]
struct Owner {
    uid: u32,
    gid: u32,
}

/// A started server: the process we spawned and the postmaster's pid.
#[derive(Debug)]
pub struct Running {
    child: Child,
    pid: String,
    /// The child is `runuser`, which reports the postmaster's death by
    /// signal `n` as exit code `128 + n`.
    wrapped: bool,
}

impl Running {
    /// The postmaster's pid (as in `postmaster.pid`).
    pub fn pid(&self) -> &str {
        &self.pid
    }

    /// How the server ended, once it has; `None` while it runs. Does not block.
    pub fn exited(&mut self) -> std::io::Result<Option<Exited>> {
        Ok(self
            .child
            .try_wait()?
            .map(|status| Exited::new(status, self.wrapped)))
    }
}

/// How a server process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exited {
    Signal(i32),
    Code(i32),
}

impl Exited {
    fn new(status: ExitStatus, wrapped: bool) -> Self {
        use std::os::unix::process::ExitStatusExt;
        match (status.signal(), status.code()) {
            (Some(signal), _) => Self::Signal(signal),
            (None, Some(code)) if wrapped && code > 128 => Self::Signal(code - 128),
            (None, code) => Self::Code(code.unwrap_or(-1)),
        }
    }
}

impl std::fmt::Display for Exited {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Signal(signal) => write!(f, "signal {signal}"),
            Self::Code(code) => write!(f, "exit code {code}"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Cluster {
    bin: Binaries,
    dir: PathBuf,
    port: u16,
    owner: Option<Owner>,
}

impl Cluster {
    /// A cluster living in `files`' `postgres/` folder, listening on `port`.
    pub fn new(files: &ShopFiles, port: u16) -> anyhow::Result<Self> {
        let owner = if running_as_root() {
            Some(postgres_user().context(
                "running as root, PostgreSQL needs an unprivileged user: no `postgres` user in /etc/passwd",
            )?)
        } else {
            None
        };
        Ok(Self {
            bin: Binaries::find()?,
            // psql takes a socket folder only as an absolute path.
            dir: std::path::absolute(files.postgres_dir())?,
            port,
            owner,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn tls_dir(&self) -> PathBuf {
        self.dir.join("tls")
    }

    /// A command that runs as the cluster's owner.
    fn command(&self, program: &Path) -> Command {
        match self.owner {
            Some(_) => {
                let mut command = Command::new("runuser");
                command.args(["-u", "postgres", "--"]).arg(program);
                command
            }
            None => Command::new(program),
        }
    }

    /// Creates the cluster on first use (initdb, TLS-only access rules) and
    /// installs the current PostgreSQL certificate from `files`.
    pub fn init(&self, files: &ShopFiles) -> anyhow::Result<()> {
        self.prepare(files, Origin::Initdb)
    }

    /// Like [`init`](Self::init), but a new cluster is a copy of a template
    /// that `initdb` made once for this machine's PostgreSQL and user, under
    /// the temporary folder (`cloudshop-postgres-templates/`): every test
    /// binary and the bench need an empty cluster, and copying one takes
    /// milliseconds where `initdb` takes seconds. For throwaway clusters; the
    /// local shop's own runs `initdb`.
    pub fn init_from_template(&self, files: &ShopFiles) -> anyhow::Result<()> {
        self.prepare(files, Origin::Template)
    }

    fn prepare(&self, files: &ShopFiles, origin: Origin) -> anyhow::Result<()> {
        fs::create_dir_all(self.tls_dir())?;
        fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o700))?;
        fs::copy(files.cert("postgres"), self.tls_dir().join("server.pem"))?;
        fs::copy(files.key("postgres"), self.tls_dir().join("server-key.pem"))?;
        fs::set_permissions(
            self.tls_dir().join("server-key.pem"),
            fs::Permissions::from_mode(0o600),
        )?;
        if let Some(owner) = self.owner {
            // Traversable by the owner: the files root and the cluster folder.
            fs::set_permissions(files.root(), fs::Permissions::from_mode(0o755))?;
            chown_tree(&self.dir, owner)?;
        }
        if self.data_dir().join("PG_VERSION").exists() {
            return Ok(());
        }
        match origin {
            Origin::Initdb => self.initdb(&self.data_dir(), &[])?,
            Origin::Template => {
                let template = self.template()?;
                copy_tree(&template, &self.data_dir())
                    .with_context(|| format!("copying the PostgreSQL template {}", template.display()))?;
            }
        }
        // Only the superuser on the local socket, and TLS with a password on TCP.
        let hba = "local all postgres trust\n\
                   hostssl all all 127.0.0.1/32 scram-sha-256\n\
                   hostssl all all ::1/128 scram-sha-256\n";
        fs::write(self.data_dir().join("pg_hba.conf"), hba)?;
        if let Some(owner) = self.owner {
            chown_tree(&self.dir, owner)?;
        }
        Ok(())
    }

    /// `initdb` into `data` (created, or empty), as the cluster's owner.
    fn initdb(&self, data: &Path, extra: &[&str]) -> anyhow::Result<()> {
        let output = self
            .command(&self.bin.path("initdb"))
            .arg("-D")
            .arg(data)
            .args([
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ])
            .args(["--encoding=UTF8", "--locale=C.UTF-8", "--no-instructions"])
            .args(extra)
            .output()
            .context("running initdb")?;
        if !output.status.success() {
            bail!("initdb failed: {}", String::from_utf8_lossy(&output.stderr));
        }
        Ok(())
    }

    /// The template's data folder, made on first use. One per PostgreSQL
    /// build (its binaries' folder) and owner; `initdb` runs in a staging
    /// folder that is renamed into place, so the path only ever holds a
    /// complete template, and two processes racing both succeed.
    fn template(&self) -> anyhow::Result<PathBuf> {
        let root = std::env::temp_dir().join("cloudshop-postgres-templates");
        let uid = match self.owner {
            Some(owner) => owner.uid,
            None => current_uid()?,
        };
        let build: String = self
            .bin
            .dir
            .to_string_lossy()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let template = root.join(format!("{build}-uid{uid}"));
        if template.join("PG_VERSION").is_file() {
            return Ok(template);
        }
        fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
        let staging = tempfile::Builder::new()
            .prefix(".staging-")
            .tempdir_in(&root)
            .with_context(|| format!("creating a folder in {}", root.display()))?;
        if let Some(owner) = self.owner {
            chown_tree(staging.path(), owner)?;
        }
        let data = staging.path().join("data");
        // Throwaway clusters run with fsync off; the template need not be synced.
        self.initdb(&data, &["--no-sync"])
            .context("making the PostgreSQL template")?;
        if let Err(err) = fs::rename(&data, &template)
            && !template.join("PG_VERSION").is_file()
        {
            return Err(err).with_context(|| format!("moving the template to {}", template.display()));
        }
        Ok(template)
    }

    fn server_command(&self, durability: Durability) -> Command {
        let mut command = self.command(&self.bin.path("postgres"));
        command
            .arg("-D")
            .arg(self.data_dir())
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-k")
            .arg(&self.dir)
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-c", "ssl=on", "-c", "ssl_min_protocol_version=TLSv1.3"])
            .arg("-c")
            .arg(format!(
                "ssl_cert_file={}",
                self.tls_dir().join("server.pem").display()
            ))
            .arg("-c")
            .arg(format!(
                "ssl_key_file={}",
                self.tls_dir().join("server-key.pem").display()
            ))
            .args(["-c", "max_connections=300", "-c", "log_min_messages=warning"]);
        if durability == Durability::Ephemeral {
            command.args([
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ]);
        }
        command
    }

    /// Where the server writes its log.
    pub fn log_file(&self) -> PathBuf {
        self.dir.join("postgres.log")
    }

    /// Starts the server as a child process; [`Self::stop`] ends it.
    pub fn spawn(&self, durability: Durability) -> anyhow::Result<Running> {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_file())
            .context("opening postgres.log")?;
        let mut child = self
            .server_command(durability)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting postgres")?;
        if let Err(err) = self.wait_ready(&mut child, Duration::from_secs(30)) {
            abandon(&mut child);
            return Err(err);
        }
        // The postmaster's own pid: the child may be a `runuser` wrapper.
        let pid = fs::read_to_string(self.data_dir().join("postmaster.pid"))
            .ok()
            .and_then(|text| text.lines().next().map(|line| line.trim().to_owned()))
            .context("reading postmaster.pid")?;
        Ok(Running {
            child,
            pid,
            wrapped: self.owner.is_some(),
        })
    }

    /// Starts the server for this process's lifetime: a watchdog stops it and
    /// deletes `remove_on_exit` as soon as this process exits, however it exits.
    pub fn spawn_for_process(&self, remove_on_exit: &Path) -> anyhow::Result<()> {
        let log = fs::File::create(self.log_file()).context("creating postgres.log")?;
        let mut child = self
            .server_command(Durability::Ephemeral)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting postgres")?;
        self.wait_ready(&mut child, Duration::from_secs(30))?;
        // The watchdog's stdin is a pipe from this process; it reads EOF when
        // this process is gone, however it ended.
        let script = r#"cat >/dev/null
pid=$(head -n 1 "$1/postmaster.pid" 2>/dev/null)
if [ -n "$pid" ]; then kill -INT "$pid"; while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done; fi
rm -rf "$2""#;
        let watchdog = Command::new("sh")
            .args(["-c", script, "watchdog"])
            .arg(self.data_dir())
            .arg(remove_on_exit)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .context("starting the cluster's watchdog")?;
        // Keep the pipe's write end open until the process exits.
        std::mem::forget(watchdog);
        Ok(())
    }

    /// Asks the server to stop (fast shutdown) and waits for it, at most
    /// 30 seconds before killing it.
    pub fn stop(&self, running: Running) -> anyhow::Result<()> {
        let Running { mut child, pid, .. } = running;
        send(&pid, Signal::Interrupt);
        for _ in 0..300 {
            if child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        send(&pid, Signal::Kill);
        // The wrapper too: a `runuser` whose child was once stopped (SIGSTOP)
        // stops itself and would never reap it.
        let _ = child.kill();
        child.wait()?;
        Ok(())
    }

    /// Stops whatever server runs on this cluster's data (fast shutdown: open
    /// sessions are ended) and waits until it is gone; [`Self::spawn`] starts
    /// it again. For fault tests.
    pub fn halt(&self) -> anyhow::Result<()> {
        let pid = fs::read_to_string(self.data_dir().join("postmaster.pid"))
            .ok()
            .and_then(|text| text.lines().next().map(|line| line.trim().to_owned()))
            .context("no running server (postmaster.pid)")?;
        send(&pid, Signal::Interrupt);
        let deadline = Instant::now() + Duration::from_secs(30);
        while pid.parse().is_ok_and(signals::exists) {
            anyhow::ensure!(Instant::now() < deadline, "PostgreSQL did not stop within 30 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// Waits until the server answers, failing at once when `child` exits
    /// first (a data folder another server still uses, a bad setting).
    fn wait_ready(&self, child: &mut Child, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait()? {
                bail!(
                    "postgres exited ({status}) before it accepted connections; see {}",
                    self.log_file().display()
                );
            }
            match self.psql("postgres", "SELECT 1") {
                Ok(_) => return Ok(()),
                Err(err) if Instant::now() >= deadline => return Err(err.context("PostgreSQL did not start")),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// Runs SQL as the superuser over the Unix socket; returns unaligned output.
    pub fn psql(&self, database: &str, sql: &str) -> anyhow::Result<String> {
        let output = Command::new(self.bin.path("psql"))
            .arg("-h")
            .arg(&self.dir)
            .args(["-p", &self.port.to_string(), "-U", "postgres", "-d", database])
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .env_remove("PGPASSWORD")
            .stdin(Stdio::null())
            .output()
            .context("running psql")?;
        if !output.status.success() {
            bail!("psql: {}", String::from_utf8_lossy(&output.stderr).trim());
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    }

    /// Creates each service's login role, or resets its password to the one in
    /// `files`.
    pub fn provision_roles(&self, files: &ShopFiles) -> anyhow::Result<()> {
        for role in database_roles() {
            let password = fs::read_to_string(files.db_password(role).path())?;
            let password = quote_literal(password.trim_end());
            let exists = self.psql(
                "postgres",
                &format!("SELECT 1 FROM pg_roles WHERE rolname = '{role}'"),
            )?;
            let verb = if exists == "1" { "ALTER" } else { "CREATE" };
            self.psql(
                "postgres",
                &format!(
                    "SET password_encryption = 'scram-sha-256'; \
                     {verb} ROLE \"{role}\" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {password}"
                ),
            )?;
        }
        Ok(())
    }

    /// Creates `database` (when missing) with one schema per service, owned by
    /// that service's role; nobody else may use it.
    pub fn create_database(&self, database: &str) -> anyhow::Result<()> {
        let exists = self.psql(
            "postgres",
            &format!("SELECT 1 FROM pg_database WHERE datname = '{database}'"),
        )?;
        if exists != "1" {
            self.psql("postgres", &format!("CREATE DATABASE \"{database}\""))?;
        }
        let mut sql = format!(
            "REVOKE ALL ON DATABASE \"{database}\" FROM PUBLIC; REVOKE ALL ON SCHEMA public FROM PUBLIC;"
        );
        for role in database_roles() {
            sql.push_str(&format!(
                "GRANT CONNECT ON DATABASE \"{database}\" TO \"{role}\"; \
                 CREATE SCHEMA IF NOT EXISTS \"{role}\" AUTHORIZATION \"{role}\"; \
                 REVOKE ALL ON SCHEMA \"{role}\" FROM PUBLIC;"
            ));
        }
        self.psql(database, &sql)?;
        Ok(())
    }
}

/// Sends `signal` to the postmaster `pid` (as `postmaster.pid` has it).
fn send(pid: &str, signal: Signal) {
    if let Ok(id) = pid.parse() {
        signals::send(id, signal);
    }
}

/// Ends a server that never became ready: SIGTERM (`runuser` passes it on),
/// SIGKILL after 10 seconds.
fn abandon(child: &mut Child) {
    signals::send(child.id(), Signal::Terminate);
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if !matches!(child.try_wait(), Ok(None)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

fn running_as_root() -> bool {
    current_uid().map(|uid| uid == 0).unwrap_or(false)
}

/// This process's user: the owner of its `/proc/self`.
fn current_uid() -> std::io::Result<u32> {
    fs::metadata("/proc/self").map(|m| m.uid())
}

fn postgres_user() -> Option<Owner> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.first() == Some(&"postgres") && fields.len() > 3).then(|| {
            Some(Owner {
                uid: fields[2].parse().ok()?,
                gid: fields[3].parse().ok()?,
            })
        })?
    })
}

fn chown_tree(path: &Path, owner: Owner) -> anyhow::Result<()> {
    std::os::unix::fs::chown(path, Some(owner.uid), Some(owner.gid))
        .with_context(|| format!("chown {}", path.display()))?;
    if path.is_dir() {
        for entry in fs::read_dir(path)? {
            chown_tree(&entry?.path(), owner)?;
        }
    }
    Ok(())
}

/// Copies a data folder: folders `0700` (PostgreSQL refuses others), files
/// with their permission bits; the caller sets the owner.
fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    fs::create_dir(to).with_context(|| format!("creating {}", to.display()))?;
    fs::set_permissions(to, fs::Permissions::from_mode(0o700))?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), &target).with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
}
