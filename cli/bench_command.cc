// `iak bench <name>`: runs one of the benchmarks in bench/.
#include <cstring>
#include <iostream>

#include "bench/benchmark_registry.h"
#include "cli/commands.h"

namespace iak::cli {

int RunBench(int argc, char** argv) {
  const auto& benchmarks = bench::AllBenchmarks();
  if (argc >= 2) {
    for (const bench::Benchmark& b : benchmarks) {
      if (std::strcmp(b.name, argv[1]) == 0) return b.run(argc - 1, argv + 1);
    }
    std::cerr << "iak bench: unknown benchmark '" << argv[1] << "'\n\n";
  }
  std::cerr << "Usage: iak bench <name> [--flag=value ...]   (iak help bench lists the flags)\n\n"
               "Benchmarks:\n";
  for (const bench::Benchmark& b : benchmarks) {
    std::cerr << "  " << b.name << std::string(10 - std::min<size_t>(9, std::strlen(b.name)), ' ')
              << b.summary << "\n";
  }
  return argc >= 2 ? 2 : 1;
}

}  // namespace iak::cli
