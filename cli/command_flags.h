// Which flags belong to which `iak` command. gflags registers every flag of
// the binary in one global table, so without this list every command would
// silently accept every other command's flags (`iak eval --compare_epochs=3`
// exited 0) and `--help` could only guess a command's flags from the file
// that defines them. Here each command names the flags it reads; main.cc
// refuses any other flag before parsing, and `--help` prints exactly these.
//
// Adding a flag to a command: define it (DEFINE_* in the command's file, or
// reuse one defined elsewhere) and add its name to the command's list in
// command_flags.cc; tests/cli/command_flags_test.cc fails for a flag defined
// under cli/ or bench/ that no command lists.
//
// Thread-safety: immutable tables and pure functions.
#ifndef IAK_CLI_COMMAND_FLAGS_H_
#define IAK_CLI_COMMAND_FLAGS_H_

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace iak::cli {

// The flags `command` reads, in the order its help lists them; null for an
// unknown command.
const std::vector<std::string>* FlagsOfCommand(std::string_view command);

// Every command with a flag list.
std::vector<std::string> CommandsWithFlags();

// glog's flags (--v, --logtostderr, ...), accepted by every command.
bool IsLoggingFlag(std::string_view name);

// The flag names given in args[0..n) ("--name", "--name=value", "-name",
// "--noname" for a boolean `name` when `is_bool(name)`), up to a bare "--".
// A non-boolean flag without "=" takes the next argument as its value.
std::vector<std::string> FlagNamesInArgs(int n, char** args,
                                         bool (*is_bool)(const std::string& name));

// Ok when every flag in args[0..n) is `command`'s or a logging flag.
// Otherwise InvalidArgument naming the first foreign flag, the commands it
// belongs to, and `iak <command> --help`.
[[nodiscard]] Status CheckFlagsBelongTo(std::string_view command, int n, char** args,
                                        bool (*is_bool)(const std::string& name));

}  // namespace iak::cli

#endif  // IAK_CLI_COMMAND_FLAGS_H_
