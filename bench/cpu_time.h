// CPU time of this process and of child processes (a PS the bench started),
// for figures that hold on a shared machine: CPU time per unit of work does
// not depend on how many other tenants compete for the cores, wall time does.
#ifndef IAK_BENCH_CPU_TIME_H_
#define IAK_BENCH_CPU_TIME_H_

#include <sys/types.h>

namespace iak::bench {

// CPU seconds this process has used (all threads).
double ProcessCpuSeconds();

// CPU seconds the calling thread has used.
double ThreadCpuSeconds();

// CPU seconds (user + system) process `pid` has used, from /proc, in clock
// ticks (10 ms); 0 if unknown.
double ChildCpuSeconds(pid_t pid);

}  // namespace iak::bench

#endif  // IAK_BENCH_CPU_TIME_H_
