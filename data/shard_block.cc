#include "data/shard_block.h"

#include <algorithm>
#include <cstring>
#include <unordered_map>
#include <utility>
#include <vector>

#include <glog/logging.h>

#include "data/varint.h"

namespace iak::data {
namespace {

constexpr uint8_t kSingleValued = 0;  // per-field layout byte
constexpr uint8_t kCounted = 1;
constexpr uint8_t kRawKeys = 0;       // per-field key coding byte
constexpr uint8_t kDictionary = 1;

size_t VarintSize(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

void EncodeField(const Dataset& data, size_t begin, size_t end, int field, std::string* out) {
  const size_t num_fields = data.fields.size();
  std::vector<uint64_t> keys;
  bool single = true;
  for (size_t s = begin; s < end; ++s) {
    size_t n;
    const uint64_t* k = data.FieldKeys(s, field, &n);
    single = single && n == 1;
    keys.insert(keys.end(), k, k + n);
  }
  out->push_back(static_cast<char>(single ? kSingleValued : kCounted));
  if (!single) {
    for (size_t s = begin; s < end; ++s) {
      const size_t i = s * num_fields + static_cast<size_t>(field);
      PutVarint(data.offsets[i + 1] - data.offsets[i], out);
    }
  }
  // Distinct keys by sorting a copy; a dictionary costs at least 8 bytes an
  // entry plus a byte a key, so with many distinct keys raw wins outright.
  std::vector<uint64_t> sorted = keys;
  std::sort(sorted.begin(), sorted.end());
  std::vector<std::pair<uint32_t, uint64_t>> by_count;  // (count, key)
  for (size_t i = 0; i < sorted.size();) {
    size_t j = i;
    while (j < sorted.size() && sorted[j] == sorted[i]) ++j;
    by_count.push_back({static_cast<uint32_t>(j - i), sorted[i]});
    i = j;
  }
  if (8 * by_count.size() + keys.size() >= 8 * keys.size()) {
    out->push_back(static_cast<char>(kRawKeys));
    for (uint64_t k : keys) PutU64(k, out);
    return;
  }
  // The dictionary, most frequent key first, so frequent keys get 1-byte indices.
  std::sort(by_count.begin(), by_count.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  std::unordered_map<uint64_t, uint64_t> index;
  index.reserve(by_count.size());
  size_t dictionary_bytes = VarintSize(by_count.size()) + 8 * by_count.size();
  for (size_t i = 0; i < by_count.size(); ++i) {
    index[by_count[i].second] = i;
    dictionary_bytes += VarintSize(i) * by_count[i].first;
  }
  if (dictionary_bytes >= 8 * keys.size()) {
    out->push_back(static_cast<char>(kRawKeys));
    for (uint64_t k : keys) PutU64(k, out);
    return;
  }
  out->push_back(static_cast<char>(kDictionary));
  PutVarint(by_count.size(), out);
  for (const auto& entry : by_count) PutU64(entry.second, out);
  for (uint64_t k : keys) PutVarint(index[k], out);
}

void PutBitmap(const std::vector<float>& labels, size_t begin, size_t end, std::string* out) {
  std::string bits((end - begin + 7) / 8, '\0');
  for (size_t s = begin; s < end; ++s) {
    CHECK(labels[s] == 0.0f || labels[s] == 1.0f) << "sample " << s << " has label " << labels[s];
    if (labels[s] == 1.0f) bits[(s - begin) / 8] |= static_cast<char>(1 << ((s - begin) % 8));
  }
  out->append(bits);
}

bool GetBitmap(ByteReader* in, size_t n, std::vector<float>* labels) {
  const char* bits = in->Take((n + 7) / 8);
  if (bits == nullptr) return false;
  for (size_t i = 0; i < n; ++i) labels->push_back(((bits[i / 8] >> (i % 8)) & 1) ? 1.0f : 0.0f);
  return true;
}

// One field's keys of a block, and where each sample's start.
struct FieldColumn {
  bool single = true;            // one key per sample: keys[s] is sample s's
  std::vector<uint64_t> keys;
  std::vector<uint64_t> starts;  // !single: num_samples + 1
};

Status Corrupt(const std::string& what) { return DataLossError("bad block: " + what); }

Status DecodeField(ByteReader* in, size_t num_samples, FieldColumn* column) {
  uint8_t layout = 0, coding = 0;
  if (!in->U8(&layout) || layout > kCounted) return Corrupt("bad field layout");
  column->single = layout == kSingleValued;
  uint64_t total = num_samples;
  if (!column->single) {
    column->starts.assign(1, 0);
    for (size_t s = 0; s < num_samples; ++s) {
      uint64_t n = 0;
      if (!in->Varint(&n) || n > in->remaining()) return Corrupt("bad key count");
      column->starts.push_back(column->starts.back() + n);
    }
    total = column->starts.back();
  }
  if (!in->U8(&coding) || coding > kDictionary) return Corrupt("bad key coding");
  // Every key takes at least one byte, so a count past the bytes left is
  // refused before anything is allocated for it.
  if (total > in->remaining()) return Corrupt("key count past the end of the block");
  if (coding == kRawKeys) {
    const char* raw = in->Take(total * 8);
    if (raw == nullptr) return Corrupt("keys past the end of the block");
    column->keys.resize(total);
    // No key at all (a multi-valued field empty in every sample of the
    // block): an empty vector's data() may be null, which memcpy must not get.
    if (total > 0) std::memcpy(column->keys.data(), raw, total * 8);
    return Status::Ok();
  }
  uint64_t size = 0;
  if (!in->Varint(&size) || size > total) return Corrupt("bad dictionary size");
  const char* entries = in->Take(size * 8);
  if (entries == nullptr) return Corrupt("dictionary past the end");
  std::vector<uint64_t> dictionary(size);
  if (size > 0) std::memcpy(dictionary.data(), entries, size * 8);
  column->keys.resize(total);
  for (uint64_t i = 0; i < total; ++i) {
    uint64_t at = 0;
    if (!in->Varint(&at) || at >= size) return Corrupt("bad dictionary index");
    column->keys[i] = dictionary[at];
  }
  return Status::Ok();
}

}  // namespace

uint64_t MaxShardBlockBytes(uint64_t num_samples, uint64_t num_fields, uint64_t num_keys) {
  constexpr uint64_t kVarint = 10;  // the longest varint of a u64
  // Per field: layout and coding bytes, the dictionary size, a count per
  // sample. Per key: at most a dictionary entry and an index (18 bytes),
  // more than a raw key (8). Then two bitmaps, the domain runs (count, and
  // a domain and a length per run, at most one run a sample), a timestamp
  // per sample.
  uint64_t per_field = 0, fields = 0, keys = 0, per_sample = 0, total = 0;
  const bool overflow =
      __builtin_mul_overflow(kVarint, num_samples, &per_field) ||
      __builtin_add_overflow(per_field, 2 + kVarint, &per_field) ||
      __builtin_mul_overflow(per_field, num_fields, &fields) ||
      __builtin_mul_overflow(num_keys, 8 + kVarint, &keys) ||
      __builtin_mul_overflow(num_samples, 3 * kVarint, &per_sample) ||
      __builtin_add_overflow(fields, keys, &total) ||
      __builtin_add_overflow(total, per_sample, &total) ||
      __builtin_add_overflow(total, 2 * (num_samples / 8 + 1) + kVarint, &total);
  return overflow ? ~uint64_t{0} : total;
}

void EncodeShardBlock(const Dataset& data, size_t begin, size_t end, std::string* out) {
  CHECK_LE(begin, end);
  CHECK_LE(end, data.size());
  for (int f = 0; f < data.num_fields(); ++f) EncodeField(data, begin, end, f, out);
  PutBitmap(data.click, begin, end, out);
  if (data.has_conversion()) PutBitmap(data.conversion, begin, end, out);
  std::vector<std::pair<int32_t, uint64_t>> runs;
  for (size_t s = begin; s < end; ++s) {
    if (runs.empty() || runs.back().first != data.domain[s]) runs.push_back({data.domain[s], 0});
    ++runs.back().second;
  }
  PutVarint(runs.size(), out);
  for (const auto& [domain, length] : runs) {
    PutVarint(static_cast<uint64_t>(domain), out);
    PutVarint(length, out);
  }
  int64_t previous = 0;
  for (size_t s = begin; s < end; ++s) {
    PutVarint(ZigZag(data.timestamp[s] - previous), out);
    previous = data.timestamp[s];
  }
}

Status DecodeShardBlock(const char* p, size_t size, size_t num_samples, bool with_conversion,
                        Dataset* out) {
  // Every sample takes at least its timestamp's byte.
  if (num_samples > size) return Corrupt("more samples than bytes");
  ByteReader in(p, size);
  const size_t num_fields = out->fields.size();
  std::vector<FieldColumn> columns(num_fields);
  for (size_t f = 0; f < num_fields; ++f) {
    IAK_RETURN_IF_ERROR(DecodeField(&in, num_samples, &columns[f]));
  }
  if (!GetBitmap(&in, num_samples, &out->click)) return Corrupt("click labels past the end");
  if (with_conversion && !GetBitmap(&in, num_samples, &out->conversion)) {
    return Corrupt("conversion labels past the end");
  }
  uint64_t runs = 0, covered = 0;
  if (!in.Varint(&runs) || runs > num_samples) return Corrupt("bad domain runs");
  for (uint64_t r = 0; r < runs; ++r) {
    uint64_t domain = 0, length = 0;
    if (!in.Varint(&domain) || domain >= out->domain_names.size() || !in.Varint(&length) ||
        length > num_samples - covered) {
      return Corrupt("bad domain run");
    }
    out->domain.insert(out->domain.end(), length, static_cast<int32_t>(domain));
    covered += length;
  }
  if (covered != num_samples) return Corrupt("domain runs do not cover the block");
  int64_t previous = 0;
  for (size_t s = 0; s < num_samples; ++s) {
    uint64_t delta = 0;
    if (!in.Varint(&delta)) return Corrupt("timestamps past the end");
    previous += UnZigZag(delta);
    out->timestamp.push_back(previous);
  }
  if (!in.done()) return Corrupt("bytes after the last section");
  // Sample-major CSR, as a Dataset holds it, written in place.
  size_t total = 0;
  for (const FieldColumn& c : columns) total += c.keys.size();
  size_t at = out->keys.size();
  out->keys.resize(at + total);
  const size_t first_offset = out->offsets.size();
  out->offsets.resize(first_offset + num_samples * num_fields);
  uint64_t* keys = out->keys.data();
  uint64_t* offsets = out->offsets.data() + first_offset;
  for (size_t s = 0; s < num_samples; ++s) {
    for (const FieldColumn& c : columns) {
      if (c.single) {
        keys[at++] = c.keys[s];
      } else {
        const uint64_t n = c.starts[s + 1] - c.starts[s];
        if (n > 0) std::memcpy(keys + at, c.keys.data() + c.starts[s], n * sizeof(uint64_t));
        at += n;
      }
      *offsets++ = at;
    }
  }
  return Status::Ok();
}

}  // namespace iak::data
