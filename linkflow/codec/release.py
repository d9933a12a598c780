"""Cut release snapshots: `python -m linkflow.codec.release [family ...]`.

A snapshot freezes the schema that producers now write with, so that every later schema
must keep reading it (tests/unit/test_schema_compat.py) and consumers keep decoding
messages already on the topics by its fingerprint.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from linkflow.codec.compat import check_backward_compatible
from linkflow.codec.families import FAMILIES, family
from linkflow.codec.framing import schema_fingerprint
from linkflow.codec.store import (
    SCHEMA_DIR,
    current_path,
    load_current,
    load_manifest,
    load_released,
    released_dir,
    save_manifest,
)


def cut_release(name: str, root: Path = SCHEMA_DIR) -> Path | None:
    """Snapshot schemas/<name>.avsc as the next vN.avsc; None when it is already released.

    Refuses (IncompatibleSchemaError) when the schema cannot read an earlier release.
    """
    fam = family(name)
    current = load_current(fam.name, root)
    released = load_released(fam.name, root)
    fingerprint = schema_fingerprint(current)
    if any(schema_fingerprint(schema) == fingerprint for _, schema in released):
        return None
    for version, schema in released:
        check_backward_compatible(current, schema, f"{fam.name}.avsc", f"{fam.name}/v{version}")
    version = (released[-1][0] if released else 0) + 1
    target = released_dir(fam.name, root) / f"v{version}.avsc"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(current_path(fam.name, root), target)
    manifest = load_manifest(root)
    manifest.setdefault(fam.name, {})[f"v{version}"] = fingerprint.hex()
    save_manifest(manifest, root)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("families", nargs="*", help=f"default: all of {sorted(FAMILIES)}")
    parser.add_argument("--root", type=Path, default=SCHEMA_DIR, help="schemas directory")
    args = parser.parse_args(argv)
    for name in args.families or list(FAMILIES):
        target = cut_release(name, args.root)
        if target is None:
            print(f"{name}: already released, nothing to do")
        else:
            fp = json.dumps(load_manifest(args.root)[name][target.stem])
            print(f"{name}: released {target} (fingerprint {fp})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
