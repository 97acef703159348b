#include "worker/domain_file_name.h"

#include <algorithm>
#include <filesystem>

namespace iak::worker {
namespace {

bool KeptAsIs(char c) {
  const unsigned char byte = static_cast<unsigned char>(c);
  return byte >= 0x20 && byte != 0x7f && c != '/' && c != '%';
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

std::string DomainFileStem(const std::string& domain) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string stem;
  stem.reserve(domain.size());
  for (size_t i = 0; i < domain.size(); ++i) {
    const char c = domain[i];
    if (KeptAsIs(c) && !(i == 0 && c == '.')) {
      stem += c;
      continue;
    }
    const unsigned char byte = static_cast<unsigned char>(c);
    stem += '%';
    stem += kHex[byte >> 4];
    stem += kHex[byte & 15];
  }
  return stem;
}

std::string DomainOfFileStem(const std::string& stem) {
  std::string domain;
  domain.reserve(stem.size());
  for (size_t i = 0; i < stem.size(); ++i) {
    if (stem[i] == '%' && i + 2 < stem.size()) {
      const int high = HexValue(stem[i + 1]);
      const int low = HexValue(stem[i + 2]);
      if (high >= 0 && low >= 0) {
        domain += static_cast<char>(high * 16 + low);
        i += 2;
        continue;
      }
    }
    domain += stem[i];
  }
  return domain;
}

std::vector<std::string> DomainsWithFiles(const std::string& dir, const std::string& extension) {
  std::vector<std::string> domains;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().extension() == extension) {
      domains.push_back(DomainOfFileStem(entry.path().stem().string()));
    }
  }
  std::sort(domains.begin(), domains.end());
  return domains;
}

}  // namespace iak::worker
