// vswitchd-docs: writes the reference pages that are generated from the
// tables (docs/options.md from the option table). Run it after changing a
// table: `build/switchd/vswitchd-docs docs`; tests/switchd/docs_test.cpp
// fails while a page and its table disagree.
#include <fstream>
#include <iostream>
#include <string>

#include "switchd/option_table.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: vswitchd-docs DIR   (writes DIR/options.md)\n";
    return 2;
  }
  const std::string path = std::string(argv[1]) + "/options.md";
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << switchd::options_markdown();
  if (!out.flush()) {
    std::cerr << "vswitchd-docs: cannot write " << path << "\n";
    return 1;
  }
  std::cout << "wrote " << path << "\n";
  return 0;
}
