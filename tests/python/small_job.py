"""A small finished adapter job for the Python tests: a base pre-trained on
datasets/samples/avazu_sample.txt (dim 4, one shard) and 15 fine-tuning steps
submitted through iakps.submit (1 PS, 1 worker; a few seconds), with rows for
the keys pre-training never saw (iak.new_key_rows) and biases for the site and
app keys (iak.key_biases); or, with FIELDS_IAK, a linear adapter on the
site_id and app_category fields' pooled embeddings (iak.fields), validation
off."""
import os
import subprocess

import iakps

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCHEMA = os.path.join(ROOT, "examples", "avazu.schema.pbtxt")
DATA = os.path.join(ROOT, "datasets", "samples", "avazu_sample.txt")

JOB = """name: "iakps-small"
model_dir: "{dir}/model"
output_dir: "{dir}/out"
data {{ schema_file: "{schema}" input_files: "{data}" train_fraction: 0.6
        validation_fraction: 0.2 }}
{iak}
phases {{ phase: PHASE_COMPRESSION steps: 10 beta: 0.001 learning_rate: 0.003 }}
phases {{ phase: PHASE_MATCHING steps: 5 beta: 0.0001 learning_rate: 0.001 }}
batch_size: 16
seed: 7
num_servers: 1
num_workers: 1
timeouts {{ startup_timeout_ms: 30000 barrier_timeout_ms: 30000 }}
"""


ROWS_AND_BIASES_IAK = """iak { latent_dim: 4 encoder_hidden: 8 decoder_hidden: 8
      new_key_rows { enabled: true } key_biases { enabled: true fields: ["site_id", "app_id"] } }"""
# Validation off: the last parameters are written, trained whatever 15 steps
# do to the validation AUC.
FIELDS_IAK = """iak { latent_dim: 4 encoder_hidden: 0 decoder_hidden: 0 insertion: "x"
      fields: ["app_category", "site_id"] initial_logvar: -6 }
validation { disabled: true }"""


def iak(*args):
    """Runs the iak command; AssertionError with its stderr if it fails."""
    done = subprocess.run([iakps.iak_binary(), *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise AssertionError(f"iak {' '.join(args)} failed: {done.stderr[-2000:]}")
    return done.stdout


def make_small_job(directory, on_progress=None, iak_spec=ROWS_AND_BIASES_IAK):
    """Writes, pre-trains and runs the job in `directory`; returns (Job, state)."""
    spec = os.path.join(directory, "job.pbtxt")
    with open(spec, "w") as f:
        f.write(JOB.format(dir=directory, schema=SCHEMA, data=DATA, iak=iak_spec))
    iak("pretrain", f"--job={spec}", "--epochs=1", "--dim=4")
    job = iakps.submit(spec)
    return job, job.wait(timeout_s=300, poll_s=0.2, on_progress=on_progress)
