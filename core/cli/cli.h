// The command line: CLI11 builds a SandboxSpec (or a management command) from argv.
#pragma once

namespace nucleus::cli {

// Parses argv, runs the chosen command and returns the process exit status.
int main(int argc, char** argv);

}  // namespace nucleus::cli
