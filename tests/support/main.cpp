// GoogleTest's main, with a leak check around every test (support/leak_check.hpp).

#include <gtest/gtest.h>

#include "support/leak_check.hpp"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  cgihost::test::install_leak_checks();
  return RUN_ALL_TESTS();
}
