// The Catch2 main for the sync tests (protocol codec, commit diff, session logic).
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
