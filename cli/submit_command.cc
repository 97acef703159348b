// `iak submit`, `iak status`, `iak cancel`, `iak logs`: run a job from its
// spec under a launcher, and look after it while it runs.
#include <gflags/gflags.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "cli/common_flags.h"
#include "cli/stop_signal.h"
#include "cluster/child_process.h"
#include "cluster/job_lock.h"
#include "cluster/job_state.h"
#include "cluster/kubernetes_manifests.h"
#include "cluster/local_launcher.h"
#include "cluster/run_report.h"
#include "cluster/slurm_launcher.h"
#include "common/file_util.h"
#include "job/job_spec.h"
#include "worker/model_factory.h"

DEFINE_string(launcher, "",
              "local | mpirun | slurm | kubernetes (default: the spec's launcher.kind, else local)");
DEFINE_string(hostfile, "", "mpirun launcher: Open MPI hostfile the workers spread over");
DEFINE_string(advertise_host, "",
              "address other hosts reach this one at (default: the spec's, else 127.0.0.1)");
DEFINE_bool(detach, false, "local/mpirun: return at once and supervise the job in the background");
DEFINE_bool(wait, true, "slurm: wait for the Slurm job to end and report its outcome");
DEFINE_int64(timeout_s, 24 * 3600, "stop the job if it runs longer than this");
DEFINE_string(node, "", "logs: one node's log (scheduler, ps-0, workers, ...); default all");
DEFINE_int32(lines, 20, "logs: how many last lines of each log");
DEFINE_bool(resume, false,
            "submit/worker: continue the job from the latest intact checkpoint in "
            "checkpoint.directory (default <output_dir>/checkpoints); none = from the start");
DEFINE_bool(supervise, false, "internal: run as the detached supervisor of a submitted job");
DECLARE_int32(progress_every);  // cli/worker_command.cc

namespace iak::cli {
namespace {

// Where the job's method writes its models: adapters or dense models.
std::string ResultsDir(const proto::JobSpec& spec) {
  const bool adapters = spec.method().empty() || spec.method() == "iak" || spec.method() == "plain";
  return spec.output_dir() + (adapters ? "/adapters" : "/models");
}

// The job spec named by the first argument or --job.
StatusOr<std::string> SpecPathFromArgs(int argc, char** argv) {
  if (argc >= 2) return std::string(argv[1]);
  if (!FLAGS_job.empty()) return FLAGS_job;
  return InvalidArgumentError("name the job spec: iak submit path/to/job.pbtxt");
}

// A job's output_dir from an argument that is either that directory or its spec.
StatusOr<std::string> OutputDirFromArgs(int argc, char** argv, const char* command) {
  std::string target = argc >= 2 ? argv[1] : FLAGS_job;
  if (target.empty()) {
    return InvalidArgumentError(std::string("name the job: iak ") + command +
                                " <output_dir or job.pbtxt>");
  }
  if (std::filesystem::is_directory(target)) return target;
  IAK_ASSIGN_OR_RETURN(proto::JobSpec spec, job::LoadJobSpec(target));
  return spec.output_dir();
}

// The job a command names (OutputDirFromArgs) with its state file.
struct NamedJob {
  std::string dir;
  proto::JobState state;
};

StatusOr<NamedJob> ReadNamedJob(int argc, char** argv, const char* command) {
  NamedJob job;
  IAK_ASSIGN_OR_RETURN(job.dir, OutputDirFromArgs(argc, argv, command));
  IAK_ASSIGN_OR_RETURN(job.state, cluster::ReadJobState(job.dir));
  return job;
}

std::string Absolute(const std::string& path) {
  return path.empty() ? path : std::filesystem::absolute(path).lexically_normal().string();
}

void UpdateState(const std::string& dir, proto::JobState state, const std::string& value,
                 const Status& outcome) {
  state.set_state(value);
  if (value != "RUNNING") state.set_finished_at(cluster::NowSeconds());
  if (!outcome.ok()) state.set_message(outcome.ToString());
  Status written = cluster::WriteJobState(dir, state);
  if (!written.ok()) LOG(WARNING) << written;
}

const char* FinalState(const Status& outcome) {
  if (outcome.ok()) return "SUCCEEDED";
  return outcome.code() == StatusCode::kCancelled ? "CANCELLED" : "FAILED";
}

// Runs a local/mpirun job in this process, recording its state.
int SuperviseLocal(const proto::JobSpec& spec, proto::JobState state, bool progress) {
  const std::atomic<bool>& stop = InstallStopSignalHandlers();
  state.set_supervisor_pid(static_cast<int>(::getpid()));
  UpdateState(spec.output_dir(), state, "RUNNING", Status::Ok());
  cluster::LocalLaunchOptions options;
  options.iak_binary = spec.launcher().iak_binary();
  options.job_spec_path = state.job_spec_path();
  options.run_dir = state.log_dir();
  options.job_timeout = Duration(FLAGS_timeout_s * 1000);
  options.echo_progress = progress;
  options.hostfile = spec.launcher().hostfile();
  if (!spec.launcher().advertise_host().empty()) {
    options.advertise_host = spec.launcher().advertise_host();
  }
  // launcher.max_restarts: 0 = the default, 2; negative = never.
  const int max_restarts = spec.launcher().max_restarts();
  options.max_restarts = max_restarts == 0 ? 2 : std::max(0, max_restarts);
  // `iak submit --progress_every=N` passes it on to the workers.
  if (!gflags::GetCommandLineFlagInfoOrDie("progress_every").is_default) {
    options.worker_args.push_back("--progress_every=" + std::to_string(FLAGS_progress_every));
  }
  // The job state follows the group: where the scheduler is, and restarts.
  options.on_event = [&spec, &state](const cluster::LaunchEvent& event) {
    if (event.kind == cluster::LaunchEvent::Kind::kStarted) {
      state.set_scheduler_address(event.scheduler_address);
      state.set_scheduler_pid(event.scheduler_pid);
    } else {
      state.set_restarts(event.restarts);
      state.set_restart_reason(event.reason);
      state.set_restart_detected_at_ms(event.detected_at_ms);
      state.clear_scheduler_address();
      state.clear_scheduler_pid();
    }
    UpdateState(spec.output_dir(), state, "RUNNING", Status::Ok());
  };
  Status outcome = cluster::RunLocalJob(spec, options, stop);
  state.clear_scheduler_address();
  state.clear_scheduler_pid();
  UpdateState(spec.output_dir(), state, FinalState(outcome), outcome);
  if (!outcome.ok()) return ReportError("submit", outcome);
  std::cerr << "job " << spec.name() << " succeeded; results in " << ResultsDir(spec) << "\n";
  return 0;
}

// Resolves the launcher (flags over the spec) and every path, so each node
// reads the same spec.
Status ResolveLauncher(proto::JobSpec* spec) {
  proto::LauncherSpec* launcher = spec->mutable_launcher();
  if (!FLAGS_launcher.empty()) launcher->set_kind(FLAGS_launcher);
  if (launcher->kind().empty()) launcher->set_kind("local");
  const std::string kind = launcher->kind();
  if (kind != "local" && kind != "mpirun" && kind != "slurm" && kind != "kubernetes") {
    return InvalidArgumentError("unknown launcher '" + kind +
                                "'; use local, mpirun, slurm or kubernetes");
  }
  if (!FLAGS_hostfile.empty()) launcher->set_hostfile(FLAGS_hostfile);
  if (!FLAGS_advertise_host.empty()) launcher->set_advertise_host(FLAGS_advertise_host);
  if (kind == "mpirun" && launcher->hostfile().empty()) {
    return InvalidArgumentError("the mpirun launcher needs a hostfile: --hostfile or "
                                "launcher { hostfile: ... } in the spec");
  }
  if (launcher->iak_binary().empty()) launcher->set_iak_binary(cluster::SelfExecutablePath());
  if (kind != "kubernetes") {
    spec->set_model_dir(Absolute(spec->model_dir()));
    spec->set_output_dir(Absolute(spec->output_dir()));
    spec->mutable_data()->set_movielens_dir(Absolute(spec->data().movielens_dir()));
    launcher->set_hostfile(Absolute(launcher->hostfile()));
    spec->mutable_security()->set_curve_key_file(Absolute(spec->security().curve_key_file()));
    spec->mutable_checkpoint()->set_directory(Absolute(spec->checkpoint().directory()));
  }
  // The workers read it from the resolved spec.
  if (FLAGS_resume) spec->mutable_checkpoint()->set_resume(true);
  return Status::Ok();
}

// One supervisor per job directory, and no silent restart from step 0 next
// to an earlier run's checkpoints: both checked before anything is written
// (state, spec, logs). A Kubernetes output_dir is inside the pods: no lock.
StatusOr<std::unique_ptr<cluster::JobLock>> LockOutputDir(const proto::JobSpec& spec) {
  std::unique_ptr<cluster::JobLock> job_lock;
  if (spec.launcher().kind() != "kubernetes") {
    IAK_RETURN_IF_ERROR(CreateDirectories(spec.output_dir()));
    IAK_ASSIGN_OR_RETURN(job_lock,
                         cluster::JobLock::Acquire(spec.output_dir(), Deadline::After(Duration(0))));
    const std::string checkpoint_dir = spec.checkpoint().directory().empty()
                                           ? spec.output_dir() + "/checkpoints"
                                           : spec.checkpoint().directory();
    IAK_RETURN_IF_ERROR(cluster::CheckFreshStart(checkpoint_dir, spec.checkpoint().resume()));
  }
  IAK_RETURN_IF_ERROR(CreateDirectories(spec.output_dir() + "/logs"));
  return job_lock;
}

int SubmitToKubernetes(const proto::JobSpec& spec, const proto::JobState& state) {
  std::string spec_text;
  Status read = ReadFileToString(state.job_spec_path(), &spec_text);
  if (!read.ok()) return ReportError("submit", read);
  const std::string manifests = spec.output_dir() + "/kubernetes.yaml";
  Status written =
      WriteFileAtomically(manifests, cluster::RenderKubernetesManifests(spec, spec_text));
  if (!written.ok()) return ReportError("submit", written);
  UpdateState(spec.output_dir(), state, "SUBMITTED", Status::Ok());
  std::cout << "wrote " << manifests << "\nstart it with:  kubectl apply -f " << manifests
            << "\n(needs the Kubeflow MPI operator for the workers' MPIJob)\n";
  return 0;
}

int SubmitSlurm(const proto::JobSpec& spec, proto::JobState state) {
  cluster::SlurmJobPaths paths{state.job_spec_path(), spec.launcher().iak_binary(),
                               state.log_dir()};
  StatusOr<std::string> job_id = cluster::SubmitToSlurm(spec, paths);
  if (!job_id.ok()) return ReportError("submit", job_id.status());
  state.set_slurm_job_id(*job_id);
  UpdateState(spec.output_dir(), state, "RUNNING", Status::Ok());
  std::cerr << "submitted Slurm job " << *job_id << "; logs in " << state.log_dir() << "\n";
  if (!FLAGS_wait) return 0;
  const std::atomic<bool>& stop = InstallStopSignalHandlers();
  Status outcome = cluster::WaitForSlurmJob(
      *job_id, paths, Deadline::After(Duration(FLAGS_timeout_s * 1000)), stop);
  UpdateState(spec.output_dir(), state, FinalState(outcome), outcome);
  if (!outcome.ok()) return ReportError("submit", outcome);
  std::cerr << "Slurm job " << *job_id << " succeeded; results in " << ResultsDir(spec) << "\n";
  return 0;
}

// local / mpirun: supervised here, or (--detach) by a supervisor process
// that outlives this command.
int SubmitLocal(const proto::JobSpec& spec, const proto::JobState& state) {
  UpdateState(spec.output_dir(), state, "SUBMITTED", Status::Ok());
  if (!FLAGS_detach) return SuperviseLocal(spec, state, /*progress=*/true);
  std::vector<std::string> supervisor_argv = {spec.launcher().iak_binary(), "submit",
                                              state.job_spec_path(), "--supervise",
                                              "--timeout_s=" + std::to_string(FLAGS_timeout_s)};
  if (!gflags::GetCommandLineFlagInfoOrDie("progress_every").is_default) {
    supervisor_argv.push_back("--progress_every=" + std::to_string(FLAGS_progress_every));
  }
  StatusOr<std::unique_ptr<cluster::ChildProcess>> supervisor = cluster::ChildProcess::Start(
      "supervisor", supervisor_argv, state.log_dir() + "/supervisor.log");
  if (!supervisor.ok()) return ReportError("submit", supervisor.status());
  // The supervisor outlives this command on purpose: it owns the job now.
  (*supervisor)->Detach();
  std::cout << "submitted job " << spec.name() << " (supervisor pid " << (*supervisor)->pid()
            << ")\n  iak status " << spec.output_dir() << "\n  iak logs " << spec.output_dir()
            << "\n  iak cancel " << spec.output_dir() << "\n";
  return 0;
}

}  // namespace

int RunSubmit(int argc, char** argv) {
  StatusOr<std::string> spec_path = SpecPathFromArgs(argc, argv);
  if (!spec_path.ok()) return ReportError("submit", spec_path.status());
  StatusOr<proto::JobSpec> loaded = job::LoadJobSpec(*spec_path);
  if (!loaded.ok()) return ReportError("submit", loaded.status());
  Status precision = worker::CheckFrozenPrecision(*loaded);
  if (!precision.ok()) return ReportError("submit", precision.WithContext(*spec_path));
  proto::JobSpec spec = *loaded;

  if (FLAGS_supervise) {
    // The submitting process holds the job lock until it has started this
    // supervisor and exited; a bounded wait bridges that handover.
    StatusOr<std::unique_ptr<cluster::JobLock>> lock =
        cluster::JobLock::Acquire(spec.output_dir(), Deadline::After(Duration(30000)));
    if (!lock.ok()) return ReportError("submit", lock.status());
    StatusOr<proto::JobState> state = cluster::ReadJobState(spec.output_dir());
    if (!state.ok()) return ReportError("submit", state.status());
    return SuperviseLocal(spec, *state, /*progress=*/false);
  }

  Status resolved = ResolveLauncher(&spec);
  if (!resolved.ok()) return ReportError("submit", resolved);
  StatusOr<std::unique_ptr<cluster::JobLock>> job_lock = LockOutputDir(spec);
  if (!job_lock.ok()) return ReportError("submit", job_lock.status());
  const std::string resolved_spec = spec.output_dir() + "/job.pbtxt";
  Status saved = job::SaveJobSpec(spec, resolved_spec);
  if (!saved.ok()) return ReportError("submit", saved);

  proto::JobState state;
  state.set_job_name(spec.name());
  state.set_launcher(spec.launcher().kind());
  state.set_job_spec_path(resolved_spec);
  state.set_log_dir(spec.output_dir() + "/logs");
  state.set_submitted_at(cluster::NowSeconds());
  char host[256] = {0};
  ::gethostname(host, sizeof(host) - 1);
  state.set_host(host);

  if (spec.launcher().kind() == "kubernetes") return SubmitToKubernetes(spec, state);
  if (spec.launcher().kind() == "slurm") return SubmitSlurm(spec, state);
  return SubmitLocal(spec, state);
}

int RunStatus(int argc, char** argv) {
  StatusOr<NamedJob> job = ReadNamedJob(argc, argv, "status");
  if (!job.ok()) return ReportError("status", job.status());
  const proto::JobState& state = job->state;
  std::string value = state.state();
  // A supervisor or Slurm job that vanished without recording an outcome died.
  if (value == "RUNNING" && state.supervisor_pid() > 0 &&
      ::kill(state.supervisor_pid(), 0) != 0) {
    value = "FAILED (its supervisor, pid " + std::to_string(state.supervisor_pid()) +
            ", is gone)";
  }
  if (value == "RUNNING" && !state.slurm_job_id().empty()) {
    StatusOr<bool> active = cluster::SlurmJobActive(state.slurm_job_id());
    if (active.ok() && !*active) value = "ENDED (run `iak submit --wait` or see the logs)";
  }
  std::cout << "job:       " << state.job_name() << "\nlauncher:  " << state.launcher()
            << (state.slurm_job_id().empty() ? "" : " (Slurm job " + state.slurm_job_id() + ")")
            << "\nstate:     " << value << "\nlogs:      " << state.log_dir() << "\n";
  if (state.restarts() > 0) {
    std::cout << "restarts:  " << state.restarts() << " (last: " << state.restart_reason()
              << ")\n";
  }
  if (!state.scheduler_address().empty()) {
    std::cout << "scheduler: " << state.scheduler_address() << "\n";
  }
  if (!state.message().empty()) std::cout << "error:     " << state.message() << "\n";
  // The latest progress line of the workers.
  std::ifstream workers(state.log_dir() + "/workers.log");
  std::string line;
  std::string last;
  while (std::getline(workers, line)) {
    if (line.find("progress: ") != std::string::npos) last = line.substr(line.find("progress: ") + 10);
  }
  if (!last.empty()) std::cout << "progress:  " << last << "\n";
  return 0;
}

int RunCancel(int argc, char** argv) {
  StatusOr<NamedJob> job = ReadNamedJob(argc, argv, "cancel");
  if (!job.ok()) return ReportError("cancel", job.status());
  const std::string& dir = job->dir;
  const proto::JobState& state = job->state;
  if (state.state() != "RUNNING" && state.state() != "SUBMITTED") {
    // The lock's holder is the live supervisor, whatever the state file says.
    const int holder = cluster::JobLockHolder(dir);
    if (holder > 0) {
      if (::kill(holder, SIGTERM) != 0) {
        return ReportError("cancel", UnavailableError("supervisor pid " + std::to_string(holder) +
                                                      " holds the job lock but cannot be "
                                                      "signalled: " + std::strerror(errno)));
      }
      std::cout << "cancelling job " << state.job_name() << " (supervisor pid " << holder
                << ", state file says " << state.state() << ")\n";
      return 0;
    }
    std::cout << "job " << state.job_name() << " is not running (" << state.state() << ")\n";
    return 0;
  }
  if (!state.slurm_job_id().empty()) {
    Status cancelled = cluster::CancelSlurmJob(state.slurm_job_id());
    if (!cancelled.ok()) return ReportError("cancel", cancelled);
  } else if (state.launcher() == "kubernetes") {
    std::cout << "kubectl delete -f " << dir << "/kubernetes.yaml\n";
    return 0;
  } else if (state.supervisor_pid() > 0) {
    // The supervisor stops every process of the job and records CANCELLED.
    if (::kill(state.supervisor_pid(), SIGTERM) != 0) {
      return ReportError("cancel", UnavailableError("supervisor pid " +
                                                    std::to_string(state.supervisor_pid()) +
                                                    " is gone; the job is not running"));
    }
  }
  std::cout << "cancelling job " << state.job_name() << "\n";
  return 0;
}

int RunReport(int argc, char** argv) {
  StatusOr<std::string> dir = OutputDirFromArgs(argc, argv, "report");
  if (!dir.ok()) return ReportError("report", dir.status());
  Status written = cluster::WriteRunReport(*dir);
  if (!written.ok()) return ReportError("report", written);
  std::cout << "wrote " << *dir << "/report/report.md with its plots\n";
  return 0;
}

int RunLogs(int argc, char** argv) {
  StatusOr<NamedJob> job = ReadNamedJob(argc, argv, "logs");
  if (!job.ok()) return ReportError("logs", job.status());
  const proto::JobState& state = job->state;
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(state.log_dir())) {
    const std::string name = entry.path().filename().string();
    const bool log = entry.path().extension() == ".log" || entry.path().extension() == ".out";
    if (!log) continue;
    if (!FLAGS_node.empty() && entry.path().stem().string() != FLAGS_node) continue;
    files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    return ReportError("logs", NotFoundError("no log" +
                                             (FLAGS_node.empty() ? "" : " of node " + FLAGS_node) +
                                             " in " + state.log_dir()));
  }
  for (const std::string& path : files) {
    std::ifstream in(path);
    std::vector<std::string> lines;
    std::string line;
    while (std::getline(in, line)) lines.push_back(line);
    std::cout << "==> " << path << " <==\n";
    const size_t from = lines.size() > static_cast<size_t>(FLAGS_lines)
                            ? lines.size() - static_cast<size_t>(FLAGS_lines)
                            : 0;
    for (size_t i = from; i < lines.size(); ++i) std::cout << lines[i] << "\n";
  }
  return 0;
}

}  // namespace iak::cli
