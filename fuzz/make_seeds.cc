// Writes the seed corpus of every fuzz target: small valid inputs made with
// the project's own writers, so each target starts from inputs that reach
// deep into its decoder. Usage: make_seeds <corpus dir> (run from the source
// root; the job specs and schemas under examples/ are copied too).
// The committed fuzz/corpus/ was written by it (docs/fuzzing.md).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/file_util.h"
#include "data/shard_file.h"
#include "data/shard_set.h"
#include "embedding/row_codec.h"
#include "embedding/snapshot_writer.h"
#include "fuzz/fuzz_util.h"
#include "fuzz/tiny_model.h"
#include "model/adam.h"
#include "model/base_model.h"
#include "model/iak_module.h"
#include "net/rpc.h"
#include "worker/checkpoint.h"
#include "worker/key_biases.h"
#include "worker/new_key_rows.h"

namespace fs = std::filesystem;
using iak::fuzz::JoinFrames;

namespace {

std::string g_root;

void Seed(const std::string& target, const std::string& name, const std::string& bytes) {
  const std::string dir = g_root + "/" + target;
  fs::create_directories(dir);
  std::ofstream(dir + "/" + name, std::ios::binary) << bytes;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string U64s(std::initializer_list<uint64_t> v) {
  std::string out(v.size() * 8, '\0');
  size_t i = 0;
  for (uint64_t x : v) std::memcpy(&out[8 * i++], &x, 8);
  return out;
}

std::string Frame(const iak::proto::Envelope& e) { return e.SerializeAsString(); }

iak::data::Dataset SmallDataset() {
  iak::data::Dataset d;
  d.fields = {{"user", false, iak::data::Pooling::kSum}, {"tags", true, iak::data::Pooling::kMean}};
  d.domain_names = {"a", "b"};
  for (int s = 0; s < 6; ++s) {
    d.keys.push_back(100 + s);
    d.offsets.push_back(d.keys.size());
    for (int t = 0; t < s % 3; ++t) d.keys.push_back(200 + t);
    d.offsets.push_back(d.keys.size());
    d.click.push_back(s % 2);
    d.conversion.push_back(s % 4 == 1);
    d.domain.push_back(s % 2);
    d.timestamp.push_back(1000 + s);
  }
  return d;
}

void Wire() {
  iak::proto::Envelope pull;
  pull.set_request_id(7);
  pull.set_sender("worker-0");
  pull.mutable_pull_request()->set_num_keys(3);
  const std::string keys = U64s({1, 2, 999});
  iak::proto::Envelope push;
  push.set_request_id(8);
  push.mutable_push_request()->set_num_keys(2);
  std::string grads(2 * 4 * sizeof(float), '\0');
  for (size_t i = 0; i < 8; ++i) {
    const float g = 0.1f * static_cast<float>(i);
    std::memcpy(&grads[i * 4], &g, 4);
  }
  iak::proto::Envelope beat;
  beat.set_request_id(9);
  beat.mutable_heartbeat()->set_node_id(1);
  beat.mutable_heartbeat()->set_step(5);
  iak::proto::Envelope reg;
  reg.set_request_id(10);
  reg.mutable_register_request()->set_role(iak::proto::ROLE_WORKER);
  reg.mutable_register_request()->set_name("worker-0");
  iak::proto::Envelope sync;
  sync.mutable_sync_request()->mutable_position()->add_cursors()->set_position(3);

  Seed("envelope", "pull", JoinFrames({Frame(pull), keys}));
  Seed("envelope", "push", JoinFrames({Frame(push), U64s({1, 2}), grads}));
  Seed("envelope", "heartbeat", JoinFrames({Frame(beat)}));
  Seed("envelope", "register", JoinFrames({Frame(reg)}));
  Seed("envelope", "sync", JoinFrames({Frame(sync)}));

  Seed("ps_request", "pull_frozen", std::string(1, '\0') + JoinFrames({Frame(pull), keys}));
  Seed("ps_request", "pull_trainable", std::string(1, '\1') + JoinFrames({Frame(pull), keys}));
  Seed("ps_request", "push_trainable",
       std::string(1, '\1') + JoinFrames({Frame(push), U64s({1, 2}), grads}));
  Seed("ps_request", "push_frozen",
       std::string(1, '\0') + JoinFrames({Frame(push), U64s({1, 2}), grads}));
  Seed("ps_request", "heartbeat", std::string(1, '\0') + JoinFrames({Frame(beat)}));

  // Pull replies for 3 keys of dim 4, in each row encoding.
  for (int dtype = 0; dtype < 3; ++dtype) {
    const auto d = static_cast<iak::embedding::RowDtype>(dtype);
    iak::proto::Envelope reply;
    reply.mutable_pull_response()->set_num_keys(3);
    reply.mutable_pull_response()->set_dim(4);
    reply.mutable_pull_response()->set_missing(1);
    reply.mutable_pull_response()->set_row_dtype(dtype);
    const size_t row_bytes = iak::embedding::EncodedRowBytes(4, d);
    std::string rows(3 * row_bytes, '\0');
    for (int r = 0; r < 3; ++r) {
      const float v[4] = {0.5f * r, -1.0f, 2.0f, 0.25f};
      (void)iak::embedding::EncodeRow(v, 4, d, &rows[r * row_bytes]);
    }
    // 3 keys, one shard, no cache.
    Seed("pull_reply", "rows_dtype" + std::to_string(dtype),
         std::string("\x02\x00", 2) + JoinFrames({Frame(reply), rows}));
    Seed("row_codec", "dtype" + std::to_string(dtype),
         std::string(1, static_cast<char>(dtype)) + std::string(1, '\3') + rows);
  }
  iak::proto::Envelope error;
  error.set_error_code(5);
  error.set_error_message("no such snapshot");
  Seed("pull_reply", "error", std::string("\x00\x00", 2) + JoinFrames({Frame(error)}));
}

void Files(const std::string& scratch) {
  const iak::data::Dataset data = SmallDataset();
  uint64_t checksum = 0;
  iak::proto::ShardMeta meta;
  if (!iak::data::WriteShardFile(data, 0, data.size(), meta, scratch + "/s.iaks", &checksum)
           .ok()) {
    std::abort();
  }
  Seed("shard_file", "small", ReadAll(scratch + "/s.iaks"));
  iak::data::Dataset no_conversion = data;
  no_conversion.conversion.clear();
  if (!iak::data::WriteShardFile(no_conversion, 1, 4, meta, scratch + "/t.iaks", &checksum)
           .ok()) {
    std::abort();
  }
  Seed("shard_file", "no_conversion", ReadAll(scratch + "/t.iaks"));
  // The old uncompressed layout, still read; and small blocks (several of
  // them, one zstd-compressed where that is smaller).
  iak::data::ShardFileOptions v1;
  v1.version = 1;
  if (!iak::data::WriteShardFile(data, 0, data.size(), meta, scratch + "/v1.iaks", &checksum, v1)
           .ok()) {
    std::abort();
  }
  Seed("shard_file", "version1", ReadAll(scratch + "/v1.iaks"));
  iak::data::ShardFileOptions blocks;
  blocks.block_samples = 2;
  if (!iak::data::WriteShardFile(data, 0, data.size(), meta, scratch + "/b.iaks", &checksum,
                                 blocks)
           .ok()) {
    std::abort();
  }
  Seed("shard_file", "blocks", ReadAll(scratch + "/b.iaks"));

  iak::data::ShardSetWriteOptions set;
  set.dir = scratch + "/set";
  set.num_shards = 2;
  if (!iak::data::WriteShardSet(data, iak::proto::Schema(), {"in.csv"}, set).ok()) std::abort();
  Seed("shard_manifest", "two_shards", ReadAll(set.dir + "/manifest.pbtxt"));

  iak::fuzz::WriteTinyModel(scratch + "/model", 20, 2);
  Seed("model_manifest", "two_shards", ReadAll(scratch + "/model/MANIFEST.pbtxt"));

  iak::model::IakConfig config;
  config.input_dim = 4;
  config.latent_dim = 2;
  config.encoder_hidden = {3};
  config.decoder_hidden = {3};
  iak::model::IakModule adapter(config);
  adapter.Init(1);
  iak::model::Adam adam(adapter.num_params(), iak::model::AdamOptions());
  iak::worker::Checkpoint checkpoint;
  checkpoint.job_name = "fuzz";
  checkpoint.step = 12;
  iak::worker::DomainCheckpoint domain;
  domain.domain = "2004-2007";
  domain.params = adapter.params();
  domain.adam_state = adam.Serialize();
  domain.cursor.epoch = 1;
  domain.cursor.position = 5;
  checkpoint.domains.push_back(domain);
  if (!iak::worker::WriteCheckpointFile(scratch + "/c.iakc", checkpoint).ok()) std::abort();
  Seed("checkpoint", "one_domain", ReadAll(scratch + "/c.iakc"));

  iak::model::BaseModelConfig base_config;
  base_config.embedding_dim = 2;
  base_config.num_fields = 2;
  base_config.bottom_hidden = {4};
  base_config.tower_hidden = {2};
  base_config.num_tasks = 2;
  iak::model::BaseModel base(base_config);
  base.Init(2);
  Seed("model_blob", "base", std::string(1, '\0') + base.Serialize());
  Seed("model_blob", "adapter", std::string(1, '\1') + adapter.Serialize());
  iak::StatusOr<iak::worker::NewKeyRows> rows =
      iak::worker::NewKeyRows::FromRows({3, 9}, {0.5f, -1, 2, 0.25f}, nullptr, 2);
  iak::StatusOr<iak::worker::KeyBiases> biases =
      iak::worker::KeyBiases::FromValues({3, 9, 12}, {0.5f, -0.25f, 1.5f});
  if (!rows.ok() || !biases.ok()) std::abort();
  Seed("unit_files", "rows", std::string(1, '\0') + rows->Serialize());
  Seed("unit_files", "biases", std::string(1, '\1') + biases->Serialize());
  iak::model::Adam adam16(16, iak::model::AdamOptions());
  Seed("model_blob", "adam", std::string(1, '\2') + adam16.Serialize());
  // An adapter on columns 1 and 3 of its input, linear (format version 2).
  iak::model::IakConfig on_columns = config;
  on_columns.encoder_hidden.clear();
  on_columns.decoder_hidden.clear();
  on_columns.columns = {1, 3};
  Seed("model_blob", "adapter_columns",
       std::string(1, '\1') + iak::model::IakModule(on_columns).Serialize());
}

void TensorFiles() {
  // .npy v1.0: float32 (2, 3), little-endian, C order.
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string npy = std::string("\x93NUMPY\x01\x00", 8);
  npy.push_back(static_cast<char>(header.size() & 0xff));
  npy.push_back(static_cast<char>(header.size() >> 8));
  npy += header;
  for (int i = 0; i < 6; ++i) {
    const float v = 0.5f * i;
    npy.append(reinterpret_cast<const char*>(&v), 4);
  }
  Seed("npy", "f32_2x3", npy);
  std::string npy_keys = npy;
  npy_keys.replace(npy_keys.find("<f4"), 3, "<u8");
  npy_keys.replace(npy_keys.find("(2, 3)"), 6, "(3,)  ");
  npy_keys.resize(npy_keys.size() - 24);
  npy_keys += U64s({1, 2, 3}).substr(0, 24);
  Seed("npy", "u64_keys", npy_keys);

  const std::string json =
      R"({"__metadata__":{"format":"pt"},"table":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
      R"("keys":{"dtype":"I64","shape":[2],"data_offsets":[16,32]}})";
  std::string st(8, '\0');
  const uint64_t n = json.size();
  std::memcpy(&st[0], &n, 8);
  st += json;
  for (int i = 0; i < 4; ++i) {
    const float v = 1.0f + i;
    st.append(reinterpret_cast<const char*>(&v), 4);
  }
  st += U64s({5, 6});
  Seed("safetensors", "table_and_keys", st);
}

void Texts() {
  for (const auto& entry : fs::directory_iterator("examples")) {
    const std::string name = entry.path().filename().string();
    if (name.find(".schema.pbtxt") != std::string::npos) {
      Seed("schema", name, ReadAll(entry.path().string()));
    } else if (entry.path().extension() == ".pbtxt") {
      Seed("job_spec", name, ReadAll(entry.path().string()));
    }
  }
  Seed("job_spec", "minimal", "model_dir: \"/tmp/m\"\n");
  Seed("job_spec", "phases",
       "model_dir: \"/tmp/m\"\nnum_workers: 3\nbatch_size: 64\nmetrics_port: 9100\n"
       "iak { latent_dim: 8 encoder_hidden: 16 decoder_hidden: 16 }\n"
       "phases { phase: PHASE_COMPRESSION steps: 10 beta: 0.001 learning_rate: 0.002 }\n"
       "phases { phase: PHASE_MATCHING steps: 5 beta: 0.0001 learning_rate: 0.001 }\n"
       "checkpoint { every_n_steps: -1 }\nmax_missing_key_rate: 0.5\n");
  Seed("schema", "libffm", "format: FORMAT_LIBFFM num_fields: 4\n");
  Seed("schema", "repeat", "columns { name: \"y\" role: COLUMN_CLICK }\n"
                           "columns { name: \"I\" repeat: 13 role: COLUMN_NUMERIC "
                           "transform: NUMERIC_LOG }\n");
  // text_line: the first byte picks fuzz_text_line.cc's schema.
  Seed("text_line", "csv",
       std::string(1, '\0') +
           "1,0,1600000000,u1,a|b|c,3,0.5,42,7,12345,x\n"
           "0,1,1600003600,u2,,\"1,5\",12,150,-3,99999,y\n"
           "1,0,not-a-time,u3,a,1,1,1,1,1,z\n");
  Seed("text_line", "tsv",
       std::string(1, '\1') + "1\t14102100\tsite1\ta\tb\tc\n0\t14102123\tsite2\t\t\t\r\n");
  Seed("text_line", "libsvm", std::string(1, '\2') + "1 3:1 7:0.5 100:2\n0 1:1\n");
  Seed("text_line", "libffm", std::string(1, '\3') + "1 0:3:1 4:7:0.5\n0 1:1:1 2:2:1\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seeds <corpus dir>\n");
    return 2;
  }
  g_root = argv[1];
  const std::string scratch = iak::fuzz::ScratchDir();
  Wire();
  Files(scratch);
  TensorFiles();
  Texts();
  fs::remove_all(scratch);
  std::printf("seeds written under %s\n", g_root.c_str());
  return 0;
}
