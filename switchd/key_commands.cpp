#include "switchd/key_commands.hpp"

#include <sodium.h>

#include <stdexcept>

#include "ports/identity.hpp"
#include "ports/sealed.hpp"
#include "switchd/secret_file.hpp"

namespace switchd {

bool is_key_command(command::action what) {
  using enum command::action;
  return what == generate_key || what == generate_identity || what == public_key;
}

int run_key_command(const command& cmd, std::ostream& out, std::ostream& err) {
  using enum command::action;
  try {
    ports::sealed::initialize();
    switch (cmd.what) {
      case generate_key:
        out << ports::sealed::format_key(ports::sealed::generate_key()) << "\n";
        return 0;
      case generate_identity: {
        const ports::noise::key_pair keys = ports::noise::key_pair::generate();
        std::string text = ports::identity::format_identity_file(keys);
        write_new_secret_file("--generate-identity", cmd.argument, text);
        sodium_memzero(text.data(), text.size());
        out << ports::identity::to_base64(keys.public_key) << "\n";
        return 0;
      }
      case public_key: {
        std::string text = read_secret_file("--public-key", cmd.argument,
                                            "make one with `vswitchd --generate-identity " + cmd.argument + "`");
        const ports::identity::identity_file parsed = ports::identity::parse_identity_file(text);
        sodium_memzero(text.data(), text.size());
        if (!parsed.keys) throw std::runtime_error("--public-key " + cmd.argument + ": " + parsed.error);
        out << ports::identity::to_base64(parsed.keys->public_key) << "\n";
        return 0;
      }
      default:
        break;
    }
    err << "vswitchd: not a key command\n";
  } catch (const std::exception& e) {
    err << "vswitchd: " << e.what() << "\n";
  }
  return 1;
}

}  // namespace switchd
