#include "cluster/local_launcher.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "cluster/child_process.h"
#include "cluster/progress.h"
#include "cluster/scale_request_file.h"

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

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// How one run of the group ended when it did not end the job: its scheduler
// was killed by a signal.
struct SchedulerDeath {
  std::string reason;
  int64_t detected_at_ms = 0;
};

// State kept across the runs of a job (restarts).
struct JobRun {
  Deadline job_deadline = Deadline::After(Duration(0));
  std::streamoff progress_offset = 0;
  std::unique_ptr<JobProgress> progress;
  int restarts = 0;
  // Elastic jobs: the worker count asked for last (`iak scale`), and the
  // scale request already acted on.
  int elastic_workers = 0;
  int64_t scale_sequence = 0;
};

StatusOr<ChildProcess*> StartWorker(const LocalLaunchOptions& options,
                                    const std::string& scheduler_address, bool resume,
                                    int index, ProcessGroup* group) {
  // The index orders the first membership epoch (a hint; the scheduler
  // assigns ranks); Gloo listens where the other workers reach this host.
  std::vector<std::string> argv = {options.iak_binary,
                                    "worker",
                                    "--job=" + options.job_spec_path,
                                    "--scheduler=" + scheduler_address,
                                    "--rank_hint=" + std::to_string(index),
                                    "--gloo_hostname=" + options.advertise_host};
  if (resume) argv.push_back("--resume");
  argv.insert(argv.end(), options.worker_args.begin(), options.worker_args.end());
  IAK_ASSIGN_OR_RETURN(std::unique_ptr<ChildProcess> worker,
                       ChildProcess::Start("worker process " + std::to_string(index), argv,
                                           options.run_dir + "/workers.log"));
  return group->emplace_back(std::move(worker)).get();
}

// The processes of one launch of the job.
struct GroupProcesses {
  ChildProcess* scheduler = nullptr;
  std::string scheduler_address;
  std::vector<ChildProcess*> servers;
  std::vector<ChildProcess*> workers;
  int replicas = 1;      // per shard
  bool elastic = false;  // workers are separate processes, not one mpirun
};

// Starts the scheduler and waits (bounded) for the address it listens at.
Status StartScheduler(const LocalLaunchOptions& options, const std::atomic<bool>& stop,
                      ProcessGroup* group, GroupProcesses* processes) {
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
  processes->scheduler = scheduler;

  // The scheduler picks a free port and writes where it listens.
  const Deadline startup = Deadline::After(options.startup_timeout);
  while (true) {
    processes->scheduler_address = ReadFile(address_file);
    if (!processes->scheduler_address.empty()) break;
    if (std::optional<int> code = scheduler->Poll()) return Failed(*scheduler, *code);
    if (stop.load()) return CancelledError("stopped before the scheduler came up");
    if (startup.Expired()) {
      return DeadlineExceededError("the scheduler did not write " + address_file + " within " +
                                   std::to_string(options.startup_timeout.count()) + " ms");
    }
    std::this_thread::sleep_for(Duration(10));
  }
  std::cerr << "scheduler listening at " << processes->scheduler_address << " (pid "
            << scheduler->pid() << ")\n";
  return Status::Ok();
}

// One server process per shard and replica.
Status StartServers(const proto::JobSpec& spec, const LocalLaunchOptions& options,
                    ProcessGroup* group, GroupProcesses* processes) {
  const int replicas = std::max(1, spec.replicas_per_shard());
  processes->replicas = replicas;
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
               "--scheduler=" + processes->scheduler_address, "--name=" + name,
               "--ps_listen=tcp://" + options.advertise_host + ":0"},
              options.run_dir + "/" + name + ".log"));
      processes->servers.push_back(group->emplace_back(std::move(ps)).get());
    }
  }
  std::cerr << processes->servers.size() << " parameter server(s) started\n";
  return Status::Ok();
}

// The workers: one process each for an elastic job, else one mpirun.
Status StartWorkers(const proto::JobSpec& spec, const LocalLaunchOptions& options, bool resume,
                    const JobRun& run, ProcessGroup* group, GroupProcesses* processes) {
  processes->elastic = spec.elastic().enabled();
  if (processes->elastic) {
    // Separate processes: one leaving or failing is the scheduler's to judge.
    for (int w = 0; w < run.elastic_workers; ++w) {
      IAK_ASSIGN_OR_RETURN(ChildProcess * worker,
                           StartWorker(options, processes->scheduler_address, resume, w, group));
      processes->workers.push_back(worker);
    }
    std::cerr << run.elastic_workers << " elastic worker process(es) started; logs in "
              << options.run_dir << "\n";
    return Status::Ok();
  }
  std::vector<std::string> mpirun = {options.mpirun, "--allow-run-as-root", "--oversubscribe",
                                     "--bind-to", "none"};
  if (!options.hostfile.empty()) {
    mpirun.insert(mpirun.end(), {"--hostfile", options.hostfile});
  }
  mpirun.insert(mpirun.end(),
                {"-np", std::to_string(spec.num_workers()), options.iak_binary, "worker",
                 "--job=" + options.job_spec_path, "--scheduler=" + processes->scheduler_address});
  if (resume) mpirun.push_back("--resume");
  mpirun.insert(mpirun.end(), options.worker_args.begin(), options.worker_args.end());
  IAK_ASSIGN_OR_RETURN(
      std::unique_ptr<ChildProcess> workers_process,
      ChildProcess::Start("workers (mpirun)", mpirun, options.run_dir + "/workers.log"));
  processes->workers.push_back(group->emplace_back(std::move(workers_process)).get());
  std::cerr << spec.num_workers() << " worker(s) started under mpirun; logs in "
            << options.run_dir << "\n";
  return Status::Ok();
}

// Polls `processes`: sets *done when all have exited cleanly; returns the
// error of one whose death ends the job. Workers of an elastic job, and
// servers of a replicated shard, may die: the scheduler judges, this says so.
Status PollMembers(const GroupProcesses& processes, std::set<std::string>* reported_dead,
                   bool* done) {
  *done = true;
  for (ChildProcess* worker : processes.workers) {
    if (std::optional<int> code = worker->Poll()) {
      if (*code != 0 && !processes.elastic) return Failed(*worker, *code);
      if (*code != 0 && reported_dead->insert(worker->name()).second) {
        std::cerr << worker->name() << " (pid " << worker->pid() << ") exited with code "
                  << *code << "; the scheduler carries on with the others\n";
      }
    } else {
      *done = false;
    }
  }
  for (ChildProcess* ps : processes.servers) {
    if (std::optional<int> code = ps->Poll()) {
      if (*code != 0 && processes.replicas == 1) return Failed(*ps, *code);
      if (*code != 0 && reported_dead->insert(ps->name()).second) {
        std::cerr << ps->name() << " exited with code " << *code
                  << "; its shard's other replicas serve on\n";
      }
    } else {
      *done = false;
    }
  }
  return Status::Ok();
}

// `iak scale` up: starts the missing worker processes of a new scale request.
Status ApplyScaleRequest(const LocalLaunchOptions& options, bool resume, JobRun* run,
                         ProcessGroup* group, GroupProcesses* processes) {
  std::optional<ScaleFileRequest> request = ReadScaleRequest(options.run_dir);
  if (!request.has_value() || request->sequence <= run->scale_sequence) return Status::Ok();
  run->scale_sequence = request->sequence;
  run->elastic_workers = request->num_workers;
  int running = 0;
  for (ChildProcess* worker : processes->workers) running += worker->Poll().has_value() ? 0 : 1;
  for (int w = running; w < request->num_workers; ++w) {
    IAK_ASSIGN_OR_RETURN(ChildProcess * worker,
                         StartWorker(options, processes->scheduler_address, resume,
                                     static_cast<int>(processes->workers.size()), group));
    processes->workers.push_back(worker);
    std::cerr << "scale request " << request->sequence << ": started " << worker->name()
              << " (pid " << worker->pid() << ") to reach " << request->num_workers
              << " worker(s)\n";
  }
  return Status::Ok();
}

// Starts the job's processes into `group` and watches them until the job
// ends (Ok or the error) or its scheduler is killed (`*death` set, Ok
// returned); RunLocalJob stops whatever is left of the group afterwards.
// `resume`: the workers continue from the latest checkpoint.
Status RunGroup(const proto::JobSpec& spec, const LocalLaunchOptions& options,
                const std::atomic<bool>& stop, bool resume, JobRun* run, ProcessGroup* group,
                std::optional<SchedulerDeath>* death) {
  GroupProcesses processes;
  IAK_RETURN_IF_ERROR(StartScheduler(options, stop, group, &processes));
  IAK_RETURN_IF_ERROR(StartServers(spec, options, group, &processes));
  IAK_RETURN_IF_ERROR(StartWorkers(spec, options, resume, *run, group, &processes));
  ChildProcess* scheduler = processes.scheduler;
  if (options.on_event) {
    LaunchEvent started;
    started.kind = LaunchEvent::Kind::kStarted;
    started.restarts = run->restarts;
    started.scheduler_address = processes.scheduler_address;
    started.scheduler_pid = static_cast<int>(scheduler->pid());
    options.on_event(started);
  }

  const std::string workers_log = options.run_dir + "/workers.log";
  std::set<std::string> reported_dead;
  bool scheduler_done = false;
  while (true) {
    if (options.echo_progress) {
      EchoProgress(workers_log, &run->progress_offset, run->progress.get());
    }
    if (stop.load()) return CancelledError("stopped by the user; the cluster was shut down");
    if (run->job_deadline.Expired()) {
      return DeadlineExceededError("the job ran past its " +
                                   std::to_string(options.job_timeout.count() / 1000) +
                                   " s limit; the cluster was shut down");
    }
    if (!scheduler_done) {
      if (std::optional<int> code = scheduler->Poll()) {
        if (std::optional<int> signal = scheduler->term_signal()) {
          // Killed, not a verdict on the job: the caller may restart it.
          SchedulerDeath dead;
          dead.detected_at_ms = NowMs();
          dead.reason = "the scheduler (pid " + std::to_string(scheduler->pid()) +
                        ") was killed by signal " + std::to_string(*signal) + " (" +
                        ::strsignal(*signal) + ") while the job ran";
          *death = dead;
          return Status::Ok();
        }
        if (*code != 0) return Failed(*scheduler, *code);
        scheduler_done = true;
      }
    }
    bool members_done = false;
    IAK_RETURN_IF_ERROR(PollMembers(processes, &reported_dead, &members_done));
    if (members_done && scheduler_done) {
      if (options.echo_progress && ::isatty(STDERR_FILENO)) std::cerr << "\n";
      break;
    }
    if (processes.elastic && !scheduler_done) {
      IAK_RETURN_IF_ERROR(ApplyScaleRequest(options, resume, run, group, &processes));
    }
    std::this_thread::sleep_for(options.tick);
  }
  return Status::Ok();
}

}  // namespace

Status RunLocalJob(const proto::JobSpec& spec, const LocalLaunchOptions& options,
                   const std::atomic<bool>& stop) {
  JobRun run;
  run.job_deadline = Deadline::After(options.job_timeout);
  std::vector<int64_t> phase_steps;
  for (const proto::PhaseCommand& phase : spec.phases()) phase_steps.push_back(phase.steps());
  run.progress = std::make_unique<JobProgress>(phase_steps);
  run.elastic_workers = spec.num_workers();
  // A scale request left from an earlier run of this output directory is old.
  if (std::optional<ScaleFileRequest> old = ReadScaleRequest(options.run_dir)) {
    run.scale_sequence = old->sequence;
  }
  bool resume = false;  // the first run resumes only if the spec says so
  while (true) {
    ProcessGroup group;
    std::optional<SchedulerDeath> death;
    Status outcome = RunGroup(spec, options, stop, resume, &run, &group, &death);
    // Whatever ended this run, no process of it outlives it; they are stopped
    // together, so a cancel takes one grace period, not one per node.
    const size_t left = std::count_if(group.begin(), group.end(), [](const auto& child) {
      return !child->Poll().has_value();
    });
    if (!outcome.ok() || !death.has_value()) {
      StopAll(group, Duration(3000));
      return outcome;
    }
    // The scheduler is gone: the others' state is thrown away (the restart
    // resumes from the checkpoint on disk, written atomically), and a
    // graceful stop would only wait for them to give up on the dead
    // scheduler. They are killed at once, with mpirun's ranks.
    KillAllTrees(group, Deadline::After(Duration(5000)));
    if (run.restarts >= options.max_restarts) {
      return UnavailableError(death->reason + "; it was restarted " +
                              std::to_string(run.restarts) + " time(s) already (" +
                              "launcher.max_restarts = " + std::to_string(options.max_restarts) +
                              "); resubmit with `iak submit --resume` to continue from the "
                              "latest checkpoint");
    }
    ++run.restarts;
    std::cerr << death->reason << "; stopped the job's " << left
              << " other process(es) and restarting the job's processes from the latest "
              << "checkpoint (restart " << run.restarts << " of " << options.max_restarts
              << ")\n";
    if (options.on_event) {
      LaunchEvent restarting;
      restarting.kind = LaunchEvent::Kind::kRestarting;
      restarting.restarts = run.restarts;
      restarting.reason = death->reason;
      restarting.detected_at_ms = death->detected_at_ms;
      options.on_event(restarting);
    }
    resume = true;
  }
}

}  // namespace iak::cluster
