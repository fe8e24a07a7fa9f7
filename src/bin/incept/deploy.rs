//! `incept bundle` and `incept deploy`: cross-build the board firmware, bundle it with its
//! service unit and installer, copy it to the board over SSH, install it atomically, restart
//! the service and run the self-test there.
//!
//! Everything remote goes through OpenSSH's `ssh` and `scp` with key authentication
//! (`BatchMode=yes`: never a password prompt). The installer (`deploy/install.sh`) is the same
//! for `deploy` and for a bundle flashed by hand.

use std::ffi::OsString;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use clap::ValueEnum;
use sha2::{Digest, Sha256};

const INSTALL_SH: &str = include_str!("deploy/install.sh");
const SERVICE: &str = include_str!("deploy/incept.service");
const BUNDLE_TXT: &str = include_str!("deploy/BUNDLE.txt");

/// The boards `incept deploy` knows.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Board {
    /// Raspberry Pi 3 on 64-bit Raspberry Pi OS (`incept-pi`).
    Rpi3,
    /// Raspberry Pi 4 / 400 / CM4 on 64-bit Raspberry Pi OS (`incept-pi`).
    Rpi4,
    /// Raspberry Pi 5 / CM5 on 64-bit Raspberry Pi OS (`incept-pi`).
    Rpi5,
    /// Any arm64 Linux board with V4L2 (`incept-v4l2`).
    LinuxAarch64,
    /// Any 32-bit ARMv7 Linux board with NEON, e.g. a Pi on 32-bit Raspberry Pi OS
    /// (`incept-v4l2`).
    LinuxArmv7,
    /// An x86_64 Linux machine (`incept-v4l2`, built for the host): a PC with a webcam, or a
    /// loopback "board" to try a deploy on.
    #[value(name = "linux-x86_64")]
    LinuxX86_64,
}

/// What building and installing for a board needs.
#[derive(Debug, Clone, Copy)]
struct Spec {
    target: &'static str,
    package: &'static str,
    bin: &'static str,
    /// `uname -m` answers the installer accepts. A 32-bit OS on a 64-bit Pi kernel says
    /// aarch64 (the self-test after installing catches a 64-bit userland).
    arches: &'static str,
    /// ELF class (1 = 32-bit, 2 = 64-bit) and machine of the firmware.
    elf: (u8, u16),
    /// The firmware's arguments in the service's first `incept.env`.
    args: &'static str,
}

impl Board {
    fn spec(self) -> Spec {
        const AARCH64: (u8, u16) = (2, 183);
        let pi = |args| Spec {
            target: "aarch64-unknown-linux-gnu",
            package: "inception-edge-raspberry-pi",
            bin: "incept-pi",
            arches: "aarch64 arm64",
            elf: AARCH64,
            args,
        };
        let linux = |target, arches, elf| Spec {
            target,
            package: "inception-edge-linux",
            bin: "incept-v4l2",
            arches,
            elf,
            args: "--device /dev/video0 --sink console",
        };
        match self {
            Board::Rpi3 => pi("--board pi3 --device /dev/video0 --size 320x240 --sink console"),
            Board::Rpi4 => pi("--board pi4 --device /dev/video0 --sink console"),
            Board::Rpi5 => pi("--board pi5 --device /dev/video0 --sink console"),
            Board::LinuxAarch64 => linux("aarch64-unknown-linux-gnu", "aarch64 arm64", AARCH64),
            Board::LinuxArmv7 => linux(
                "armv7-unknown-linux-gnueabihf",
                "armv7l armv8l aarch64",
                (1, 40),
            ),
            Board::LinuxX86_64 => linux("x86_64-unknown-linux-gnu", "x86_64", (2, 62)),
        }
    }

    fn name(self) -> String {
        self.to_possible_value()
            .map(|v| v.get_name().to_owned())
            .unwrap_or_default()
    }
}

/// How the installer manages the service.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    /// systemd if the board runs it, else none.
    Auto,
    /// Install `incept.service` into /etc/systemd/system, enable and restart it.
    Systemd,
    /// Install the files only; print how to start the firmware.
    None,
}

/// Where the firmware comes from and what goes into the bundle.
#[derive(clap::Args, Debug, Clone)]
pub struct BuildArgs {
    /// The board to build for.
    #[arg(long, value_enum)]
    pub board: Board,
    /// The model to embed (a name from models/manifest.toml; default: the index's default).
    #[arg(long)]
    pub model: Option<String>,
    /// Bundle this already built firmware instead of building it (checked to be an ELF
    /// executable for the board's architecture).
    #[arg(long)]
    pub binary: Option<PathBuf>,
    /// The inception-edge checkout to build in (default: the one this `incept` was built from,
    /// else the current directory).
    #[arg(long)]
    pub source: Option<PathBuf>,
    /// The firmware's arguments written to the first `incept.env` (default: the board's camera
    /// on /dev/video0, results to the console/journal).
    #[arg(long, allow_hyphen_values = true)]
    pub service_args: Option<String>,
}

/// `incept bundle`.
#[derive(clap::Args, Debug)]
pub struct BundleArgs {
    #[command(flatten)]
    build: BuildArgs,
    /// The tarball to write (default: incept-BOARD-RELEASE.tar.gz here).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Print each step instead of running it.
    #[arg(long)]
    dry_run: bool,
}

/// `incept deploy`.
#[derive(clap::Args, Debug)]
pub struct DeployArgs {
    #[command(flatten)]
    build: BuildArgs,
    /// The board's SSH login, `user@address`.
    #[arg(long)]
    host: String,
    /// The board's SSH port.
    #[arg(short, long, default_value_t = 22)]
    port: u16,
    /// The private key to log in with (default: ssh's own choice, e.g. ~/.ssh/id_ed25519).
    #[arg(short, long)]
    identity: Option<PathBuf>,
    /// An extra `ssh -o` option, e.g. `UserKnownHostsFile=/path`. Repeatable.
    #[arg(short = 'o', long = "ssh-option")]
    ssh_options: Vec<String>,
    /// Where the firmware is installed on the board.
    #[arg(long, default_value = "/opt/incept")]
    prefix: String,
    /// How the service is managed on the board.
    #[arg(long, value_enum, default_value_t = Service::Auto)]
    service: Service,
    /// Run the installer and the self-test with `sudo -n` (a login that is not root).
    #[arg(long)]
    sudo: bool,
    /// Print each step instead of running it.
    #[arg(long)]
    dry_run: bool,
}

/// Why a bundle or deploy failed; each says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// Part of the cross toolchain is missing.
    #[error("the {target} toolchain is incomplete: {what}\n  fix: {fix}")]
    Toolchain {
        /// The Rust target.
        target: &'static str,
        /// What is missing.
        what: String,
        /// How to install it.
        fix: &'static str,
    },
    /// Not a checkout to build in.
    #[error("{0} is not an inception-edge checkout (no boards/linux/Cargo.toml): pass --source DIR or --binary FILE")]
    NoSource(PathBuf),
    /// cargo failed.
    #[error("building the firmware failed: `{0}` (its output is above)")]
    Build(String),
    /// The firmware file is not what the board runs.
    #[error("{path} cannot run on {board}: {why}")]
    Binary {
        /// The file.
        path: PathBuf,
        /// The board.
        board: String,
        /// What is wrong.
        why: String,
    },
    /// The service arguments cannot go into `incept.env` as they are.
    #[error("--service-args {0:?} must not contain quotes, backslashes, $, ` or newlines")]
    ServiceArgs(String),
    /// The board cannot be reached.
    #[error("cannot reach {host}: {detail}")]
    Unreachable {
        /// The login.
        host: String,
        /// What ssh said.
        detail: String,
    },
    /// The board refused the key.
    #[error("SSH authentication to {host} failed (key authentication only, no password prompts): {detail}\n  fix: install your public key in the board's ~/.ssh/authorized_keys (ssh-copy-id), or pass --identity KEY")]
    Auth {
        /// The login.
        host: String,
        /// What ssh said.
        detail: String,
    },
    /// The board's host key is unknown or changed.
    #[error("the host key of {host} could not be verified: {detail}\n  fix: ssh to it once by hand to accept its key, or pass -o UserKnownHostsFile=FILE")]
    HostKey {
        /// The login.
        host: String,
        /// What ssh said.
        detail: String,
    },
    /// The board is another architecture.
    #[error("{host} is {found} (uname -m) but a {board} bundle runs on {expected}; pick the right --board")]
    WrongArch {
        /// The login.
        host: String,
        /// `uname -m`.
        found: String,
        /// The board asked for.
        board: String,
        /// What it needs.
        expected: String,
    },
    /// Not enough space on the board.
    #[error("disk full on {host}: {free_kib} KiB free on the filesystem of {path}, {need_kib} KiB needed")]
    DiskFull {
        /// The login.
        host: String,
        /// The directory.
        path: String,
        /// Free space.
        free_kib: u64,
        /// Needed space.
        need_kib: u64,
    },
    /// A remote step failed.
    #[error("{step} on {host} failed (exit status {status}):\n{detail}")]
    Remote {
        /// The step.
        step: &'static str,
        /// The login.
        host: String,
        /// Its exit status.
        status: i32,
        /// Its output.
        detail: String,
    },
    /// Local I/O.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
}

type Result<T> = std::result::Result<T, DeployError>;

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> DeployError {
    let what = what.into();
    move |source| DeployError::Io { what, source }
}

/// A command as it is printed by `--dry-run` and in errors.
struct Shown<'a>(&'a Command);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (k, v) in self.0.get_envs() {
            if let Some(v) = v {
                write!(f, "{}={} ", k.to_string_lossy(), v.to_string_lossy())?;
            }
        }
        write!(f, "{}", self.0.get_program().to_string_lossy())?;
        for a in self.0.get_args() {
            let a = a.to_string_lossy();
            if a.is_empty()
                || a.contains(|c: char| c.is_whitespace() || "'\"$;&|<>()*?".contains(c))
            {
                write!(f, " {}", quote(&a))?;
            } else {
                write!(f, " {a}")?;
            }
        }
        Ok(())
    }
}

/// Quotes `s` for a POSIX shell.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Numbered steps with their times.
struct Steps {
    total: usize,
    done: usize,
    dry_run: bool,
    start: Instant,
}

impl Steps {
    fn new(total: usize, dry_run: bool) -> Self {
        Steps {
            total,
            done: 0,
            dry_run,
            start: Instant::now(),
        }
    }

    /// Announces the next step; `false` means dry run (print `cmds`, do nothing).
    fn next(&mut self, what: &str, cmds: &[String]) -> bool {
        self.done += 1;
        eprintln!("[{}/{}] {what}", self.done, self.total);
        if self.dry_run {
            for c in cmds {
                println!("  $ {c}");
            }
        }
        !self.dry_run
    }
}

/// The firmware to bundle: an existing file, or the cargo command that builds it.
fn firmware(args: &BuildArgs, steps: &mut Steps) -> Result<PathBuf> {
    let spec = args.board.spec();
    if let Some(path) = &args.binary {
        steps.next(&format!("firmware: {} (prebuilt)", path.display()), &[]);
        if !steps.dry_run {
            check_elf(path, args.board)?;
        }
        return Ok(path.clone());
    }
    let source = match &args.source {
        Some(s) => s.clone(),
        None => {
            let built_from = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
            if built_from.join("boards/linux/Cargo.toml").is_file() {
                built_from
            } else {
                PathBuf::from(".")
            }
        }
    };
    if !source.join("boards/linux/Cargo.toml").is_file() {
        return Err(DeployError::NoSource(source));
    }
    let host = spec.target == host_target();
    let mut cmd = Command::new("cargo");
    cmd.current_dir(&source);
    if let Some(model) = &args.model {
        cmd.env("INCEPTION_EDGE_MODEL", model);
    }
    let target_dir = if host {
        std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| source.join("target"))
    } else {
        cmd.env("CARGO_TARGET_DIR", "target/debian")
            .env("RUSTC_BOOTSTRAP", "1")
            .arg("+debian");
        source.join("target/debian")
    };
    cmd.args(["build", "--release", "-p", spec.package, "--bin", spec.bin]);
    let out = if host {
        target_dir.join("release").join(spec.bin)
    } else {
        cmd.args(["--target", spec.target]);
        if spec.target.starts_with("armv7") {
            cmd.arg("-Zbuild-std=std,panic_abort");
        }
        target_dir.join(spec.target).join("release").join(spec.bin)
    };
    let shown = format!("(cd {} && {})", source.display(), Shown(&cmd));
    if steps.next(
        &format!(
            "build {} for {} ({})",
            spec.bin,
            args.board.name(),
            spec.target
        ),
        std::slice::from_ref(&shown),
    ) {
        if !host {
            check_toolchain(spec.target)?;
        }
        let status = cmd
            .status()
            .map_err(io("cannot run cargo (is Rust installed?)"))?;
        if !status.success() {
            return Err(DeployError::Build(shown));
        }
        check_elf(&out, args.board)?;
    }
    Ok(out)
}

/// The target this `incept` was built for.
fn host_target() -> &'static str {
    env!("INCEPT_TARGET")
}

/// Checks the Debian cross toolchain of the README's recipe.
fn check_toolchain(target: &'static str) -> Result<()> {
    let missing = |what: String, fix| DeployError::Toolchain { target, what, fix };
    let sysroot = Command::new("rustc")
        .args(["+debian", "--print", "sysroot"])
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .ok_or_else(|| {
            missing(
                "no `debian` toolchain in rustup (Debian's rustc-web)".into(),
                "apt-get install rustc-web cargo-web rust-web-src && rustup toolchain link debian /usr",
            )
        })?;
    let (linker, package) = if target.starts_with("aarch64") {
        (
            "aarch64-linux-gnu-gcc",
            "apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross",
        )
    } else {
        (
            "arm-linux-gnueabihf-gcc",
            "apt-get install gcc-arm-linux-gnueabihf libc6-dev-armhf-cross",
        )
    };
    let linker_ok = Command::new(linker)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !linker_ok {
        return Err(missing(format!("no linker `{linker}`"), package));
    }
    if target.starts_with("aarch64") {
        let std = sysroot.join("lib/rustlib").join(target).join("lib");
        if !std.is_dir() {
            return Err(missing(
                format!("no prebuilt std in {}", std.display()),
                "dpkg --add-architecture arm64 && apt-get update && apt-get install libstd-rust-web-dev:arm64",
            ));
        }
    } else {
        let src = sysroot.join("lib/rustlib/src/rust/library");
        if !src.is_dir() {
            return Err(missing(
                format!("no std sources in {} (armv7 rebuilds std)", src.display()),
                "apt-get install rust-web-src",
            ));
        }
    }
    Ok(())
}

/// Checks that `path` is an ELF executable of the board's class and machine.
fn check_elf(path: &Path, board: Board) -> Result<()> {
    let bad = |why: String| DeployError::Binary {
        path: path.to_owned(),
        board: board.name(),
        why,
    };
    let mut head = [0u8; 20];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .map_err(|e| bad(format!("cannot read its ELF header: {e}")))?;
    if &head[..4] != b"\x7fELF" {
        return Err(bad("not an ELF executable".into()));
    }
    let (class, machine) = board.spec().elf;
    let found = (head[4], u16::from_le_bytes([head[18], head[19]]));
    if head[5] != 1 || found != (class, machine) {
        return Err(bad(format!(
            "it is built for {} but the board needs {}",
            elf_name(found),
            elf_name((class, machine))
        )));
    }
    Ok(())
}

fn elf_name((class, machine): (u8, u16)) -> String {
    match (class, machine) {
        (2, 62) => "x86_64".into(),
        (2, 183) => "aarch64".into(),
        (1, 40) => "32-bit ARM".into(),
        (1, 3) => "i386".into(),
        _ => format!(
            "ELF machine {machine} ({}-bit)",
            if class == 2 { 64 } else { 32 }
        ),
    }
}

/// A bundle on disk.
struct Bundle {
    path: PathBuf,
    /// Its top directory inside the tarball.
    dir: String,
    release: String,
}

/// Writes the bundle tarball for `firmware` to `output` (default: a name in `default_dir`).
fn write_bundle(
    args: &BuildArgs,
    firmware: &Path,
    output: Option<&Path>,
    default_dir: &Path,
) -> Result<Bundle> {
    let spec = args.board.spec();
    let binary = std::fs::read(firmware).map_err(io(format!("reading {}", firmware.display())))?;
    let digest = hex(&Sha256::digest(&binary));
    let release = format!("{}-{}", env!("CARGO_PKG_VERSION"), &digest[..12]);
    let board = args.board.name();
    let dir = format!("incept-{board}-{release}");
    let fill = |t: &str| {
        t.replace("@BOARD@", &board)
            .replace("@BIN@", spec.bin)
            .replace("@RELEASE@", &release)
            .replace("@ARCHES@", spec.arches)
            .replace("@TARGET@", spec.target)
            .replace("@SHA256@", &digest)
            .replace(
                "@MODEL@",
                args.model.as_deref().unwrap_or("the build's default"),
            )
            .replace("@VERSION@", env!("CARGO_PKG_VERSION"))
    };
    let service_args = args.service_args.as_deref().unwrap_or(spec.args);
    if service_args.contains(['"', '\n', '\\', '$', '`']) {
        return Err(DeployError::ServiceArgs(service_args.to_owned()));
    }
    let files: Vec<(String, Vec<u8>, u32)> = vec![
        (format!("bin/{}", spec.bin), binary, 0o755),
        ("install.sh".into(), fill(INSTALL_SH).into_bytes(), 0o755),
        // The prefix is filled in by install.sh.
        (
            "incept.service".into(),
            SERVICE
                .replace("@BOARD@", &board)
                .replace("@BIN@", spec.bin)
                .into_bytes(),
            0o644,
        ),
        (
            "incept.env".into(),
            format!(
                "# Arguments of {} (see `{} --help`); kept across upgrades.\nINCEPT_ARGS=\"{service_args}\"\n",
                spec.bin, spec.bin
            )
            .into_bytes(),
            0o644,
        ),
        ("BUNDLE.txt".into(), fill(BUNDLE_TXT).into_bytes(), 0o644),
    ];
    let sums: String = files
        .iter()
        .map(|(name, data, _)| format!("{}  {name}\n", hex(&Sha256::digest(data))))
        .collect();
    let path = output
        .map(Path::to_owned)
        .unwrap_or_else(|| default_dir.join(format!("{dir}.tar.gz")));
    let what = format!("writing {}", path.display());
    let file = std::fs::File::create(&path).map_err(io(what.clone()))?;
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        file,
        flate2::Compression::default(),
    ));
    let mtime = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut append = |name: &str, data: &[u8], mode: u32| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_mtime(mtime);
        h.set_cksum();
        tar.append_data(&mut h, format!("{dir}/{name}"), data)
    };
    for (name, data, mode) in &files {
        append(name, data, *mode).map_err(io(what.clone()))?;
    }
    append("SHA256SUMS", sums.as_bytes(), 0o644).map_err(io(what.clone()))?;
    tar.into_inner()
        .and_then(|gz| gz.finish())
        .map_err(io(what))?;
    Ok(Bundle { path, dir, release })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs `incept bundle`.
pub fn bundle(args: BundleArgs) -> anyhow::Result<ExitCode> {
    let mut steps = Steps::new(2, args.dry_run);
    let fw = firmware(&args.build, &mut steps)?;
    let out = args.output.clone().unwrap_or_else(|| {
        PathBuf::from(format!("incept-{}-RELEASE.tar.gz", args.build.board.name()))
    });
    if steps.next(&format!("bundle → {}", out.display()), &[]) {
        let b = write_bundle(&args.build, &fw, args.output.as_deref(), Path::new("."))?;
        println!(
            "wrote {} (release {}): unpack on the board and run `sudo sh {}/install.sh`",
            b.path.display(),
            b.release,
            b.dir
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// OpenSSH with the user's connection options.
struct Ssh<'a> {
    args: &'a DeployArgs,
}

impl Ssh<'_> {
    fn common(&self, cmd: &mut Command, port_flag: &str) {
        cmd.args(["-o", "BatchMode=yes", "-o", "ConnectTimeout=10"])
            .args([port_flag, &self.args.port.to_string()]);
        if let Some(key) = &self.args.identity {
            cmd.arg("-i").arg(key);
        }
        for o in &self.args.ssh_options {
            cmd.args(["-o", o]);
        }
    }

    fn ssh(&self, remote: &str) -> Command {
        let mut cmd = Command::new("ssh");
        self.common(&mut cmd, "-p");
        cmd.arg(&self.args.host).arg("--").arg(remote);
        cmd
    }

    fn scp(&self, local: &Path, remote: &str) -> Command {
        let mut cmd = Command::new("scp");
        cmd.arg("-q");
        self.common(&mut cmd, "-P");
        let mut to = OsString::from(&self.args.host);
        to.push(":");
        to.push(remote);
        cmd.arg(local).arg(to);
        cmd
    }

    /// Runs `cmd`; returns its stdout, or the error ssh's exit and stderr mean.
    fn run(&self, step: &'static str, mut cmd: Command, echo: bool) -> Result<String> {
        let out = cmd.stdin(Stdio::null()).output().map_err(io(format!(
            "cannot run {} (is OpenSSH installed?)",
            Shown(&cmd)
        )))?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if echo {
            for line in stdout.lines().chain(stderr.lines()) {
                eprintln!("  board: {line}");
            }
        }
        if out.status.success() {
            return Ok(stdout);
        }
        let status = out.status.code().unwrap_or(-1);
        Err(classify_failure(
            &self.args.host,
            step,
            status,
            &stdout,
            &stderr,
        ))
    }
}

/// What a failed ssh/scp means.
fn classify_failure(
    host: &str,
    step: &'static str,
    status: i32,
    stdout: &str,
    stderr: &str,
) -> DeployError {
    let detail = stderr.trim().to_owned();
    let host = host.to_owned();
    let has = |needles: &[&str]| needles.iter().any(|n| stderr.contains(n));
    // ssh exits 255 for its own errors; scp reports them with 1.
    if has(&["Permission denied", "Too many authentication failures"]) {
        DeployError::Auth { host, detail }
    } else if has(&[
        "Host key verification failed",
        "REMOTE HOST IDENTIFICATION HAS CHANGED",
    ]) {
        DeployError::HostKey { host, detail }
    } else if has(&[
        "Connection refused",
        "Connection timed out",
        "No route to host",
        "Could not resolve hostname",
        "Network is unreachable",
        "Connection closed by",
        "Connection reset",
    ]) {
        DeployError::Unreachable { host, detail }
    } else {
        let detail = [stdout.trim(), stderr.trim()]
            .iter()
            .filter(|s| !s.is_empty())
            .cloned()
            .collect::<Vec<_>>()
            .join("\n");
        DeployError::Remote {
            step,
            host,
            status,
            detail,
        }
    }
}

/// What the probe learnt of the board.
#[derive(Debug, PartialEq, Eq)]
struct Probe {
    arch: String,
    prefix_free_kib: u64,
    tmp: String,
    tmp_free_kib: u64,
}

/// The probe's shell script: `uname -m`, free KiB where the prefix goes, a new temporary
/// directory and its free KiB, one per line.
fn probe_script(prefix: &str) -> String {
    format!(
        "uname -m; p={}; while [ ! -e \"$p\" ]; do p=$(dirname \"$p\"); done; \
         df -Pk \"$p\" | awk 'NR == 2 {{ print $4 }}'; \
         t=$(mktemp -d \"${{TMPDIR:-/tmp}}/incept-deploy.XXXXXX\") && echo \"$t\" && \
         df -Pk \"$t\" | awk 'NR == 2 {{ print $4 }}'",
        quote(prefix)
    )
}

fn parse_probe(out: &str) -> Option<Probe> {
    let mut lines = out.lines().map(str::trim);
    Some(Probe {
        arch: lines.next()?.to_owned(),
        prefix_free_kib: lines.next()?.parse().ok()?,
        tmp: lines.next().filter(|t| t.starts_with('/'))?.to_owned(),
        tmp_free_kib: lines.next()?.parse().ok()?,
    })
}

/// Checks the probe's answer before anything is copied: the architecture and the free space.
fn preflight(args: &DeployArgs, p: &Probe, tarball: &Path, firmware: &Path) -> Result<()> {
    let spec = args.build.board.spec();
    if !spec.arches.split(' ').any(|a| a == p.arch) {
        return Err(DeployError::WrongArch {
            host: args.host.clone(),
            found: p.arch.clone(),
            board: args.build.board.name(),
            expected: spec.arches.replace(' ', " or "),
        });
    }
    let kib = |f: &Path| std::fs::metadata(f).map_or(0, |m| m.len().div_ceil(1024));
    // The tarball and its unpacked copy in tmp; the installed copy (the firmware is most of
    // it) plus a margin under the prefix.
    let unpacked = kib(firmware) + 64;
    for (path, free, need) in [
        (&p.tmp, p.tmp_free_kib, kib(tarball) + unpacked),
        (&args.prefix, p.prefix_free_kib, unpacked + 1024),
    ] {
        if free < need {
            return Err(DeployError::DiskFull {
                host: args.host.clone(),
                path: path.clone(),
                free_kib: free,
                need_kib: need,
            });
        }
    }
    Ok(())
}

/// Runs `incept deploy`.
pub fn deploy(args: DeployArgs) -> anyhow::Result<ExitCode> {
    let spec = args.build.board.spec();
    let board = args.build.board.name();
    let mut steps = Steps::new(6, args.dry_run);
    let fw = firmware(&args.build, &mut steps)?;
    let work = tempfile::tempdir().map_err(io("creating a temporary directory"))?;
    let bundle = if steps.next("bundle", &[]) {
        let b = write_bundle(&args.build, &fw, None, work.path())?;
        eprintln!(
            "  {} ({} KiB, release {})",
            b.path.display(),
            std::fs::metadata(&b.path).map_or(0, |m| m.len() / 1024),
            b.release
        );
        Some(b)
    } else {
        None
    };
    let ssh = Ssh { args: &args };
    let probe_cmd = ssh.ssh(&probe_script(&args.prefix));
    let probe = if steps.next(
        &format!("probe {} (architecture, free space)", args.host),
        &[Shown(&probe_cmd).to_string()],
    ) {
        let out = ssh.run("probing the board", probe_cmd, false)?;
        let p = parse_probe(&out).ok_or_else(|| DeployError::Remote {
            step: "probing the board",
            host: args.host.clone(),
            status: 0,
            detail: format!("unexpected answer {out:?}"),
        })?;
        eprintln!(
            "  {}: {}, {} MiB free for {}, {} MiB in {}",
            args.host,
            p.arch,
            p.prefix_free_kib / 1024,
            args.prefix,
            p.tmp_free_kib / 1024,
            p.tmp
        );
        Some(p)
    } else {
        None
    };
    let sudo = if args.sudo { "sudo -n " } else { "" };
    let cleanup = |p: &Probe| {
        let _ = ssh.ssh(&format!("rm -rf {}", quote(&p.tmp))).output();
    };
    // Checks before anything is copied.
    if let (Some(p), Some(b)) = (&probe, &bundle) {
        if let Err(e) = preflight(&args, p, &b.path, &fw) {
            cleanup(p);
            return Err(e.into());
        }
    }
    let tmp = probe
        .as_ref()
        .map_or("<tmp>", |p| p.tmp.as_str())
        .to_owned();
    let remote_tar = format!("{tmp}/bundle.tar.gz");
    let local_tar = bundle
        .as_ref()
        .map_or_else(|| PathBuf::from("<bundle.tar.gz>"), |b| b.path.clone());
    let copy_cmd = ssh.scp(&local_tar, &remote_tar);
    if steps.next(
        &format!("copy the bundle to {}:{remote_tar}", args.host),
        &[Shown(&copy_cmd).to_string()],
    ) {
        let t = Instant::now();
        if let Err(e) = ssh.run("copying the bundle", copy_cmd, false) {
            probe.iter().for_each(cleanup);
            return Err(e.into());
        }
        eprintln!("  copied in {:.1} s", t.elapsed().as_secs_f64());
    }
    let dir = bundle
        .as_ref()
        .map_or_else(|| format!("incept-{board}-RELEASE"), |b| b.dir.clone());
    let service = args
        .service
        .to_possible_value()
        .map(|v| v.get_name().to_owned())
        .unwrap_or_default();
    let install = format!(
        "cd {t} && tar xzf bundle.tar.gz && {sudo}sh {d}/install.sh --prefix {p} --service {service}; \
         rc=$?; cd / && rm -rf {t}; exit $rc",
        t = quote(&tmp),
        d = quote(&dir),
        p = quote(&args.prefix),
    );
    let install_cmd = ssh.ssh(&install);
    if steps.next(
        &format!("install into {} and (re)start the service", args.prefix),
        &[Shown(&install_cmd).to_string()],
    ) {
        ssh.run("installing", install_cmd, true)?;
    }
    let self_test_cmd = ssh.ssh(&format!(
        "{sudo}{}/current/bin/{} --self-test",
        quote(&args.prefix),
        spec.bin
    ));
    if steps.next(
        "self-test on the board",
        &[Shown(&self_test_cmd).to_string()],
    ) {
        let out = ssh.run("the self-test", self_test_cmd, false)?;
        let line = out.lines().last().unwrap_or("").trim();
        println!("{}: {line}", args.host);
        println!(
            "deployed {} to {}:{} in {:.1} s",
            bundle.as_ref().map_or("", |b| b.release.as_str()),
            args.host,
            args.prefix,
            steps.start.elapsed().as_secs_f64()
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probe_answer_is_parsed_and_a_short_one_is_refused() {
        let p = parse_probe("aarch64\n1234\n/tmp/incept-deploy.abc\n99\n").unwrap();
        assert_eq!(
            p,
            Probe {
                arch: "aarch64".into(),
                prefix_free_kib: 1234,
                tmp: "/tmp/incept-deploy.abc".into(),
                tmp_free_kib: 99
            }
        );
        assert_eq!(parse_probe("aarch64\n1234\n"), None);
        assert_eq!(parse_probe("aarch64\nlots\n/tmp/x\n1\n"), None);
    }

    #[test]
    fn ssh_failures_map_to_what_they_mean() {
        let e = |stderr| classify_failure("pi@b", "x", 255, "", stderr);
        assert!(matches!(
            e("pi@b: Permission denied (publickey)."),
            DeployError::Auth { .. }
        ));
        assert!(matches!(
            e("ssh: connect to host b port 22: Connection refused"),
            DeployError::Unreachable { .. }
        ));
        assert!(matches!(
            e("Host key verification failed."),
            DeployError::HostKey { .. }
        ));
        assert!(matches!(
            e("sh: 1: tar: not found"),
            DeployError::Remote { .. }
        ));
    }

    #[test]
    fn shell_quoting_survives_quotes() {
        assert_eq!(quote("/opt/it's here"), r"'/opt/it'\''s here'");
    }
}
