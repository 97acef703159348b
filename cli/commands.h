// The `iak` subcommands. Each takes the arguments after its name (argv[0] is
// the subcommand) with flags already parsed, and returns the exit code.
#ifndef IAK_CLI_COMMANDS_H_
#define IAK_CLI_COMMANDS_H_

namespace iak::cli {

int RunPretrain(int argc, char** argv);
int RunScheduler(int argc, char** argv);
int RunServer(int argc, char** argv);
int RunWorker(int argc, char** argv);
int RunEval(int argc, char** argv);
int RunDemo(int argc, char** argv);
int RunBench(int argc, char** argv);
int RunData(int argc, char** argv);
int RunSubmit(int argc, char** argv);
int RunStatus(int argc, char** argv);
int RunCancel(int argc, char** argv);
int RunLogs(int argc, char** argv);
int RunReport(int argc, char** argv);
int RunKeygen(int argc, char** argv);
int RunSnapshot(int argc, char** argv);
int RunCompare(int argc, char** argv);
int RunExport(int argc, char** argv);
int RunPredict(int argc, char** argv);
int RunDataSynth(int argc, char** argv);  // `iak data synth`
int RunScale(int argc, char** argv);      // `iak scale`

}  // namespace iak::cli

#endif  // IAK_CLI_COMMANDS_H_
