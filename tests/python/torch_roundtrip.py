"""The PyTorch round trip (`make torch-check`, docs/python.md):

  1. `iak export --torch` a finished adapter job, load it with
     iakps.torch.load_model and score the job's test split in PyTorch; compare
     with `iak predict` (its scores CSV) and with iakps' own scores;
  2. save the table as a TorchRec state_dict (safetensors), bring it back with
     `iak snapshot import` (--base_model: the job's dense weights) and check
     the snapshot id is the original's and `iak predict` scores the same.

Usage: torch_roundtrip.py [JOB_SPEC]   (default: a small job made here)
Prints the largest absolute differences; exits 1 above 1e-5.
"""
import csv
import os
import re
import shutil
import sys
import tempfile

import numpy as np
import torch
from safetensors.numpy import save_file as save_numpy

import iakps
import iakps.torch
from small_job import iak, make_small_job

TOLERANCE = 1e-5


def predict_csv(spec, out):
    iak("predict", f"--job={spec}", "--input=test", f"--out={out}")
    with open(out) as f:
        rows = list(csv.DictReader(f))
    return {key: np.array([float(r[key]) for r in rows])
            for key in ("p_ctr", "p_ctcvr") if key in rows[0]}


def main():
    work = tempfile.mkdtemp(prefix="iakps_torch_")
    if len(sys.argv) > 1:
        job = iakps.Job(sys.argv[1])
    else:
        job, _ = make_small_job(work)
    export = os.path.join(work, "export")
    print(iak("export", f"--job={job.spec_path}", f"--out={export}", "--torch").strip())
    model = iakps.torch.load_model(os.path.join(export, "torch"))
    batch = job.data("test")
    ours = model.score(batch)
    reference = predict_csv(job.spec_path, os.path.join(work, "scores.csv"))
    library = job.score(batch)
    worst = 0.0
    for key, expected in reference.items():
        vs_predict = float(np.abs(ours[key] - expected).max())
        vs_library = float(np.abs(ours[key] - library[key]).max())
        worst = max(worst, vs_predict, vs_library)
        print(f"{key}: max |torch - iak predict| = {vs_predict:.3g}, "
              f"max |torch - iakps (full precision)| = {vs_library:.3g} over {len(expected)} "
              f"samples of {len(batch.domain_names)} domains ({torch.__version__})")

    # The table back from a TorchRec state_dict.
    state, keys = iakps.torch.torchrec_state_dict(os.path.join(export, "torch"))
    state_path = os.path.join(work, "torchrec_tables.safetensors")
    # The keys as U64 (half the hashed keys are >= 2^63; torch tensors are
    # signed), the table as the state_dict holds it.
    save_numpy({"embedding_bags.rows.weight": state["embedding_bags.rows.weight"].numpy(),
                "row_keys": keys}, state_path)
    original = job.model()
    reimported = os.path.join(work, "reimported")
    iak("snapshot", "import", state_path, "--tensor=embedding_bags.rows.weight",
        "--keys_tensor=row_keys", f"--base_model={original.path}", f"--out={reimported}",
        f"--shards={original.num_shards}", f"--dtype={original.row_dtype or 'float32'}")
    same_id = iakps.Model(reimported).snapshot_id == original.snapshot_id
    spec_text = open(job.spec_path).read()
    spec2 = os.path.join(work, "reimported_job.pbtxt")
    with open(spec2, "w") as f:
        f.write(re.sub(r'model_dir: "[^"]*"', f'model_dir: "{reimported}"', spec_text))
    again = predict_csv(spec2, os.path.join(work, "scores_reimported.csv"))
    re_diff = max(float(np.abs(again[k] - reference[k]).max()) for k in reference)
    print(f"TorchRec state_dict -> iak snapshot import: snapshot id "
          f"{'unchanged' if same_id else 'CHANGED'}, max |iak predict difference| = {re_diff:.3g}")
    if worst > TOLERANCE or re_diff > 0 or not same_id:
        print(f"torch-check: FAILED (files left in {work})")
        return 1
    shutil.rmtree(work, ignore_errors=True)
    print("torch-check: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
