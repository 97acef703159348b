#include "worker/adapter_store.h"

#include <system_error>

#include "common/file_util.h"
#include "model/finite_check.h"
#include "worker/domain_file_name.h"

namespace iak::worker {

std::string AdapterPath(const std::string& dir, const std::string& domain) {
  return dir + "/" + DomainFileStem(domain) + ".iak";
}

Status SaveAdapter(const std::string& dir, const std::string& domain,
                   const model::IakModule& adapter) {
  // A diverged run (NaN or infinite parameters) fails here, naming the
  // domain, instead of leaving adapters that score every request NaN.
  return WriteDomainResult(dir, AdapterPath(dir, domain), adapter.params(),
                           "adapter of domain " + domain, adapter.Serialize());
}

Status WriteDomainResult(const std::string& dir, const std::string& path,
                         const std::vector<float>& values, const std::string& what,
                         const std::string& blob) {
  IAK_RETURN_IF_ERROR(model::CheckFinite(values.data(), values.size(),
                                         what + " (not written to " + path + ")"));
  IAK_RETURN_IF_ERROR(CreateDirectories(dir));
  return WriteFileAtomically(path, blob);
}

StatusOr<std::string> ReadDomainResult(const std::string& path, const std::string& what,
                                       const std::string& domain) {
  std::string bytes;
  Status read = ReadFileToString(path, &bytes);
  if (!read.ok()) {
    return NotFoundError("no " + what + " for domain " + domain + " at " + path +
                         " (did the fine-tuning job finish?): " + read.message());
  }
  return bytes;
}

StatusOr<model::IakModule> LoadAdapter(const std::string& dir, const std::string& domain) {
  const std::string path = AdapterPath(dir, domain);
  IAK_ASSIGN_OR_RETURN(std::string bytes, ReadDomainResult(path, "adapter", domain));
  StatusOr<model::IakModule> adapter = model::IakModule::Deserialize(bytes);
  if (!adapter.ok()) return adapter.status().WithContext(path);
  return adapter;
}

}  // namespace iak::worker
