#!/usr/bin/env python3
"""Build train/data/emoji32.npz from the npm packages emoji-datasource-{twitter,google}.

Steps:
  1. `npm pack <name>@<pinned version>` into the cache dir (skipped when the tarball is
     already there and its SHA-1 matches the pinned one).
  2. Read emoji.json and every 64x64 PNG (img/<set>/64/*.png, base emoji and skin-tone
     variations) straight out of the tarball.
  3. Composite each RGBA image over white at 64x64 (before any resizing, so transparent
     pixels' colours never bleed in), then downsample to 32x32 RGB with PIL's LANCZOS filter.
  4. Split by a hash of the *base* emoji's unified code: the same emoji in both sets and all
     its skin-tone variations always land in the same split (no leakage). ~10% held out.
  5. Write a byte-for-byte reproducible .npz (fixed zip timestamps, fixed member order).

Licences of the graphics (keep this attribution with anything derived from them):
  Twemoji graphics: CC-BY 4.0, Copyright Twitter/X, Inc. and other contributors.
  Noto Emoji graphics: Apache License 2.0, Copyright Google Inc.
"""
import argparse
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import zipfile

import numpy as np
from PIL import Image

from common import file_digest

HERE = os.path.dirname(os.path.abspath(__file__))

# name -> (version, npm dist.shasum (SHA-1 of the tarball))
PACKAGES = {
    "twitter": ("emoji-datasource-twitter", "16.0.0", "e2bd39a8acb77e158106f8249dd7b4cd93fa1b14"),
    "google": ("emoji-datasource-google", "16.0.0", "a80ac3e8106cbd4d8648ce758aa099e8827b6157"),
}
SETS = ["twitter", "google"]  # set id = index in this list
HELDOUT_PERCENT = 10
SIZE = 32


def fetch(set_name, cache_dir):
    pkg, version, sha1 = PACKAGES[set_name]
    os.makedirs(cache_dir, exist_ok=True)
    path = os.path.join(cache_dir, f"{pkg}-{version}.tgz")
    if os.path.exists(path) and file_digest(path, "sha1") == sha1:
        return path
    print(f"npm pack {pkg}@{version} -> {cache_dir}", flush=True)
    subprocess.run(["npm", "pack", f"{pkg}@{version}", "--silent"], cwd=cache_dir, check=True,
                   stdout=subprocess.DEVNULL)
    got = file_digest(path, "sha1")
    if got != sha1:
        raise SystemExit(f"{path}: sha1 {got} != pinned {sha1}")
    return path


def heldout(base_unified):
    """Deterministic ~10% split keyed on the base emoji's unified code."""
    d = hashlib.sha256(base_unified.upper().encode("ascii")).digest()
    return int.from_bytes(d[:8], "big") % 100 < HELDOUT_PERCENT


def to32(png_bytes):
    im = Image.open(io.BytesIO(png_bytes))
    im.load()
    im = im.convert("RGBA")
    if im.size != (64, 64):
        raise ValueError(f"unexpected size {im.size}")
    white = Image.new("RGBA", im.size, (255, 255, 255, 255))
    rgb = Image.alpha_composite(white, im).convert("RGB")  # composite first ...
    return np.asarray(rgb.resize((SIZE, SIZE), Image.Resampling.LANCZOS), dtype=np.uint8)  # ... then resize


def write_npz(path, arrays):
    """np.savez-compatible zip with fixed timestamps and member order -> reproducible bytes."""
    tmp = path + ".tmp"
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for name, arr in arrays.items():
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
            zf.writestr(info, buf.getvalue(), compresslevel=6)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache-dir", default=os.path.join(HERE, "data", "cache"))
    ap.add_argument("--out", default=os.path.join(HERE, "data", "emoji32.npz"))
    args = ap.parse_args()

    images, set_ids, cats, names, unified, base_unified, is_var, split = [], [], [], [], [], [], [], []
    category_names = None
    for set_id, set_name in enumerate(SETS):
        tgz = fetch(set_name, args.cache_dir)
        # one sequential pass over the gzip stream (random access into a .tgz is very slow)
        files = {}
        with tarfile.open(tgz, "r:gz") as tf:
            for m in tf:
                if m.isfile() and (m.name == "package/emoji.json"
                                   or m.name.startswith(f"package/img/{set_name}/64/")):
                    files[m.name] = tf.extractfile(m).read()
        read = files.__getitem__
        meta = json.loads(read("package/emoji.json"))
        if category_names is None:
            category_names = sorted({e["category"] for e in meta})
        cat_id = {c: i for i, c in enumerate(category_names)}
        n_before = len(images)
        missing = 0
        for e in sorted(meta, key=lambda e: (e["sort_order"], e["unified"])):
            entries = [(e["unified"], e["image"], e.get(f"has_img_{set_name}", False), False)]
            for key in sorted(e.get("skin_variations", {})):
                v = e["skin_variations"][key]
                entries.append((v["unified"], v["image"], v.get(f"has_img_{set_name}", False), True))
            for uni, img_name, has_img, variation in entries:
                member = f"package/img/{set_name}/64/{img_name}"
                if not has_img or member not in files:
                    missing += 1
                    continue
                images.append(to32(read(member)))
                set_ids.append(set_id)
                cats.append(cat_id[e["category"]])
                names.append(e["name"] or e["short_name"])
                unified.append(uni)
                base_unified.append(e["unified"])
                is_var.append(variation)
                split.append(1 if heldout(e["unified"]) else 0)
        print(f"{set_name}: {len(images) - n_before} images ({missing} listed without an image)", flush=True)

    images = np.stack(images).astype(np.uint8)
    set_ids = np.array(set_ids, dtype=np.uint8)
    cats = np.array(cats, dtype=np.uint8)
    split = np.array(split, dtype=np.uint8)
    is_var = np.array(is_var, dtype=bool)
    # group id: one per base emoji (shared across sets and skin-tone variations)
    bases = sorted(set(base_unified))
    gidx = {b: i for i, b in enumerate(bases)}
    group = np.array([gidx[b] for b in base_unified], dtype=np.int32)

    arrays = {
        "images": images,                       # (N,32,32,3) uint8, RGB on white
        "category": cats,                       # (N,) index into category_names
        "category_names": np.array(category_names, dtype=str),
        "split": split,                         # (N,) 0 = train, 1 = held-out
        "set": set_ids,                         # (N,) index into set_names
        "set_names": np.array(SETS, dtype=str),
        "names": np.array(names, dtype=str),
        "unified": np.array(unified, dtype=str),
        "group": group,                         # (N,) base-emoji id (variations share it)
        "is_variation": is_var,                 # (N,) skin-tone variation of a base emoji
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    write_npz(args.out, arrays)

    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes, sha256 {hashlib.sha256(open(args.out, 'rb').read()).hexdigest()})")
    print(f"total {len(images)} images: train {int((split == 0).sum())}, held-out {int((split == 1).sum())}")
    for s, sn in enumerate(SETS):
        m = set_ids == s
        print(f"  {sn:8s} train {int((m & (split == 0)).sum()):5d}  held-out {int((m & (split == 1)).sum()):4d}"
              f"  (base emoji: train {int((m & ~is_var & (split == 0)).sum())}, held-out {int((m & ~is_var & (split == 1)).sum())})")
    print(f"  base emoji groups: {len(bases)}, held-out groups: {sum(heldout(b) for b in bases)}")
    for c, cn in enumerate(category_names):
        m = cats == c
        print(f"  {cn:20s} train {int((m & (split == 0)).sum()):5d}  held-out {int((m & (split == 1)).sum()):4d}")


if __name__ == "__main__":
    sys.exit(main())
