// key_commands: the actions that make and show keys, then exit:
// --generate-key (an overlay key for --key-file), --generate-identity FILE (a
// host identity) and --public-key FILE (its public key).
#pragma once

#include <ostream>

#include "switchd/options.hpp"

namespace switchd {

/// Whether `what` is one of these actions.
bool is_key_command(command::action what);

/// Runs the action: the result on `out`, an error (naming the option, the
/// file and the fix) on `err`. Returns the exit status: 0, or 1 on error.
int run_key_command(const command& cmd, std::ostream& out, std::ostream& err);

}  // namespace switchd
