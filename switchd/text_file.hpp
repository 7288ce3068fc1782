// text_file: the small text files the daemon reads and reads again when they
// change (--peers-file, --allowed-keys, --revoked, --certificate, --ca): their
// text, and a stamp that tells a changed file from the one read last.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace switchd {

/// The whole of a small text file (at most 1 MiB), or nullopt with the
/// reason and the fix in `error`.
std::optional<std::string> read_text(const std::string& path, std::string& error);

/// Identity of a file for change detection: inode, size, mtime and ctime
/// (a chmod changes only the ctime). A missing file has exists == false.
struct file_stamp {
  std::uint64_t inode = 0, size = 0;
  std::int64_t mtime_ns = 0, ctime_ns = 0;
  bool exists = false;
  friend bool operator==(const file_stamp&, const file_stamp&) = default;
};
file_stamp stamp_of(const std::string& path);

}  // namespace switchd
