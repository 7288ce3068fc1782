// vswitchd-docs: writes the parts of the reference that are generated from
// the tables: DIR/options.md from the option table, and the command table
// inside DIR/control-protocol.md (between its "commands" markers) from the
// command table. Run it after changing a table: `build/switchd/vswitchd-docs
// docs`; tests/switchd/docs_test.cpp fails while a page and its table disagree.
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "switchd/command_table.hpp"
#include "switchd/docs.hpp"
#include "switchd/option_table.hpp"

namespace {

bool write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out.flush()) {
    std::cerr << "vswitchd-docs: cannot write " << path << "\n";
    return false;
  }
  std::cout << "wrote " << path << "\n";
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string usage =
      "usage: vswitchd-docs DIR   (writes DIR/options.md and the commands of DIR/control-protocol.md)\n";
  const std::string dir = argc == 2 ? argv[1] : "";
  if (dir == "--help" || dir == "-h") {
    std::cout << usage;
    return 0;
  }
  if (argc != 2 || dir.starts_with("-")) {
    std::cerr << usage;
    return 2;
  }
  if (!write_file(dir + "/options.md", switchd::options_markdown())) return 1;
  const std::string protocol = dir + "/control-protocol.md";
  std::ifstream in(protocol, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  const auto updated = switchd::docs::with_commands(text.str());
  if (!updated) {
    std::cerr << "vswitchd-docs: " << protocol << " lacks the commands markers ("
              << switchd::docs::commands_begin << " ... " << switchd::docs::commands_end << ")\n";
    return 1;
  }
  return write_file(protocol, *updated) ? 0 : 1;
}
