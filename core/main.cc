// Placeholder entry point; replaced by the CLI in core/cli.
int main() { return 0; }
