"""The container image's base: a Python image pinned by full version, or the user's image.

The default is the official slim Debian image of the converting interpreter's Python version
(the environment the notebook runs in), with the patch level from a table so that the
generated Dockerfile is the same on every machine with that minor version. A user who wants a
reproducible base passes an image with a digest (`--base-image python:3.11.14-slim-bookworm@
sha256:...`, or `{"nb2pipe": {"base_image": "..."}}` in the notebook's metadata).
"""

from __future__ import annotations

import re
import sys

# Newest patch release per minor version with official `-slim-bookworm` images when this
# nb2pipe was released. Update when a new patch ships; a minor version not listed falls back
# to the converting interpreter's own patch level.
PYTHON_PATCH = {(3, 9): 24, (3, 10): 19, (3, 11): 14, (3, 12): 12, (3, 13): 9, (3, 14): 0}
DEBIAN = "bookworm"

# A Docker image reference: [registry[:port]/]path[:tag][@sha256:digest] (the grammar of
# distribution/reference, without the rarely used non-sha256 digests).
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REGISTRY = r"(?:[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*(?::[0-9]+)?/)?"
IMAGE_REF = re.compile(rf"^{_REGISTRY}{_COMPONENT}(?:/{_COMPONENT})*"
                       r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$")


def default_base_image(version: tuple[int, ...] = tuple(sys.version_info[:3])) -> str:
    major, minor, micro = version[0], version[1], version[2]
    patch = PYTHON_PATCH.get((major, minor), micro)
    return f"python:{major}.{minor}.{patch}-slim-{DEBIAN}"


def base_image_problem(ref: str) -> str | None:
    """Why `ref` cannot be the base image, or None. A tag or a digest is required: an
    untagged image means `latest`, which changes under the user."""
    if not IMAGE_REF.match(ref):
        return (f"base image {ref!r} is not an image reference "
                "(REPOSITORY[:TAG][@sha256:DIGEST], the digest 64 hex digits)")
    name = ref.split("@", 1)[0]
    tag = name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else None
    if tag is None and "@" not in ref:
        return f"base image {ref!r} has neither a tag nor a digest; pin it (NAME:TAG[@sha256:...])"
    if tag == "latest":
        return f"base image {ref!r} uses the tag 'latest', which moves; pin a version"
    return None
