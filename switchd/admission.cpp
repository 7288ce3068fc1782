#include "switchd/admission.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "ports/identity.hpp"
#include "ports/text_lines.hpp"
#include "switchd/port_registry.hpp"

namespace switchd {
namespace {

/// The --revoked entries in `text`, or nullopt with the bad line in `error`.
std::optional<std::set<std::string>> parse_revoked(const std::string& text, std::string& error) {
  std::set<std::string> out;
  for (ports::text_lines lines(text); lines.next();) {
    const std::string_view line = lines.line();
    const std::string word(line.substr(0, line.find_first_of(" \t")));
    std::string key_error;
    const bool is_key = ports::identity::parse_public_key(word, key_error).has_value();
    const bool is_fingerprint = word.size() == 32 && word.find_first_not_of("0123456789abcdef") == std::string::npos;
    if (!is_key && !is_fingerprint) {
      error = "line " + std::to_string(lines.number()) + ": '" + word +
              "' is neither a public key nor a certificate fingerprint (32 hex digits)";
      return std::nullopt;
    }
    out.insert(word);
  }
  return out;
}

}  // namespace

void admission::load() {
  if (opts_.allowed_keys) {
    allowed_stamp_ = stamp_of(*opts_.allowed_keys);
    std::string error;
    const std::optional<std::string> text = read_text(*opts_.allowed_keys, error);
    if (!text) throw startup_error("--allowed-keys " + *opts_.allowed_keys + ": " + error);
    try {
      allowed_ = parse_allowed_keys(*text, *opts_.allowed_keys);
    } catch (const options_error& e) {
      throw startup_error(e.what());
    }
  }
  if (opts_.ca) ca_ = load_ca_key();
  if (opts_.revoked) {
    // At start a list that cannot be read is an error: a typo in its path
    // must not leave revoked hosts admitted.
    std::string error;
    std::optional<std::set<std::string>> parsed = read_revoked(error);
    if (!parsed) {
      throw startup_error("--revoked " + *opts_.revoked + ": " + error +
                          "; list one public key or certificate fingerprint per line (an empty file revokes none)");
    }
    revoked_ = std::move(*parsed);
  }
}

std::vector<std::byte> admission::load_certificate(const ports::noise::public_key& own) const {
  const std::string& file = *opts_.certificate;
  std::string error;
  const std::optional<std::string> text = read_text(file, error);
  if (!text) throw startup_error("--certificate " + file + ": " + error);
  const auto bytes = ports::certificate::from_base64(*text);
  const std::string fix = "; sign one for this host's key with vswitchd --ca-sign DIR --name NAME --public-key KEY";
  if (!bytes) throw startup_error("--certificate " + file + ": not base64" + fix);
  const std::optional<ports::certificate::contents> decoded = ports::certificate::decode(*bytes, error);
  if (!decoded) throw startup_error("--certificate " + file + ": " + error + fix);
  ports::certificate::contents c;
  if (const auto why = ports::certificate::check(*bytes, decoded->ca, own, std::chrono::system_clock::now(), &c)) {
    throw startup_error("--certificate " + file + ": " + *why + fix);
  }
  spdlog::info("--certificate {}: {}, valid {} more day(s), fingerprint {}", file, c.name,
               std::chrono::duration_cast<std::chrono::hours>(c.not_after - std::chrono::system_clock::now()).count() / 24,
               ports::certificate::fingerprint(*bytes));
  return *bytes;
}

ports::certificate::ca_public_key admission::load_ca_key() const {
  // A key (44 characters of base64 that decode to 32 bytes), else a file holding one.
  std::string text = *opts_.ca;
  const auto as_key = ports::certificate::from_base64(text);
  if (text.size() != 44 || !as_key || as_key->size() != 32) {
    std::string error;
    const std::optional<std::string> file = read_text(*opts_.ca, error);
    if (!file) {
      throw startup_error("--ca " + *opts_.ca + ": neither a public key (44 characters of base64) nor a file: " +
                          error);
    }
    text = *file;
  }
  const auto bytes = ports::certificate::from_base64(text);
  if (!bytes || bytes->size() != 32) {
    throw startup_error("--ca " + *opts_.ca + ": not a CA public key (base64 of 32 bytes, as DIR/ca.pub of "
                        "vswitchd --ca-init DIR holds)");
  }
  ports::certificate::ca_public_key out{};
  std::copy(bytes->begin(), bytes->end(), out.begin());
  return out;
}

bool admission::allows(const ports::noise::public_key& key) const {
  return std::any_of(allowed_.begin(), allowed_.end(), [&](const allowed_key& a) { return a.key == key; });
}

std::optional<admission::verdict> admission::admit(const ports::noise::public_key& key,
                                                   std::span<const std::byte> certificate,
                                                   std::string& why_not) const {
  verdict v;
  const auto it = std::find_if(allowed_.begin(), allowed_.end(), [&](const allowed_key& a) { return a.key == key; });
  if (it != allowed_.end()) {
    v.name = it->name;
    v.how = "--allowed-keys";
    return v;
  }
  if (!ca_) return std::nullopt;
  if (certificate.empty()) {
    why_not = "not a peer, and no certificate (give it one: vswitchd --ca-sign, then --certificate FILE)";
    return std::nullopt;
  }
  ports::certificate::contents c;
  if (const auto bad = ports::certificate::check(certificate, *ca_, key, std::chrono::system_clock::now(), &c)) {
    why_not = "its certificate is not accepted: " + *bad;
    return std::nullopt;
  }
  v.name = c.name;
  v.how = "--ca, certificate " + ports::certificate::fingerprint(certificate);
  v.by_ca = true;
  if (!c.vlans.empty()) {
    // The certificate limits the host to these VLANs: its port is a trunk of them.
    for (std::uint16_t vlan : c.vlans) {
      if (vlan >= 1 && vlan <= l2::max_vlan_id) v.vlans.set(vlan);
    }
    v.how += ", VLANs " + std::to_string(c.vlans.size());
  }
  return v;
}

bool admission::is_revoked(const ports::noise::public_key& key, std::span<const std::byte> certificate) const {
  if (revoked_.empty()) return false;
  const std::string text = ports::identity::to_base64(key);
  if (revoked_.count(text) != 0 || revoked_by_certificate_.count(text) != 0) return true;
  if (certificate.empty() || revoked_.count(ports::certificate::fingerprint(certificate)) == 0) return false;
  // Its certificate is revoked: the key is too (a host cannot get round the
  // revocation by leaving the certificate out of its next handshake).
  revoked_by_certificate_.insert(text);
  return true;
}

bool admission::is_refused(const ports::noise::public_key& key, std::span<const std::byte> certificate,
                           bool by_ca) const {
  if (is_revoked(key, certificate)) return true;
  return by_ca && certificate_problem(key, certificate).has_value();
}

std::optional<std::string> admission::certificate_problem(const ports::noise::public_key& key,
                                                          std::span<const std::byte> certificate) const {
  if (!ca_) return "no --ca";
  // Admitted by its certificate: every handshake must carry a valid one.
  if (certificate.empty()) return "none in the handshake";
  return ports::certificate::check(certificate, *ca_, key, std::chrono::system_clock::now());
}

admission::changed admission::tick() {
  changed out;
  if (opts_.allowed_keys && stamp_of(*opts_.allowed_keys) != allowed_stamp_) {
    spdlog::info("--allowed-keys {}: changed; reloading", *opts_.allowed_keys);
    out.allowed = reload_allowed();
  }
  if (opts_.revoked && stamp_of(*opts_.revoked) != revoked_stamp_) {
    spdlog::info("--revoked {}: changed; reloading", *opts_.revoked);
    out.revoked = reload_revoked();
  }
  return out;
}

admission::changed admission::reload() { return {reload_allowed(), reload_revoked()}; }

bool admission::reload_allowed() {
  if (!opts_.allowed_keys) return false;
  allowed_stamp_ = stamp_of(*opts_.allowed_keys);
  std::string error;
  const std::optional<std::string> text = read_text(*opts_.allowed_keys, error);
  try {
    if (!text) throw options_error("--allowed-keys " + *opts_.allowed_keys + ": " + error);
    allowed_ = parse_allowed_keys(*text, *opts_.allowed_keys);
  } catch (const options_error& e) {
    spdlog::error("{}; keeping the keys in use", e.what());
    return false;
  }
  return true;
}

std::optional<std::set<std::string>> admission::read_revoked(std::string& error) {
  revoked_stamp_ = stamp_of(*opts_.revoked);
  const std::optional<std::string> text = read_text(*opts_.revoked, error);
  if (!text) return std::nullopt;
  return parse_revoked(*text, error);
}

bool admission::reload_revoked() {
  if (!opts_.revoked) return false;
  std::string error;
  std::optional<std::set<std::string>> parsed = read_revoked(error);
  if (!parsed) {
    spdlog::error("--revoked {}: {}; keeping the list in use", *opts_.revoked, error);
    return false;
  }
  revoked_ = std::move(*parsed);
  revoked_by_certificate_.clear();  // (found again from the peers' certificates)
  return true;
}

}  // namespace switchd
