// admission: which hosts may join by calling first, and which are cut off.
// --allowed-keys admits listed keys; --ca admits any host whose handshake
// carries a valid, unexpired certificate of that CA for its key (and, if the
// certificate lists VLANs, only for those); --revoked refuses keys and
// certificate fingerprints whoever admits them. This host's own --certificate
// is read here too. The files are read again when they change (tick) and on
// SIGHUP (reload); peer_set applies what changed to the peers.
#pragma once

#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "l2/vlan.hpp"
#include "ports/certificate.hpp"
#include "ports/noise.hpp"
#include "switchd/options.hpp"
#include "switchd/text_file.hpp"

namespace switchd {

class admission {
 public:
  explicit admission(const options& opts) : opts_(opts) {}

  /// Reads --allowed-keys and --ca at start. Throws startup_error.
  void load();
  /// This host's --certificate, checked against its identity `own`. Throws startup_error.
  std::vector<std::byte> load_certificate(const ports::noise::public_key& own) const;

  /// Whether hosts that call first can be admitted at all (--allowed-keys or --ca).
  bool admits_callers() const { return opts_.allowed_keys.has_value() || ca_.has_value(); }
  /// Whether some handshakes may be refused (--revoked or --ca).
  bool refuses() const { return opts_.revoked.has_value() || ca_.has_value(); }

  /// How a caller is admitted.
  struct verdict {
    std::string name;  ///< from --allowed-keys or the certificate; may be empty
    std::string how;   ///< for the log: "--allowed-keys" or "--ca, certificate FP[, VLANs N]"
    l2::vlan_set vlans;  ///< the certificate's VLANs; none: all
    bool by_ca = false;
  };
  /// Whether a handshake from `key` carrying `certificate` admits it (not
  /// checked against --revoked: the endpoint asks is_refused first). nullopt:
  /// not admitted, with the reason in `why_not` when there is one to log.
  std::optional<verdict> admit(const ports::noise::public_key& key, std::span<const std::byte> certificate,
                               std::string& why_not) const;
  /// Whether `key` is in --allowed-keys.
  bool allows(const ports::noise::public_key& key) const;
  /// Whether `key` (or `certificate`) is in --revoked. A key whose
  /// certificate was revoked stays refused without that certificate too.
  bool is_revoked(const ports::noise::public_key& key, std::span<const std::byte> certificate) const;
  /// Whether handshakes with `key` are refused now: revoked, or admitted by
  /// the CA (`by_ca`) and `certificate` no longer valid.
  bool is_refused(const ports::noise::public_key& key, std::span<const std::byte> certificate, bool by_ca) const;
  /// Why a peer the CA admitted must go now (its certificate expired), or nullopt.
  std::optional<std::string> certificate_problem(const ports::noise::public_key& key,
                                                 std::span<const std::byte> certificate) const;

  std::size_t allowed_count() const { return allowed_.size(); }
  std::size_t revoked_count() const { return revoked_.size(); }

  /// Which lists a reload changed.
  struct changed {
    bool allowed = false, revoked = false;
  };
  /// Each second: reads again the files that changed on disk.
  changed tick();
  /// SIGHUP: reads every file again. A bad file is logged; the list in use stays.
  changed reload();

 private:
  bool reload_allowed();
  bool reload_revoked();
  /// Reads and parses --revoked (stamping it), or nullopt with the reason in `error`.
  std::optional<std::set<std::string>> read_revoked(std::string& error);
  ports::certificate::ca_public_key load_ca_key() const;

  const options& opts_;
  std::vector<allowed_key> allowed_;                    ///< --allowed-keys as last read
  file_stamp allowed_stamp_;
  std::optional<ports::certificate::ca_public_key> ca_;  ///< --ca
  std::set<std::string> revoked_;                       ///< --revoked: keys (base64) and fingerprints (hex)
  mutable std::set<std::string> revoked_by_certificate_;  ///< keys whose certificate is revoked
  file_stamp revoked_stamp_;
};

}  // namespace switchd
