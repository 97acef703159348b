#include "cluster/local_launcher.h"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <memory>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "cluster/child_process.h"
#include "cluster/progress.h"

namespace iak::cluster {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string LogTail(const std::string& path, int lines) {
  const std::string text = ReadFile(path);
  size_t pos = text.size();
  for (int i = 0; i <= lines && pos > 0; ++i) {
    pos = text.rfind('\n', pos - 1);
    if (pos == std::string::npos) {
      pos = 0;
      break;
    }
  }
  return text.substr(pos);
}

// Feeds new complete lines of `path` to `progress`, remembering the offset,
// and shows the progress: a redrawn bar on a terminal, else the lines.
void EchoProgress(const std::string& path, std::streamoff* offset, JobProgress* progress) {
  std::ifstream in(path);
  if (!in) return;
  in.seekg(*offset);
  static const bool tty = ::isatty(STDERR_FILENO) != 0;
  std::string line;
  bool moved = false;
  while (std::getline(in, line)) {
    if (in.eof()) break;  // a partial line: read it next time
    *offset += static_cast<std::streamoff>(line.size() + 1);
    if (!progress->Observe(line, std::chrono::steady_clock::now())) continue;
    moved = true;
    if (!tty) std::cerr << "  " << line.substr(line.find("progress: ") + 10) << "\n";
  }
  if (moved && tty) std::cerr << "\r  " << progress->Render(30) << std::flush;
}

Status Failed(const ChildProcess& child, int code) {
  return UnavailableError(child.name() + " exited with code " + std::to_string(code) +
                          "; last lines of " + child.log_path() + ":\n" +
                          LogTail(child.log_path(), 12));
}

using ProcessGroup = std::vector<std::unique_ptr<ChildProcess>>;

// Starts the job's processes into `group` and watches them until the job
// ends; RunLocalJob stops whatever is left of the group afterwards.
Status RunGroup(const proto::JobSpec& spec, const LocalLaunchOptions& options,
                const std::atomic<bool>& stop, ProcessGroup* group) {
  ::mkdir(options.run_dir.c_str(), 0755);
  const std::string address_file = options.run_dir + "/scheduler.address";
  std::remove(address_file.c_str());

  IAK_ASSIGN_OR_RETURN(
      std::unique_ptr<ChildProcess> scheduler_process,
      ChildProcess::Start("scheduler",
                          {options.iak_binary, "scheduler", "--job=" + options.job_spec_path,
                           "--listen=tcp://" + options.advertise_host + ":0",
                           "--address_file=" + address_file},
                          options.run_dir + "/scheduler.log"));
  ChildProcess* scheduler = group->emplace_back(std::move(scheduler_process)).get();

  // The scheduler picks a free port and writes where it listens.
  std::string scheduler_address;
  const Deadline startup = Deadline::After(options.startup_timeout);
  while (scheduler_address.empty()) {
    scheduler_address = ReadFile(address_file);
    if (!scheduler_address.empty()) break;
    if (std::optional<int> code = scheduler->Poll()) return Failed(*scheduler, *code);
    if (stop.load()) return CancelledError("stopped before the scheduler came up");
    if (startup.Expired()) {
      return DeadlineExceededError("the scheduler did not write " + address_file + " within " +
                                   std::to_string(options.startup_timeout.count()) + " ms");
    }
    std::this_thread::sleep_for(Duration(10));
  }
  std::cerr << "scheduler listening at " << scheduler_address << "\n";

  const int replicas = std::max(1, spec.replicas_per_shard());
  std::vector<ChildProcess*> servers;
  for (int shard = 0; shard < spec.num_servers(); ++shard) {
    for (int replica = 0; replica < replicas; ++replica) {
      const std::string name =
          "ps-" + std::to_string(shard) + (replicas > 1 ? "-r" + std::to_string(replica) : "");
      IAK_ASSIGN_OR_RETURN(
          std::unique_ptr<ChildProcess> ps,
          ChildProcess::Start(
              name,
              {options.iak_binary, "ps", "--job=" + options.job_spec_path,
               "--shard=" + std::to_string(shard), "--replica=" + std::to_string(replica),
               "--scheduler=" + scheduler_address, "--name=" + name,
               "--ps_listen=tcp://" + options.advertise_host + ":0"},
              options.run_dir + "/" + name + ".log"));
      servers.push_back(group->emplace_back(std::move(ps)).get());
    }
  }
  std::cerr << servers.size() << " parameter server(s) started\n";

  std::vector<std::string> mpirun = {options.mpirun, "--allow-run-as-root", "--oversubscribe",
                                     "--bind-to", "none"};
  if (!options.hostfile.empty()) {
    mpirun.insert(mpirun.end(), {"--hostfile", options.hostfile});
  }
  mpirun.insert(mpirun.end(),
                {"-np", std::to_string(spec.num_workers()), options.iak_binary, "worker",
                 "--job=" + options.job_spec_path, "--scheduler=" + scheduler_address});
  IAK_ASSIGN_OR_RETURN(
      std::unique_ptr<ChildProcess> workers_process,
      ChildProcess::Start("workers (mpirun)", mpirun, options.run_dir + "/workers.log"));
  ChildProcess* workers = group->emplace_back(std::move(workers_process)).get();
  std::cerr << spec.num_workers() << " worker(s) started under mpirun; logs in " << options.run_dir
            << "\n";

  const Deadline job_deadline = Deadline::After(options.job_timeout);
  std::streamoff progress_offset = 0;
  std::vector<int64_t> phase_steps;
  for (const proto::PhaseCommand& phase : spec.phases()) phase_steps.push_back(phase.steps());
  JobProgress progress(phase_steps);
  bool workers_done = false;
  std::set<std::string> reported_dead;
  bool scheduler_done = false;
  while (true) {
    if (options.echo_progress) EchoProgress(workers->log_path(), &progress_offset, &progress);
    if (stop.load()) return CancelledError("stopped by the user; the cluster was shut down");
    if (job_deadline.Expired()) {
      return DeadlineExceededError("the job ran past its " +
                                   std::to_string(options.job_timeout.count() / 1000) +
                                   " s limit; the cluster was shut down");
    }
    if (!workers_done) {
      if (std::optional<int> code = workers->Poll()) {
        if (*code != 0) return Failed(*workers, *code);
        workers_done = true;
      }
    }
    if (!scheduler_done) {
      if (std::optional<int> code = scheduler->Poll()) {
        if (*code != 0) return Failed(*scheduler, *code);
        scheduler_done = true;
      }
    }
    bool servers_done = true;
    for (ChildProcess* ps : servers) {
      if (std::optional<int> code = ps->Poll()) {
        // With replicas, one server's death is the scheduler's to judge: the
        // job goes on while its shard has another replica.
        if (*code != 0 && replicas == 1) return Failed(*ps, *code);
        if (*code != 0 && reported_dead.insert(ps->name()).second) {
          std::cerr << ps->name() << " exited with code " << *code
                    << "; its shard's other replicas serve on\n";
        }
      } else {
        servers_done = false;
      }
    }
    if (workers_done && scheduler_done && servers_done) {
      if (options.echo_progress && ::isatty(STDERR_FILENO)) std::cerr << "\n";
      break;
    }
    std::this_thread::sleep_for(Duration(50));
  }
  return Status::Ok();
}

}  // namespace

Status RunLocalJob(const proto::JobSpec& spec, const LocalLaunchOptions& options,
                   const std::atomic<bool>& stop) {
  ProcessGroup group;
  Status outcome = RunGroup(spec, options, stop, &group);
  // Whatever ended the job, no process of it outlives this call; they are
  // stopped together, so a cancel takes one grace period, not one per node.
  StopAll(group, Duration(3000));
  return outcome;
}

}  // namespace iak::cluster
