#include "core/cli/cli.h"

int main(int argc, char** argv) { return nucleus::cli::main(argc, argv); }
