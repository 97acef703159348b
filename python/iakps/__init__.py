"""iakps: IAK-PS from Python.

Open a job (its spec file), read its data or encode raw feature values
through its schema, score them with every domain's adapter, read its results
and progress, submit it and wait for it. The work is done by the C++ library
(the extension module ``iakps._iakps``); this file only arranges it.
Reference and a worked example: docs/python.md.
"""
import json
import os
import shutil
import subprocess
import time
import urllib.parse

from . import _iakps
from ._iakps import Batch, Model, Schema, feature_keys, roc_auc

__all__ = ["Batch", "Job", "Model", "Predictor", "Schema", "feature_keys", "iak_binary",
           "per_domain_auc", "roc_auc", "submit"]


def iak_binary():
    """The `iak` command to run: $IAK_BINARY, else the one built with this
    package, else `iak` on PATH."""
    for candidate in (os.environ.get("IAK_BINARY"), _iakps.built_iak_binary, shutil.which("iak")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise FileNotFoundError("no iak binary: build it (make build) or set IAK_BINARY")


def _columns(frame):
    """A pandas DataFrame or a mapping of column name -> 1-D array, as a dict."""
    if hasattr(frame, "columns") and hasattr(frame, "to_numpy"):
        return {str(c): frame[c].to_numpy() for c in frame.columns}
    return dict(frame)


class Predictor:
    """A finished job's models loaded once: the frozen base, the embedding
    table and the adapter of each domain. score() puts each sample through
    its own domain's adapter (by domain name; a domain without one is scored
    by the frozen base), exactly as `iak predict` does."""

    def __init__(self, job, domains=None):
        domains = job.adapter_domains() if domains is None else domains
        self._impl = _iakps.Predictor(job.spec, list(domains))

    @property
    def domains(self):
        return self._impl.domains

    def score(self, batch, batch_size=1024, out_ctr=None, out_ctcvr=None, adapters=True):
        """{"p_ctr": float32 array[, "p_ctcvr": ...]} for every sample of the
        batch; out_ctr / out_ctcvr: float32 arrays to write into instead;
        adapters=False scores every sample with the frozen base alone."""
        return self._impl.score(batch, batch_size, out_ctr, out_ctcvr, adapters)


class Job:
    """A job, named by its spec file (job.pbtxt)."""

    def __init__(self, spec_path):
        self.spec_path = os.path.abspath(spec_path)
        self.spec = _iakps.JobSpec(self.spec_path)

    name = property(lambda self: self.spec.name)
    output_dir = property(lambda self: self.spec.output_dir)
    model_dir = property(lambda self: self.spec.model_dir)

    def __repr__(self):
        return f"Job({self.spec_path!r})"

    def model(self):
        """The pre-trained model directory (manifest, rows on demand)."""
        return Model(self.spec.model_dir)

    def schema(self):
        """The job's data schema (data.schema_file)."""
        if not self.spec.schema_file:
            raise ValueError(f"job {self.name} reads no text data with a schema "
                             "(data.schema_file is empty); use Job.data(split)")
        return Schema(self.spec.schema_file)

    def data(self, split="test"):
        """A split of the job's own data (test, validation, train or all), every
        domain's samples, as `iak predict --input=<split>` reads them."""
        return _iakps.read_split(self.spec, split)

    def encode(self, columns, domain=None):
        """Raw feature values (a pandas DataFrame or column name -> array)
        through the job's schema into a Batch. domain: None (the schema's
        domain column or rules), one domain name, or one name per row."""
        return self.schema().encode(_columns(columns), domain)

    def adapter_domains(self):
        """The domains the job fine-tuned: its domain plan, else the files of
        its models (adapters/*.iak; models/*.dense for the dense, lora and full
        methods), by name (a file name's %XX escapes undone, docs/data.md)."""
        adapters = os.path.join(self.output_dir, "adapters")
        plan = os.path.join(adapters, "domain_plan.tsv")
        if os.path.exists(plan):
            with open(plan) as f:
                return [line.split("\t")[0] for line in f
                        if line.strip() and not line.startswith("#")]
        models = os.path.join(self.output_dir, "models")
        for folder, ext in ((adapters, ".iak"), (models, ".dense")):
            if os.path.isdir(folder):
                return sorted(urllib.parse.unquote(n[:-len(ext)])
                              for n in os.listdir(folder) if n.endswith(ext))
        raise FileNotFoundError(f"neither {adapters} nor {models} exists: run the job first")

    def predictor(self, domains=None):
        return Predictor(self, domains)

    def score(self, batch, **kwargs):
        """Scores a Batch with a fresh Predictor (keep one to score many)."""
        return self.predictor().score(batch, **kwargs)

    def _json(self, name):
        path = os.path.join(self.output_dir, name)
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path} does not exist yet: the job writes it when it ends")
        with open(path) as f:
            return json.load(f)

    def results(self):
        """results.json: per-domain test AUC of the base and the fine-tuned model."""
        return self._json("results.json")

    def validation(self):
        """validation.json: each domain's validation points and the one kept."""
        return self._json("validation.json")

    def state(self):
        """The submitted job's state file (SUBMITTED, RUNNING, SUCCEEDED, ...)."""
        return _iakps.job_state(self.output_dir)

    def progress(self):
        """{"done_steps", "total_steps", "bar"} from the workers' log."""
        return _iakps.progress(self.spec, self.state()["log_dir"])

    def wait(self, timeout_s=3600.0, poll_s=0.5, on_progress=None):
        """Waits until the job ends; returns its state. TimeoutError after
        timeout_s; RuntimeError (with the job's message) if it failed.
        on_progress(progress_dict) is called each poll while it runs."""
        deadline = time.monotonic() + timeout_s
        while True:
            state = self.state()
            if state["state"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
                if state["state"] != "SUCCEEDED":
                    raise RuntimeError(f"job {self.name} {state['state']}: {state['message']}")
                return state
            if on_progress is not None and state["log_dir"]:
                on_progress(self.progress())
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {self.name} still {state['state']} after {timeout_s} s")
            time.sleep(poll_s)


def submit(spec_path, launcher=None, iak=None, args=()):
    """`iak submit SPEC --detach`: starts the job under its launcher (local by
    default) and returns its Job at once; Job.wait() follows it."""
    command = [iak or iak_binary(), "submit", os.path.abspath(spec_path), "--detach", *args]
    if launcher:
        command.append(f"--launcher={launcher}")
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): "
                           f"{done.stderr.strip()}")
    return Job(spec_path)


def per_domain_auc(batch, scores):
    """{domain name: CTR-AUC} over the batch's samples (None where a domain's
    labels are all one class)."""
    import numpy as np

    out = {}
    for d, name in enumerate(batch.domain_names):
        rows = np.flatnonzero(batch.domain == d)
        if len(rows) == 0:
            continue
        try:
            out[name] = roc_auc(scores[rows], batch.click[rows])
        except ValueError:
            out[name] = None
    return out
