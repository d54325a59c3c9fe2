"""The offline half of a release (the release workflow runs it; tests cover it).

A version tag vX.Y.Z publishes the image once; jobs that use the Action must then pull that
image instead of building the Dockerfile. So the released action.yml names the image by digest
(immutable: a tag can be re-pushed, a digest cannot), and the moving tags vX and vX.Y, on the
image and in git, follow the newest release of their line.

    python scripts/release.py tags v1.2.3                 # v1.2.3 v1.2 v1, one per line
    python scripts/release.py pin action.yml IMAGE@sha256:<64 hex>
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

VERSION = re.compile(r"v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)")
IMAGE_REF = re.compile(r"[a-z0-9]+(?:[._/-][a-z0-9]+)*(?::\d+)?(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*@sha256:[0-9a-f]{64}")
DOCKERFILE_LINE = "  image: Dockerfile\n"


class ReleaseError(ValueError):
    pass


def tags(version: str) -> list[str]:
    """The tags a release sets: its own, then the ones that move (vX.Y, vX)."""
    match = VERSION.fullmatch(version)
    if match is None:
        raise ReleaseError(f"version {version!r} is not vMAJOR.MINOR.PATCH (e.g. v1.2.3)")
    major, minor, _ = match.groups()
    return [version, f"v{major}.{minor}", f"v{major}"]


def pin(action_yml: str, image_ref: str) -> str:
    """action.yml with `image: Dockerfile` replaced by the published image, by digest."""
    if IMAGE_REF.fullmatch(image_ref) is None:
        raise ReleaseError(f"image {image_ref!r} is not NAME@sha256:<64 hex digits>")
    if action_yml.count(DOCKERFILE_LINE) != 1:
        raise ReleaseError("action.yml must have exactly one '  image: Dockerfile' line under runs:")
    return action_yml.replace(DOCKERFILE_LINE, f"  image: docker://{image_ref}\n")


def main(argv: list[str]) -> int:
    try:
        if len(argv) == 2 and argv[0] == "tags":
            print("\n".join(tags(argv[1])))
        elif len(argv) == 3 and argv[0] == "pin":
            path = Path(argv[1])
            path.write_text(pin(path.read_text(), argv[2]))
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except ReleaseError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
