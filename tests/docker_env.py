"""A real Docker engine, a Debian base image and the hokusai-ci image, for container tests.

No registry can be reached here, so the base image is built from Debian packages
(debootstrap) and the hokusai-ci image is built from a wheelhouse made on the host: the build
needs no network. The engine runs with `--bridge=none` (no private-range networks); containers
use `--network host` to reach servers on 127.0.0.1. Everything started here is stopped by pid.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import docker

REPO = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("HOKUSAI_TEST_CACHE", "/var/tmp/hokusai-ci-test"))
BASE_IMAGE = "local/python-base:bookworm"
IMAGE = "hokusai-ci:test"


@dataclass
class Engine:
    client: docker.DockerClient
    host: str
    pidfile: Path | None

    def stop(self) -> None:
        """Stop our own engine by its pid and remove its run folder (socket, log, exec root)."""
        self.client.close()
        if self.pidfile is None:
            return
        if self.pidfile.exists():
            _stop_pid(int(self.pidfile.read_text().strip()))
        _remove_run_folder(self.pidfile.parent)


def _remove_run_folder(run: Path) -> None:
    """dockerd leaves its default network namespace bind-mounted under the exec root
    (exec/netns/default): unmount what is mounted below the folder, then remove it."""
    with open("/proc/mounts") as mounts:
        points = [line.split()[1] for line in mounts if line.split()[1].startswith(f"{run}/")]
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "--lazy", point], check=False, capture_output=True)
    shutil.rmtree(run, ignore_errors=True)


def _stop_pid(pid: int) -> None:
    os.kill(pid, signal.SIGTERM)
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


def start_engine() -> Engine:
    """Use the engine DOCKER_HOST points at, or start one of our own."""
    existing = os.environ.get("DOCKER_HOST")
    if existing:
        client = docker.DockerClient(base_url=existing)
        client.ping()
        return Engine(client, existing, None)
    if shutil.which("dockerd") is None:
        raise RuntimeError("dockerd is not installed: scripts/test.sh installs docker.io")
    run = Path(tempfile.mkdtemp(prefix="hkd-", dir="/tmp"))  # short: unix socket paths are limited
    host = f"unix://{run}/docker.sock"
    pidfile = run / "dockerd.pid"
    log = (run / "dockerd.log").open("wb")
    subprocess.Popen(
        [
            "dockerd",
            "--bridge=none",
            "--iptables=false",
            "--ip-masq=false",
            "--data-root",
            str(CACHE / "docker-data"),
            "--exec-root",
            str(run / "exec"),
            "-H",
            host,
            "--pidfile",
            str(pidfile),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            client = docker.DockerClient(base_url=host)
            client.ping()
            return Engine(client, host, pidfile)
        except Exception:
            time.sleep(0.5)
    log_text = (run / "dockerd.log").read_text()[-3000:]
    if pidfile.exists():
        _stop_pid(int(pidfile.read_text().strip()))
    _remove_run_folder(run)
    raise RuntimeError(log_text)


def ensure_base_image(client: docker.DockerClient) -> str:
    """A minimal Debian bookworm with python3 and python3-venv, from Debian packages."""
    try:
        client.images.get(BASE_IMAGE)
        return BASE_IMAGE
    except docker.errors.ImageNotFound:
        pass
    CACHE.mkdir(parents=True, exist_ok=True)
    tarball = CACHE / "python-base-bookworm.tar"
    if not tarball.exists():
        rootfs = Path(tempfile.mkdtemp(prefix="rootfs-", dir=CACHE))
        mirror = "http://deb.debian.org/debian"
        sources = Path("/etc/apt/sources.list.d/debian.sources")
        if sources.exists():
            for line in sources.read_text().splitlines():
                if line.startswith("URIs:"):
                    mirror = line.split()[1]
                    break
        subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                "--include=python3,python3-venv,ca-certificates",
                "bookworm",
                str(rootfs),
                mirror,
            ],
            check=True,
            capture_output=True,
        )
        partial = tarball.with_suffix(".partial")
        with tarfile.open(partial, "w") as tar:
            tar.add(rootfs, arcname=".")
        partial.rename(tarball)
        shutil.rmtree(rootfs, ignore_errors=True)
    client.api.import_image(src=str(tarball), repository="local/python-base", tag="bookworm")
    return BASE_IMAGE


def build_image(client: docker.DockerClient, base: str) -> str:
    """Build the Dockerfile as shipped, from a context holding a host-built wheelhouse."""
    context = Path(tempfile.mkdtemp(prefix="hokusai-ctx-"))
    try:
        make_context(context)
        client.images.build(path=str(context), tag=IMAGE, buildargs={"BASE_IMAGE": base}, rm=True, forcerm=True)
        return IMAGE
    finally:
        shutil.rmtree(context, ignore_errors=True)


def make_context(context: Path) -> None:
    """The repository's files plus a wheelhouse (wheels/), so the build needs no network."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout.split()
    for rel in files:
        src = REPO / rel
        if src.is_file():
            (context / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, context / rel)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--wheel-dir",
            str(context / "wheels"),
            "--constraint",
            str(REPO / "docker/constraints.txt"),
            f"{context}[postgres,sign,s3,metrics]",
        ],
        check=True,
        capture_output=True,
    )
