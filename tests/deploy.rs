//! `incept deploy` and `incept bundle` against a real OpenSSH server on 127.0.0.1: a
//! throw-away host key and user key, a port of its own, the host-arch board firmware
//! (`incept-v4l2`) as the loopback board's build. Needs `/usr/sbin/sshd` (Debian's
//! openssh-server) and root (sshd's privilege separation; a tmpfs for the full-disk case).

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use tempfile::TempDir;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        !text(&out.stderr).contains("panicked"),
        "{}",
        text(&out.stderr)
    );
    out
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed:\n{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Fails the test if the command succeeded; returns its stderr.
fn failure(out: &Output) -> String {
    let err = text(&out.stderr);
    assert!(!out.status.success(), "expected failure:\n{err}");
    err
}

/// The board firmware built for this machine, as the workspace test build leaves it beside
/// `incept`; built here if this test runs on its own.
fn firmware() -> PathBuf {
    let incept = PathBuf::from(env!("CARGO_BIN_EXE_incept"));
    let fw = incept.with_file_name("incept-v4l2");
    if !fw.is_file() {
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "--release",
                "-p",
                "inception-edge-linux",
                "--bin",
                "incept-v4l2",
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building incept-v4l2 failed");
    }
    fw
}

fn user() -> String {
    text(&run(Command::new("id").arg("-un")).stdout)
        .trim()
        .to_owned()
}

fn keygen(path: &Path) {
    ok(&run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "incept-test", "-f"])
        .arg(path)));
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// An OpenSSH server on 127.0.0.1 that lets in one throw-away key.
struct Board {
    dir: TempDir,
    port: u16,
    sshd: Child,
}

impl Board {
    fn start() -> Board {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        keygen(&d.join("host_key"));
        keygen(&d.join("user_key"));
        std::fs::copy(d.join("user_key.pub"), d.join("authorized_keys")).unwrap();
        let port = free_port();
        let host_pub = std::fs::read_to_string(d.join("host_key.pub")).unwrap();
        std::fs::write(
            d.join("known_hosts"),
            format!("[127.0.0.1]:{port} {host_pub}"),
        )
        .unwrap();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\n\
             AuthorizedKeysFile {d}/authorized_keys\nPubkeyAuthentication yes\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n\
             PermitRootLogin prohibit-password\nStrictModes no\nPidFile {d}/sshd.pid\n\
             Subsystem sftp internal-sftp\nLogLevel ERROR\n",
            d = d.display()
        );
        std::fs::write(d.join("sshd_config"), config).unwrap();
        // Privilege separation needs this directory (root-owned) when sshd runs as root.
        let _ = std::fs::create_dir_all("/run/sshd");
        let log = std::fs::File::create(d.join("sshd.log")).unwrap();
        let sshd = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(d.join("sshd_config"))
            .stderr(log)
            .spawn()
            .expect("/usr/sbin/sshd (Debian's openssh-server) starts");
        let mut board = Board { dir, port, sshd };
        let until = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = board.sshd.try_wait() {
                panic!(
                    "sshd exited with {status}: {}",
                    std::fs::read_to_string(board.dir.path().join("sshd.log")).unwrap_or_default()
                );
            }
            assert!(Instant::now() < until, "sshd does not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        board
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// `incept deploy` to this board with its keys; `args` come last (and may override).
    fn deploy(&self, board: &str, fw: &Path, prefix: &Path, args: &[&str]) -> Output {
        self.deploy_as(&self.path("user_key"), self.port, board, fw, prefix, args)
    }

    fn deploy_as(
        &self,
        key: &Path,
        port: u16,
        board: &str,
        fw: &Path,
        prefix: &Path,
        args: &[&str],
    ) -> Output {
        run(Command::new(env!("CARGO_BIN_EXE_incept"))
            .args(["deploy", "--board", board, "--host"])
            .arg(format!("{}@127.0.0.1", user()))
            .args(["--port", &port.to_string(), "--service", "none"])
            .arg("--identity")
            .arg(key)
            .arg("-o")
            .arg(format!(
                "UserKnownHostsFile={}",
                self.path("known_hosts").display()
            ))
            .args(["-o", "StrictHostKeyChecking=yes", "--binary"])
            .arg(fw)
            .arg("--prefix")
            .arg(prefix)
            .args(args))
    }
}

impl Drop for Board {
    fn drop(&mut self) {
        let _ = self.sshd.kill();
        let _ = self.sshd.wait();
    }
}

fn current(prefix: &Path) -> PathBuf {
    std::fs::read_link(prefix.join("current")).expect("PREFIX/current is a symlink")
}

fn self_test(prefix: &Path) -> String {
    let bin = prefix.join("current/bin/incept-v4l2");
    ok(&run(Command::new(bin).arg("--self-test")))
}

/// A copy of the firmware with bytes appended: still runs, another release.
fn another_release(fw: &Path, dir: &Path) -> PathBuf {
    let mut bytes = std::fs::read(fw).unwrap();
    bytes.extend_from_slice(b"another release");
    let path = dir.join("incept-v4l2");
    std::fs::write(&path, bytes).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    path
}

#[test]
fn deploying_to_a_loopback_board_installs_the_firmware_and_keeps_the_previous_version() {
    let fw = firmware();
    let board = Board::start();
    let prefix = board.path("opt/incept");

    let t = Instant::now();
    let out = board.deploy("linux-x86_64", &fw, &prefix, &[]);
    let secs = t.elapsed().as_secs_f64();
    let stdout = ok(&out);
    eprintln!(
        "deploy to the loopback board: {secs:.2} s\n{stdout}{}",
        text(&out.stderr)
    );
    assert!(stdout.contains("self-test passed"), "{stdout}");
    assert!(stdout.contains("deployed"), "{stdout}");
    let first = current(&prefix);
    assert!(first.starts_with("releases"), "{first:?}");
    assert!(prefix.join("incept.env").is_file());
    assert!(self_test(&prefix).contains("self-test passed"));
    assert!(
        !prefix.join("previous").exists(),
        "nothing was replaced yet"
    );
    // The installed unit is one systemd accepts.
    let unit = prefix.join("current/incept.service");
    let unit_text = std::fs::read_to_string(&unit).unwrap();
    assert!(unit_text.contains(&format!(
        "ExecStart={}/current/bin/incept-v4l2",
        prefix.display()
    )));
    assert!(unit_text.contains("Restart=on-failure"));
    ok(&run(Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&unit)));

    // The user's configuration survives an upgrade; the replaced version becomes previous.
    std::fs::write(prefix.join("incept.env"), "INCEPT_ARGS=\"--fps 5\"\n").unwrap();
    let other = another_release(&fw, &board.path(""));
    ok(&board.deploy("linux-x86_64", &other, &prefix, &[]));
    let second = current(&prefix);
    assert_ne!(second, first);
    assert_eq!(std::fs::read_link(prefix.join("previous")).unwrap(), first);
    assert_eq!(
        std::fs::read_to_string(prefix.join("incept.env")).unwrap(),
        "INCEPT_ARGS=\"--fps 5\"\n"
    );

    // A firmware that fails its self-test on the board changes nothing.
    let err = failure(&board.deploy("linux-x86_64", Path::new("/bin/false"), &prefix, &[]));
    assert!(err.contains("failed its self-test"), "{err}");
    assert!(err.contains("nothing was changed"), "{err}");
    assert_eq!(current(&prefix), second);
    assert!(self_test(&prefix).contains("self-test passed"));
    let releases = std::fs::read_dir(prefix.join("releases")).unwrap().count();
    assert_eq!(
        releases, 2,
        "only current and previous are kept, no partial copy"
    );

    // Rollback with the installed installer.
    ok(&run(Command::new("sh")
        .arg(prefix.join("current/install.sh"))
        .arg("--prefix")
        .arg(&prefix)
        .args(["--service", "none", "--rollback"])));
    assert_eq!(current(&prefix), first);
    assert_eq!(std::fs::read_link(prefix.join("previous")).unwrap(), second);
    assert!(self_test(&prefix).contains("self-test passed"));
}

/// A 64-byte ELF header saying aarch64: enough for the local checks, never run.
fn fake_aarch64_elf(dir: &Path) -> PathBuf {
    let mut h = vec![0u8; 64];
    h[..4].copy_from_slice(b"\x7fELF");
    h[4] = 2;
    h[5] = 1;
    h[18..20].copy_from_slice(&183u16.to_le_bytes());
    let path = dir.join("incept-pi");
    std::fs::write(&path, h).unwrap();
    path
}

#[test]
fn a_board_of_another_architecture_is_refused_before_anything_is_copied() {
    let board = Board::start();
    let prefix = board.path("opt/incept");
    let fw = fake_aarch64_elf(board.dir.path());
    let err = failure(&board.deploy("rpi5", &fw, &prefix, &[]));
    assert!(
        err.contains("is x86_64 (uname -m) but a rpi5 bundle runs on aarch64"),
        "{err}"
    );
    assert!(!prefix.exists(), "nothing may be installed");
    // The probe made a temporary directory on the board (its path is in the log): gone.
    let tmp = err
        .split_whitespace()
        .find(|w| w.contains("/incept-deploy."))
        .unwrap_or_else(|| panic!("the probe's line names its directory:\n{err}"));
    assert!(!Path::new(tmp).exists(), "{tmp} is left on the board");
}

#[test]
fn a_firmware_for_another_architecture_is_refused_before_connecting() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(Command::new(env!("CARGO_BIN_EXE_incept"))
        .args(["bundle", "--board", "rpi4", "--binary"])
        .arg(firmware())
        .arg("-o")
        .arg(dir.path().join("b.tar.gz")));
    let err = failure(&out);
    assert!(
        err.contains("it is built for x86_64 but the board needs aarch64"),
        "{err}"
    );
    let err = failure(&run(Command::new(env!("CARGO_BIN_EXE_incept")).args([
        "bundle",
        "--board",
        "rpi4",
        "--binary",
        "Cargo.toml",
    ])));
    assert!(err.contains("not an ELF executable"), "{err}");
}

#[test]
fn a_key_the_board_does_not_know_is_an_authentication_error() {
    let board = Board::start();
    keygen(&board.path("stranger"));
    let fw = firmware();
    let prefix = board.path("opt/incept");
    let err = failure(&board.deploy_as(
        &board.path("stranger"),
        board.port,
        "linux-x86_64",
        &fw,
        &prefix,
        &[],
    ));
    assert!(err.contains("SSH authentication to"), "{err}");
    assert!(err.contains("ssh-copy-id"), "{err}");
    assert!(!prefix.exists());
}

#[test]
fn an_unreachable_board_is_reported_as_such() {
    let board = Board::start();
    let fw = firmware();
    let prefix = board.path("opt/incept");
    let err = failure(&board.deploy_as(
        &board.path("user_key"),
        free_port(),
        "linux-x86_64",
        &fw,
        &prefix,
        &[],
    ));
    assert!(err.contains("cannot reach"), "{err}");
    assert!(err.contains("Connection refused"), "{err}");
}

#[test]
fn a_full_disk_on_the_board_is_reported_and_nothing_is_installed() {
    let board = Board::start();
    let small = board.path("small");
    std::fs::create_dir(&small).unwrap();
    let mounted = run(Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
        .arg(&small));
    assert!(
        mounted.status.success(),
        "this test mounts a 4 MiB tmpfs as the board's disk and needs root: {}",
        text(&mounted.stderr)
    );
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&small);
    let prefix = small.join("opt/incept");
    let err = failure(&board.deploy("linux-x86_64", &firmware(), &prefix, &[]));
    assert!(err.contains("disk full on"), "{err}");
    assert!(err.contains("KiB needed"), "{err}");
    assert!(!prefix.exists(), "nothing may be installed");
}

#[test]
fn a_dry_run_prints_every_step_and_connects_to_nothing() {
    let board = Board::start();
    let prefix = board.path("opt/incept");
    // Nothing listens on this port: a dry run must not notice.
    let out = board.deploy_as(
        &board.path("user_key"),
        free_port(),
        "linux-x86_64",
        &firmware(),
        &prefix,
        &["--dry-run"],
    );
    let stdout = ok(&out);
    let stderr = text(&out.stderr);
    for step in ["[1/6]", "[2/6]", "[3/6]", "[4/6]", "[5/6]", "[6/6]"] {
        assert!(stderr.contains(step), "{stderr}");
    }
    assert!(stdout.contains("$ ssh -o BatchMode=yes"), "{stdout}");
    assert!(stdout.contains("$ scp -q"), "{stdout}");
    assert!(stdout.contains("install.sh --prefix"), "{stdout}");
    assert!(stdout.contains("--self-test"), "{stdout}");
    assert!(!prefix.exists());
}

/// Unpacks a bundle tarball into `dir`; returns the bundle's directory.
fn unpack(tarball: &Path, dir: &Path) -> PathBuf {
    let file = std::fs::File::open(tarball).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    archive.set_preserve_permissions(true);
    archive.unpack(dir).unwrap();
    let top = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .find(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("incept-linux-x86_64-")
        })
        .expect("one top directory");
    top.path()
}

#[test]
fn a_bundle_installs_offline_and_a_corrupt_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let tarball = dir.path().join("bundle.tar.gz");
    let stdout = ok(&run(Command::new(env!("CARGO_BIN_EXE_incept"))
        .args(["bundle", "--board", "linux-x86_64", "--binary"])
        .arg(firmware())
        .arg("-o")
        .arg(&tarball)));
    assert!(stdout.contains("install.sh"), "{stdout}");
    let root = unpack(&tarball, &dir.path().join("unpacked"));
    for f in [
        "bin/incept-v4l2",
        "install.sh",
        "incept.service",
        "incept.env",
        "BUNDLE.txt",
        "SHA256SUMS",
    ] {
        assert!(root.join(f).is_file(), "{f} missing");
    }
    let env = std::fs::read_to_string(root.join("incept.env")).unwrap();
    assert!(
        env.contains("INCEPT_ARGS=\"--device /dev/video0 --sink console\""),
        "{env}"
    );

    let prefix = dir.path().join("opt");
    let out = ok(&run(Command::new("sh")
        .arg(root.join("install.sh"))
        .arg("--prefix")
        .arg(&prefix)
        .args(["--service", "none"])));
    assert!(out.contains("installed"), "{out}");
    assert!(self_test(&prefix).contains("self-test passed"));

    // One flipped byte in the firmware: the checksums catch it, nothing changes.
    let copy = tempfile::tempdir().unwrap();
    let root2 = unpack(&tarball, copy.path());
    let bin = root2.join("bin/incept-v4l2");
    let mut bytes = std::fs::read(&bin).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&bin, bytes).unwrap();
    let before = current(&prefix);
    let err = failure(&run(Command::new("sh")
        .arg(root2.join("install.sh"))
        .arg("--prefix")
        .arg(&prefix)
        .args(["--service", "none"])));
    assert!(err.contains("the bundle is corrupt"), "{err}");
    assert_eq!(current(&prefix), before);

    let err = failure(&run(Command::new(env!("CARGO_BIN_EXE_incept"))
        .args([
            "bundle",
            "--board",
            "linux-x86_64",
            "--service-args",
            "--sink \"$(reboot)\"",
            "--binary",
        ])
        .arg(firmware())
        .arg("-o")
        .arg(dir.path().join("bad.tar.gz"))));
    assert!(err.contains("must not contain quotes"), "{err}");

    let err = failure(&run(Command::new("sh")
        .arg(root.join("install.sh"))
        .args(["--service", "sometimes"])));
    assert!(
        err.contains("--service must be auto, systemd or none"),
        "{err}"
    );
}

#[test]
fn a_missing_piece_of_the_cross_toolchain_is_named_with_its_fix() {
    // A PATH with cargo and rustc only: no cross linker.
    let bin = tempfile::tempdir().unwrap();
    for tool in ["cargo", "rustc"] {
        let found = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
            .map(|d| d.join(tool))
            .find(|p| p.is_file())
            .unwrap_or_else(|| panic!("{tool} on PATH"));
        std::os::unix::fs::symlink(found, bin.path().join(tool)).unwrap();
    }
    let out = run(Command::new(env!("CARGO_BIN_EXE_incept"))
        .args(["bundle", "--board", "linux-armv7", "-o"])
        .arg(bin.path().join("b.tar.gz"))
        .env("PATH", bin.path()));
    let err = failure(&out);
    assert!(
        err.contains("the armv7-unknown-linux-gnueabihf toolchain is incomplete"),
        "{err}"
    );
    assert!(err.contains("fix: apt-get install"), "{err}");
    assert!(!bin.path().join("b.tar.gz").exists());
}
