// secret_file: reading and writing files that hold secrets (--key-file,
// --identity). A secret file must be a regular file owned by root or by the
// user vswitchd runs as, neither readable nor writable by group or others;
// new ones are created with mode 0600 and never over an existing file.
#pragma once

#include <string>

namespace switchd {

/// The text of the secret file `path`, checked on the open file (no window
/// between the check and the read). `option` names the setting in errors
/// ("--key-file"), `create_hint` says how to make one ("create one with
/// `vswitchd --generate-key > FILE && chmod 600 FILE`"). Throws
/// std::runtime_error naming the option, the file and the fix.
std::string read_secret_file(const std::string& option, const std::string& path,
                             const std::string& create_hint);

/// Creates `path` with mode 0600 holding `text`. Refuses (throws
/// std::runtime_error naming `option`, the file and why) if it exists.
void write_new_secret_file(const std::string& option, const std::string& path, const std::string& text);

}  // namespace switchd
