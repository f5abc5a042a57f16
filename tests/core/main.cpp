// The single Catch2 main for the core test binary; test files are tagged by module.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
