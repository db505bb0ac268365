#include "host/app/cli.hpp"

int main(int argc, char** argv) { return cgihost::host::main_cli(argc, argv); }
