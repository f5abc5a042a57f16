// The Catch2 main for the sync tests (protocol codec, commit diff, ClientSync).
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
