"""The Action's start-up: the Dockerfile path (every job builds the image) against the prebuilt
path (a release's action.yml names a published image: the job starts it), side by side.

Both paths run on the local Docker engine, interleaved (build, start, build, start, ...), and
the medians and min-max are reported with their ratio. What the figure leaves out: pulling the
prebuilt image from the registry (none can be reached here; a compressed pull of the image
is what a job pays instead), and the PyPI downloads of the Dockerfile path (the build installs
from a local wheelhouse), so the real gap is larger on the build side by those downloads.

Usage: python bench/action_startup.py [--rounds 3]   (needs dockerd; starts its own if
DOCKER_HOST is unset, and stops it)
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.docker_env import ensure_base_image, make_context, start_engine

TAG = "hokusai-ci:bench-startup"


def timed(action: object) -> float:
    start = time.perf_counter()
    action()  # type: ignore[operator]
    return time.perf_counter() - start


def spread(samples: list[float]) -> str:
    return f"median {statistics.median(samples):6.2f} s  (min {min(samples):.2f}, max {max(samples):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    engine = start_engine()
    context = Path(tempfile.mkdtemp(prefix="hokusai-bench-ctx-"))
    try:
        client = engine.client
        base = ensure_base_image(client)
        make_context(context)  # the checkout a job has; the wheelhouse stands in for PyPI

        def build() -> None:  # what `image: Dockerfile` costs a job: a fresh runner has no layer cache
            client.images.build(
                path=str(context), tag=TAG, buildargs={"BASE_IMAGE": base}, nocache=True, rm=True, forcerm=True
            )

        def start() -> None:  # what a prebuilt image costs once it is on the runner: start it
            out = client.containers.run(TAG, ["--version"], remove=True, network_mode="none")
            assert out.strip(), "the image printed no version"

        build()  # so that the first start has an image
        built: list[float] = []
        started: list[float] = []
        for _ in range(args.rounds):
            built.append(timed(build))
            started.append(timed(start))
        ratio = statistics.median(built) / statistics.median(started)
        print(f"Action start-up on this machine, {args.rounds} interleaved rounds:")
        print(f"  Dockerfile path (docker build, no cache)   {spread(built)}")
        print(f"  prebuilt path (docker run of the image)    {spread(started)}")
        print(f"  the prebuilt path starts {ratio:.0f}x faster (registry pull not included)")
        client.images.remove(TAG, force=True)
    finally:
        shutil.rmtree(context, ignore_errors=True)
        engine.stop()


if __name__ == "__main__":
    main()
