#include "switchd/key_commands.hpp"

#include <sodium.h>

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include "ports/certificate.hpp"
#include "ports/identity.hpp"
#include "ports/sealed.hpp"
#include "switchd/secret_file.hpp"

namespace switchd {

bool is_key_command(command::action what) {
  using enum command::action;
  return what == generate_key || what == generate_identity || what == public_key || what == ca_init ||
         what == ca_sign;
}

namespace {

/// The CA key pair in DIR/ca.key (its seed, base64).
ports::certificate::ca_keys load_ca(const std::string& dir) {
  const std::string path = dir + "/ca.key";
  std::string text = read_secret_file("--ca-sign", path, "make a CA with `vswitchd --ca-init " + dir + "`");
  std::optional<std::vector<std::byte>> seed = ports::certificate::from_base64(text);
  sodium_memzero(text.data(), text.size());
  if (!seed || seed->size() != 32)
    throw std::runtime_error("--ca-sign " + path + ": not a CA key (base64 of 32 bytes, as --ca-init writes it)");
  ports::certificate::ca_keys keys = ports::certificate::ca_from_seed(std::span(*seed).first<32>());
  sodium_memzero(seed->data(), seed->size());
  return keys;
}

}  // namespace

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
      case ca_init: {
        const std::string& dir = cmd.argument;
        if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
          throw std::runtime_error("--ca-init " + dir + ": cannot create it (" + std::strerror(errno) + ")");
        const ports::certificate::ca_keys ca = ports::certificate::generate_ca();
        std::string seed = ports::certificate::to_base64(std::span(ca.secret_key).first<32>()) + "\n";
        write_new_secret_file("--ca-init", dir + "/ca.key", seed);
        sodium_memzero(seed.data(), seed.size());
        const std::string pub = ports::certificate::to_base64(ca.public_key);
        std::ofstream(dir + "/ca.pub") << pub << "\n";
        out << pub << "\n";
        return 0;
      }
      case ca_sign: {
        const ports::certificate::ca_keys ca = load_ca(cmd.argument);
        std::string error;
        const std::optional<ports::noise::public_key> key = ports::identity::parse_public_key(cmd.cert_key, error);
        if (!key) throw std::runtime_error("--public-key " + cmd.cert_key + ": " + error);
        if (!ports::certificate::valid_name(cmd.cert_name)) {
          throw std::runtime_error("--name " + cmd.cert_name +
                                   ": 1 to 63 letters, digits, '.', '_' or '-'; e.g. --name db2.lab");
        }
        ports::certificate::contents c;
        c.host_key = *key;
        c.name = cmd.cert_name;
        c.not_before = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now()) -
                       std::chrono::minutes(5);  // clocks a little behind still accept it
        c.not_after = c.not_before + std::chrono::hours(24) * cmd.cert_days;
        c.vlans = cmd.cert_vlans;
        out << ports::certificate::to_base64(ports::certificate::sign(c, ca)) << "\n";
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
