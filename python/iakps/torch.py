"""A model exported by `iak export --torch` as a torch.nn.Module.

    model = iakps.torch.load_model("runs/demo/export/torch")
    scores = model.score(batch)          # an iakps.Batch: same scores as `iak predict`

The module holds the embedding table as a TorchRec-style EmbeddingBag
collection (state_dict key "embedding_bags.rows.weight", the rows in the
order of "row_keys"), the bottom MLP, the task towers and every adapter as
torch.nn.Linear layers, each adapter with the new-key rows and key biases it
trained.
Layout of the files: docs/export.md "PyTorch export".
Needs torch and safetensors (pip install torch safetensors).
"""
import json
import os

import numpy as np
import torch
from safetensors import safe_open
from torch import nn


def _mlp(dims):
    return nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))


def _forward(layers, x, relu_last):
    for i, layer in enumerate(layers):
        x = layer(x)
        if relu_last or i + 1 < len(layers):
            x = torch.relu(x)
    return x


def _find(sorted_keys, keys):
    """(positions, found) of int64 `keys` in the ascending int64 `sorted_keys`."""
    n = sorted_keys.numel()
    if n == 0:
        return torch.zeros_like(keys), torch.zeros_like(keys, dtype=torch.bool)
    ids = torch.searchsorted(sorted_keys, keys).clamp(max=n - 1)
    return ids, sorted_keys[ids] == keys


class NewKeyRows(nn.Module):
    """An adapter's rows for keys the snapshot lacks, trained with it
    ("keys": int64, ascending; "weight": [n, dim]). They stay with their
    adapter: two domains may have trained different rows for one new key."""

    def __init__(self, n, dim):
        super().__init__()
        self.register_buffer("keys", torch.zeros(n, dtype=torch.int64))
        self.weight = nn.Parameter(torch.zeros(n, dim))


class KeyBiases(nn.Module):
    """An adapter's CTR-logit offsets per key ("keys": int64, ascending;
    "weight": [n, 1]): a sample's logit gains the biases of its keys."""

    def __init__(self, n):
        super().__init__()
        self.register_buffer("keys", torch.zeros(n, dtype=torch.int64))
        self.weight = nn.Parameter(torch.zeros(n, 1))


class Adapter(nn.Module):
    """An IAK adapter at inference: v' = v + decoder(mu), mu = the first
    latent_dim outputs of encoder(v) (the whole output for a plain adapter),
    where v is h, or the pooled input x for config insertion "x"; with
    "columns" (JobSpec iak.fields) only those columns of v are read and
    adapted; with the new-key rows and key biases it trained, if any."""

    def __init__(self, config, embedding_dim):
        super().__init__()
        k = config["latent_dim"]
        out = k if config["plain_adapter"] else 2 * k
        self.latent_dim = k
        self.columns = config.get("columns")
        width = len(self.columns) if self.columns else config["input_dim"]
        self.encoder = _mlp([width, *config["encoder_hidden"], out])
        self.decoder = _mlp([k, *config["decoder_hidden"], width])
        n = config.get("new_rows", 0)
        self.new_rows = NewKeyRows(n, embedding_dim) if n > 0 else None
        b = config.get("key_biases", 0)
        self.key_biases = KeyBiases(b) if b > 0 else None

    def forward(self, h):
        read = h[:, self.columns] if self.columns else h
        mu = _forward(self.encoder, read, relu_last=False)[:, : self.latent_dim]
        delta = _forward(self.decoder, mu, relu_last=False)
        if not self.columns:
            return h + delta
        out = h.clone()
        out[:, self.columns] += delta
        return out


class IakModel(nn.Module):
    """The frozen base with every domain's adapter (domain activation)."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        dim = config["embedding_dim"]
        fields = config["fields"]
        self.embedding_bags = nn.ModuleDict(
            {"rows": nn.EmbeddingBag(max(1, config["num_rows"]), dim, mode="sum",
                                     include_last_offset=True)})
        self.register_buffer("row_keys", torch.zeros(config["num_rows"], dtype=torch.int64))
        self.register_buffer("mean_pooling",
                             torch.tensor([f["pooling"] == "mean" for f in fields]))
        h = config["bottom_hidden"][-1]
        self.bottom = _mlp([len(fields) * dim, *config["bottom_hidden"]])
        self.tower = nn.ModuleList(
            _mlp([h, *config["tower_hidden"], 1]) for _ in range(config["num_tasks"]))
        self.adapters = nn.ModuleList(Adapter(a, dim) for a in config["adapters"])
        # domain name -> index into adapters, or None (the frozen base).
        self.domain_adapters = dict(config["domain_adapters"])

    def pool(self, keys, offsets, adapter):
        """x [batch, fields * dim]: each field's rows summed (or averaged over
        its keys, a key without a row counting as a zero row). A key the
        snapshot lacks takes the new-key row its sample's adapter trained."""
        fields = self.mean_pooling.numel()
        counts = offsets[1:] - offsets[:-1]
        ids, found = _find(self.row_keys, keys)
        mean = self.mean_pooling.repeat(counts.numel() // fields)
        bag_weight = torch.where(mean, 1.0 / counts.clamp(min=1).float(), torch.ones_like(counts,
                                 dtype=torch.float32))
        key_weight = torch.repeat_interleave(bag_weight, counts)
        pooled = self.embedding_bags["rows"](ids, offsets,
                                             per_sample_weights=key_weight * found.float())
        if any(module.new_rows is not None for module in self.adapters):
            bag = torch.repeat_interleave(torch.arange(counts.numel()), counts)
            key_adapter = adapter[bag // fields]
            for a, module in enumerate(self.adapters):
                if module.new_rows is None:
                    continue
                own = torch.nonzero((key_adapter == a) & ~found).flatten()
                rows, hit = _find(module.new_rows.keys, keys[own])
                weight = (key_weight[own] * hit.float()).unsqueeze(1)
                pooled.index_add_(0, bag[own], module.new_rows.weight[rows] * weight)
        return pooled.reshape(-1, fields * pooled.shape[1])

    def key_offsets(self, keys, offsets, adapter):
        """Per sample, the sum of its adapter's key biases over its keys (0
        for a key without one)."""
        fields = self.mean_pooling.numel()
        counts = offsets[1:] - offsets[:-1]
        sample = torch.repeat_interleave(torch.arange(counts.numel()), counts) // fields
        key_adapter = adapter[sample]
        out = torch.zeros(adapter.numel())
        for a, module in enumerate(self.adapters):
            if module.key_biases is None:
                continue
            own = torch.nonzero(key_adapter == a).flatten()
            at, hit = _find(module.key_biases.keys, keys[own])
            out.index_add_(0, sample[own], module.key_biases.weight[at, 0] * hit.float())
        return out

    def adapt(self, v, adapter):
        """Each sample's row of v through its adapter (unchanged for -1)."""
        adapted = v.clone()
        for a, module in enumerate(self.adapters):
            rows = torch.nonzero(adapter == a).flatten()
            if rows.numel() > 0:
                adapted[rows] = module(v[rows])
        return adapted

    def forward(self, keys, offsets, adapter):
        """Logits [batch, num_tasks]. keys int64 [n], offsets int64
        [batch * fields + 1] (CSR over (sample, field)), adapter int64
        [batch]: each sample's adapter index, -1 for the frozen base. The
        adapters map h, or the pooled input x for config insertion "x"."""
        x = self.pool(keys, offsets, adapter)
        if self.config.get("insertion", "h") == "x":
            h = _forward(self.bottom, self.adapt(x, adapter), relu_last=True)
        else:
            h = self.adapt(_forward(self.bottom, x, relu_last=True), adapter)
        logits = torch.cat([_forward(t, h, relu_last=False) for t in self.tower], dim=1)
        if any(module.key_biases is not None for module in self.adapters):
            ctr = logits[:, 0] + self.key_offsets(keys, offsets, adapter)
            logits = torch.cat([ctr.unsqueeze(1), logits[:, 1:]], dim=1)
        return logits

    def adapter_of(self, domain, domain_names):
        """Per sample, the adapter index of its domain (-1: the base)."""
        table = [self.domain_adapters.get(name) for name in domain_names]
        lookup = torch.tensor([-1 if a is None else a for a in table] or [-1], dtype=torch.int64)
        return lookup[torch.from_numpy(np.array(domain, dtype=np.int64))]

    @torch.no_grad()
    def score(self, batch):
        """{"p_ctr": numpy[, "p_ctcvr": ...]} for an iakps.Batch."""
        keys = torch.from_numpy(np.asarray(batch.keys).view(np.int64).copy())
        offsets = torch.from_numpy(np.asarray(batch.offsets).view(np.int64).copy())
        logits = self(keys, offsets, self.adapter_of(batch.domain, batch.domain_names))
        p = torch.sigmoid(logits)
        out = {"p_ctr": p[:, 0].numpy()}
        if p.shape[1] == 2:
            out["p_ctcvr"] = (p[:, 0] * p[:, 1]).numpy()
        return out


def _tensors(path):
    with safe_open(path, framework="numpy") as f:
        return {name: f.get_tensor(name) for name in f.keys()}, f.metadata() or {}


def load_config(export_dir):
    """The model description in export_dir/model.safetensors."""
    _, metadata = _tensors(os.path.join(export_dir, "model.safetensors"))
    if metadata.get("format") != "iak-torch-v1":
        raise ValueError(f"{export_dir}/model.safetensors is not an `iak export --torch` file "
                         f"(format {metadata.get('format')!r})")
    return json.loads(metadata["config"])


def torchrec_state_dict(export_dir):
    """The embedding table as a TorchRec EmbeddingBagCollection state_dict
    ({"embedding_bags.rows.weight": [num_rows, dim]}) and the uint64 key of
    each row (numpy), in row order."""
    config = load_config(export_dir)
    weights, keys = [], []
    for name in config["row_files"]:
        tensors, _ = _tensors(os.path.join(export_dir, name))
        weights.append(tensors["embedding_bags.rows.weight"])
        keys.append(tensors["row_keys"])
    dim = config["embedding_dim"]
    weight = np.concatenate(weights) if weights else np.zeros((0, dim), np.float32)
    return ({"embedding_bags.rows.weight": torch.from_numpy(weight)},
            np.concatenate(keys) if keys else np.zeros(0, np.uint64))


def load_model(export_dir):
    """The IakModel of an `iak export --torch` directory, in eval mode."""
    config = load_config(export_dir)
    model = IakModel(config)
    dense, _ = _tensors(os.path.join(export_dir, "model.safetensors"))
    # uint64 keys as the int64 they are compared as (same bits).
    state = {name: torch.from_numpy(value.view(np.int64).copy() if value.dtype == np.uint64
                                    else value) for name, value in dense.items()}
    table, keys = torchrec_state_dict(export_dir)
    state.update(table)
    state["row_keys"] = torch.from_numpy(keys.view(np.int64).copy())
    state["mean_pooling"] = model.mean_pooling
    if config["num_rows"] == 0:  # nn.EmbeddingBag needs one row: an empty table keeps its unused one
        state["embedding_bags.rows.weight"] = model.embedding_bags["rows"].weight.detach()
    model.load_state_dict(state, strict=True)
    return model.eval()
