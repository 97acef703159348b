"""The iakps package against the `iak` command on a real (small) job.

Pre-trains a model on datasets/samples/avazu_sample.txt, submits a short
fine-tuning job through iakps.submit and waits for it, then checks that
iakps scores exactly what `iak predict` scores (a split and raw columns),
that arrays are views, that bad input is refused with a message, and that
`iak export --torch` and `iak snapshot import --tables` round-trip the
embedding table and reproduce the scores with numpy alone.

Run by ctest (python_iakps) with PYTHONPATH=<build>/python and
IAK_BINARY=<build>/iak; exits 77 (ctest: skipped) without numpy.
"""
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

try:
    import numpy as np
except ImportError:
    print("SKIP: numpy is not installed (pip install numpy); the iakps tests need it")
    sys.exit(77)

import iakps

try:
    from safetensors.numpy import load_file, save_file
except ImportError:
    load_file = save_file = None

from small_job import DATA, FIELDS_IAK, iak, make_small_job

NEEDS_SAFETENSORS = unittest.skipIf(load_file is None,
                                    "safetensors is not installed (pip install safetensors)")

def read_scores(path):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    return np.array([float(r["p_ctr"]) for r in rows], dtype=np.float64), rows


def read_columns(path):
    """The sample file as column name -> array: numbers where a column holds
    only digits (so ints are encoded, as a data frame would hold them)."""
    with open(path) as f:
        rows = list(csv.DictReader(f))
    columns = {}
    for name in rows[0]:
        values = [r[name] for r in rows]
        if name != "id" and all(v.isdigit() and (v == "0" or not v.startswith("0"))
                                for v in values):
            columns[name] = np.array([int(v) for v in values], dtype=np.int64)
        else:
            columns[name] = np.array(values, dtype=object)
    return columns


def mlp(tensors, prefix, x, relu_last):
    i = 0
    while f"{prefix}{i}.weight" in tensors:
        x = x @ tensors[f"{prefix}{i}.weight"].T + tensors[f"{prefix}{i}.bias"]
        i += 1
        if relu_last or f"{prefix}{i}.weight" in tensors:
            x = np.maximum(x, 0)
    return x


class IakpsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="iakps_test_")
        cls.seen = []
        cls.job, cls.state = make_small_job(cls.dir, on_progress=cls.seen.append)
        cls.spec = cls.job.spec_path

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_submit_wait_and_progress(self):
        self.assertEqual(self.state["state"], "SUCCEEDED")
        progress = self.job.progress()
        self.assertEqual(progress["total_steps"], 15)
        self.assertEqual(progress["done_steps"], 15)
        self.assertTrue(self.seen)  # on_progress was called while it ran
        self.assertEqual([u["unit"] for u in self.job.validation()["units"]], ["app"])
        self.assertEqual(self.job.adapter_domains(), ["app"])
        with self.assertRaises(FileNotFoundError):
            iakps.Job(os.path.join(self.dir, "missing.pbtxt"))

    def test_split_scores_equal_iak_predict(self):
        out = os.path.join(self.dir, "test_scores.csv")
        iak("predict", f"--job={self.spec}", "--input=test", f"--out={out}")
        expected, rows = read_scores(out)
        batch = self.job.data("test")
        self.assertEqual(len(batch), len(rows))
        scores = self.job.predictor().score(batch)["p_ctr"]
        np.testing.assert_allclose(scores, expected, rtol=0, atol=1e-6)
        names = [batch.domain_names[d] for d in batch.domain]
        self.assertEqual(names, [r["domain"] for r in rows])

    def test_dense_job_scores_equal_iak_predict(self):
        # A job of another method on the same base: each domain through its
        # own fine-tuned dense model, in iakps as in `iak predict`.
        with open(self.spec) as f:
            text = f.read().replace(f'output_dir: "{self.dir}/out"',
                                    f'output_dir: "{self.dir}/out-dense"\nmethod: "dense"')
        # The adapter's options.
        text = text.replace(" new_key_rows { enabled: true }", "")
        text = text.replace(' key_biases { enabled: true fields: ["site_id", "app_id"] }', "")
        # Its last parameters (15 steps rarely beat the base on validation).
        text += "validation { disabled: true }\n"
        spec = os.path.join(self.dir, "dense.pbtxt")
        with open(spec, "w") as f:
            f.write(text)
        job = iakps.submit(spec)
        self.assertEqual(job.wait(timeout_s=300, poll_s=0.2)["state"], "SUCCEEDED")
        out = os.path.join(self.dir, "dense_scores.csv")
        iak("predict", f"--job={spec}", "--input=test", f"--out={out}")
        expected, rows = read_scores(out)
        self.assertEqual(job.adapter_domains(), ["app"])  # from models/app.dense
        predictor = job.predictor()
        scores = predictor.score(job.data("test"))["p_ctr"]
        np.testing.assert_allclose(scores, expected, rtol=0, atol=1e-6)
        base = predictor.score(job.data("test"), adapters=False)["p_ctr"]
        self.assertGreater(np.abs(scores - base).max(), 1e-4)

    def test_columns_through_the_schema_equal_the_file(self):
        out = os.path.join(self.dir, "file_scores.csv")
        iak("predict", f"--job={self.spec}", f"--input={DATA}", f"--out={out}")
        expected, _ = read_scores(out)
        columns = read_columns(DATA)
        self.assertEqual(columns["C1"].dtype, np.int64)  # ints hash as their text
        batch = self.job.encode(columns)
        whole = self.job.data("all")
        np.testing.assert_array_equal(batch.keys, whole.keys)
        np.testing.assert_array_equal(batch.offsets, whole.offsets)
        scores = self.job.score(batch)["p_ctr"]
        np.testing.assert_allclose(scores, expected, rtol=0, atol=1e-6)
        # One domain for every row: the "app" adapter scores the "site" rows too.
        forced = self.job.encode(columns, domain="app")
        self.assertEqual(forced.domain_names, ["app"])
        adapted = self.job.score(forced)["p_ctr"]
        site = np.array([batch.domain_names[d] == "site" for d in batch.domain])
        self.assertTrue(site.any())
        self.assertFalse(np.allclose(adapted[site], scores[site]))
        np.testing.assert_allclose(adapted[~site], scores[~site], rtol=0, atol=1e-6)

    def test_arrays_are_views_and_out_is_written_in_place(self):
        batch = self.job.data("test")
        keys = batch.keys
        self.assertFalse(keys.flags.writeable)
        self.assertFalse(keys.flags.owndata)
        self.assertEqual(keys.dtype, np.uint64)
        self.assertEqual(batch.offsets[-1], len(keys))
        first = keys[:3].copy()
        del batch  # the view keeps the samples alive
        np.testing.assert_array_equal(keys[:3], first)
        batch = self.job.data("test")
        out = np.full(len(batch), -1, dtype=np.float32)
        result = self.job.score(batch, out_ctr=out)
        self.assertTrue(np.shares_memory(result["p_ctr"], out))
        self.assertTrue(((out > 0) & (out < 1)).all())
        with self.assertRaisesRegex(ValueError, "float32"):
            self.job.score(batch, out_ctr=np.zeros(len(batch)))

    def test_bad_input_is_refused_with_a_message(self):
        columns = read_columns(DATA)
        del columns["site_id"]
        with self.assertRaisesRegex(ValueError, "no column 'site_id'"):
            self.job.encode(columns)
        columns = read_columns(DATA)
        columns["nonsense"] = columns["C1"]
        with self.assertRaisesRegex(ValueError, "no column 'nonsense'"):
            self.job.encode(columns)
        columns = read_columns(DATA)
        columns["click"] = np.array(["x"] * len(columns["click"]), dtype=object)
        with self.assertRaisesRegex(ValueError, r"row 0: column 2 \('click'\)"):
            self.job.encode(columns)
        with self.assertRaisesRegex(ValueError, "split must be"):
            self.job.data("everything")

    def test_model_rows_and_auc(self):
        model = self.job.model()
        self.assertEqual(model.embedding_dim, 4)
        batch = self.job.data("all")
        rows, found = model.lookup(batch.keys[:5])
        self.assertEqual(rows.shape, (5, 4))
        self.assertTrue(found.any())
        self.assertAlmostEqual(iakps.roc_auc(np.array([0.1, 0.9, 0.2]), np.array([0, 1, 0])), 1.0)
        aucs = iakps.per_domain_auc(batch, self.job.score(batch)["p_ctr"])
        self.assertEqual(sorted(aucs), sorted(batch.domain_names))

    @NEEDS_SAFETENSORS
    def test_torch_export_reproduces_iak_predict_with_numpy(self):
        export = os.path.join(self.dir, "export")
        iak("export", f"--job={self.spec}", f"--out={export}", "--torch", "--rows_per_file=100")
        v1 = load_file(os.path.join(export, "model.safetensors"))
        dense = load_file(os.path.join(export, "torch", "model.safetensors"))
        np.testing.assert_array_equal(dense["bottom.0.weight"], v1["bottom.0.weight"].T)
        np.testing.assert_array_equal(dense["adapters.0.decoder.0.weight"],
                                      v1["iak.app.decoder.0.weight"].T)
        config = iakps_torch_config(os.path.join(export, "torch"))
        self.assertEqual(len(config["row_files"]), 3)  # 284 rows, 100 a file
        keys = np.concatenate([load_file(os.path.join(export, "torch", f))["row_keys"]
                               for f in config["row_files"]])
        weight = np.concatenate([load_file(os.path.join(export, "torch", f))
                                 ["embedding_bags.rows.weight"] for f in config["row_files"]])
        self.assertEqual(len(keys), self.job.model().num_rows)
        self.assertTrue((np.diff(keys.view(np.int64)) > 0).all())
        rows, found = self.job.model().lookup(keys)
        self.assertTrue(found.all())
        np.testing.assert_array_equal(rows, weight)
        # One forward pass in numpy from the exported tensors alone.
        batch = self.job.data("all")
        dim = config["embedding_dim"]
        fields = len(config["fields"])
        x = np.zeros((len(batch) * fields, dim), dtype=np.float32)
        index = np.searchsorted(keys.view(np.int64), batch.keys.view(np.int64))
        index = np.minimum(index, len(keys) - 1)
        present = keys.view(np.int64)[index] == batch.keys.view(np.int64)
        bag = np.repeat(np.arange(len(batch) * fields), np.diff(batch.offsets.astype(np.int64)))
        np.add.at(x, bag[present], weight[index[present]])
        adapter = np.array([config["domain_adapters"].get(batch.domain_names[d])
                            for d in batch.domain], dtype=object)
        # A key the snapshot lacks takes its sample's adapter's new-key row.
        self.assertTrue(any(a["new_rows"] > 0 for a in config["adapters"]))
        key_adapter = adapter[bag // fields]
        for a, spec in enumerate(config["adapters"]):
            if spec["new_rows"] == 0:
                continue
            own_keys = dense[f"adapters.{a}.new_rows.keys"].view(np.int64)
            own = np.flatnonzero((key_adapter == a) & ~present)
            at = np.minimum(np.searchsorted(own_keys, batch.keys.view(np.int64)[own]),
                            len(own_keys) - 1)
            hit = own_keys[at] == batch.keys.view(np.int64)[own]
            np.add.at(x, bag[own[hit]], dense[f"adapters.{a}.new_rows.weight"][at[hit]])
        h = mlp(dense, "bottom.", x.reshape(len(batch), fields * dim), relu_last=True)
        for a, spec in enumerate(config["adapters"]):
            rows = np.flatnonzero(adapter == a)
            mu = mlp(dense, f"adapters.{a}.encoder.", h[rows], False)[:, : spec["latent_dim"]]
            h[rows] = h[rows] + mlp(dense, f"adapters.{a}.decoder.", mu, False)
        logit = mlp(dense, "tower.0.", h, False)[:, 0]
        # Each sample's CTR logit gains its adapter's biases of its keys.
        self.assertTrue(any(a["key_biases"] > 0 for a in config["adapters"]))
        sample = bag // fields
        for a, spec in enumerate(config["adapters"]):
            if spec["key_biases"] == 0:
                continue
            self.assertTrue(dense[f"adapters.{a}.key_biases.weight"].any())  # trained
            bias_keys = dense[f"adapters.{a}.key_biases.keys"].view(np.int64)
            own = np.flatnonzero(key_adapter == a)
            at = np.minimum(np.searchsorted(bias_keys, batch.keys.view(np.int64)[own]),
                            len(bias_keys) - 1)
            hit = bias_keys[at] == batch.keys.view(np.int64)[own]
            np.add.at(logit, sample[own[hit]], dense[f"adapters.{a}.key_biases.weight"][at[hit], 0])
        p = 1 / (1 + np.exp(-logit))
        expected = self.job.score(batch)["p_ctr"]
        self.assertLess(np.abs(p - expected).max(), 1e-5)

    @NEEDS_SAFETENSORS
    def test_adapter_on_fields_reproduces_iak_predict_with_numpy(self):
        """A linear adapter on two fields' pooled embeddings (iak.fields):
        the export says which columns of x it reads, and a numpy forward pass
        from the exported tensors alone gives the job's scores."""
        work = os.path.join(self.dir, "fields")
        os.makedirs(work)
        job, state = make_small_job(work, iak_spec=FIELDS_IAK)
        self.assertEqual(state["state"], "SUCCEEDED")
        export = os.path.join(work, "export")
        iak("export", f"--job={job.spec_path}", f"--out={export}", "--torch")
        dense = load_file(os.path.join(export, "torch", "model.safetensors"))
        config = iakps_torch_config(os.path.join(export, "torch"))
        self.assertEqual(config["insertion"], "x")
        names = [f["name"] for f in config["fields"]]
        dim = config["embedding_dim"]
        columns = sorted(names.index(n) * dim + j for n in ("site_id", "app_category")
                         for j in range(dim))
        (spec,) = config["adapters"]
        self.assertEqual(spec["columns"], columns)
        self.assertEqual(spec["encoder_hidden"], [])
        self.assertEqual(dense["adapters.0.encoder.0.weight"].shape, (8, len(columns)))
        rows = load_file(os.path.join(export, "torch", config["row_files"][0]))
        keys = rows["row_keys"].view(np.int64)
        weight = rows["embedding_bags.rows.weight"]
        batch = job.data("all")
        x = np.zeros((len(batch) * len(names), dim), dtype=np.float32)
        index = np.minimum(np.searchsorted(keys, batch.keys.view(np.int64)), len(keys) - 1)
        present = keys[index] == batch.keys.view(np.int64)
        bag = np.repeat(np.arange(len(batch) * len(names)), np.diff(batch.offsets.astype(np.int64)))
        np.add.at(x, bag[present], weight[index[present]])
        x = x.reshape(len(batch), len(names) * dim)
        adapted = np.array([config["domain_adapters"].get(batch.domain_names[d]) == 0
                            for d in batch.domain])
        mu = mlp(dense, "adapters.0.encoder.", x[adapted][:, columns], False)[:, :4]
        delta = mlp(dense, "adapters.0.decoder.", mu, False)
        self.assertTrue(np.abs(delta).max() > 0)  # trained
        x_adapted = x.copy()
        x_adapted[np.ix_(np.flatnonzero(adapted), columns)] += delta
        h = mlp(dense, "bottom.", x_adapted, relu_last=True)
        p = 1 / (1 + np.exp(-mlp(dense, "tower.0.", h, False)[:, 0]))
        self.assertLess(np.abs(p - job.score(batch)["p_ctr"]).max(), 1e-5)

    @NEEDS_SAFETENSORS
    def test_state_dict_tables_import(self):
        rng = np.random.default_rng(3)
        tables = {"embedding_bags.t_user.weight": rng.normal(size=(5, 4)).astype(np.float32),
                  "t_item.weight": rng.normal(size=(3, 4)).astype(np.float32)}
        path = os.path.join(self.dir, "state_dict.safetensors")
        save_file(tables, path)
        out = os.path.join(self.dir, "imported")
        iak("snapshot", "import", path, "--tables=t_user:0,t_item:2", f"--out={out}",
            "--overwrite")
        model = iakps.Model(out)
        self.assertEqual(model.num_rows, 8)
        rows, found = model.lookup(iakps.feature_keys(0, np.arange(5, dtype=np.uint64)))
        self.assertTrue(found.all())
        np.testing.assert_array_equal(rows, tables["embedding_bags.t_user.weight"])
        rows, found = model.lookup(iakps.feature_keys(2, np.arange(3, dtype=np.uint64)))
        np.testing.assert_array_equal(rows, tables["t_item.weight"])
        # An unknown table is named with the tensors there are.
        done = subprocess.run([iakps.iak_binary(), "snapshot", "import", path,
                               "--tables=t_nope:1", f"--out={out}2"],
                              capture_output=True, text=True)
        self.assertEqual(done.returncode, 1)
        self.assertIn('no table "t_nope"', done.stderr)


def iakps_torch_config(export_dir):
    """The config metadata of a torch export, read without torch."""
    import json
    from safetensors import safe_open
    with safe_open(os.path.join(export_dir, "model.safetensors"), framework="numpy") as f:
        return json.loads(f.metadata()["config"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
