#!/usr/bin/env python3
"""Checks a file written by `iak export` with the standard safetensors library.

Usage: read_export.py EXPORT/model.safetensors
Needs the `safetensors` and `numpy` PyPI packages (not part of `make test`).
Checks the layout of docs/export.md: every name, dtype, shape and metadata
entry, and runs one forward pass per domain (base and base + adapter) to show
the tensors are usable. Exits non-zero on any mismatch.
"""
import json
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file


def mlp(tensors, prefix, x, relu_last):
    i = 0
    while f"{prefix}{i}.weight" in tensors:
        w, b = tensors[f"{prefix}{i}.weight"], tensors[f"{prefix}{i}.bias"]
        if w.ndim != 2 or b.shape != (w.shape[1],) or x.shape[1] != w.shape[0]:
            sys.exit(f"{prefix}{i}: shapes {w.shape} {b.shape} do not chain from {x.shape}")
        x = x @ w + b
        last = f"{prefix}{i + 1}.weight" not in tensors
        if not last or relu_last:
            x = np.maximum(x, 0)
        i += 1
    if i == 0:
        sys.exit(f"no layers named {prefix}<i>.weight")
    return x


def main(path):
    with safe_open(path, framework="numpy") as f:
        meta = f.metadata()
    tensors = load_file(path)
    if meta.get("format") != "iak-export-v1":
        sys.exit(f"metadata format is {meta.get('format')!r}")
    for name, t in tensors.items():
        if t.dtype != np.float32:
            sys.exit(f"{name} is {t.dtype}, expected float32")
    dim, fields, tasks = int(meta["embedding_dim"]), int(meta["num_fields"]), int(meta["num_tasks"])
    domains = json.loads(meta.get("domains", "[]"))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, dim * fields)).astype(np.float32)
    h = mlp(tensors, "bottom.", x, relu_last=True)
    if h.shape[1] != json.loads(meta["bottom_hidden"])[-1]:
        sys.exit("bottom output width differs from bottom_hidden")

    def ctr(hh):
        return 1 / (1 + np.exp(-mlp(tensors, "tower.0.", hh, relu_last=False)[:, 0]))

    base = ctr(h)
    if "models" in meta:  # a dense-family job: each domain's own dense model
        domains = json.loads(meta["models"])
        for d in domains:
            hd = mlp(tensors, f"models.{d}.bottom.", x, relu_last=True)
            pd = 1 / (1 + np.exp(-mlp(tensors, f"models.{d}.tower.0.", hd, relu_last=False)[:, 0]))
            print(f"domain {d} ({meta['method']}): "
                  f"{sum(n.startswith('models.' + d + '.') for n in tensors)} tensors, "
                  f"mean |pCTR - base pCTR| = {np.abs(pd - base).mean():.5f}")
    for d in ([] if "models" in meta else domains):
        cfg = json.loads(meta[f"iak.{d}"])
        k = cfg["latent_dim"]
        enc = mlp(tensors, f"iak.{d}.encoder.", h, relu_last=False)
        if enc.shape[1] != (k if cfg["plain_adapter"] else 2 * k):
            sys.exit(f"{d}: encoder output {enc.shape[1]} for latent_dim {k}")
        delta = mlp(tensors, f"iak.{d}.decoder.", enc[:, :k], relu_last=False)
        p = ctr(h + delta)
        print(f"domain {d}: {sum(n.startswith('iak.' + d + '.') for n in tensors)} tensors, "
              f"mean |pCTR - base pCTR| = {np.abs(p - base).mean():.5f}")
    if tasks == 2 and "tower.1.0.weight" not in tensors:
        sys.exit("ESMM model without tower.1")
    n_params = sum(t.size for t in tensors.values())
    print(f"OK: {len(tensors)} tensors, {n_params} floats, {len(domains)} domains, "
          f"base pCTR mean {base.mean():.4f}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
