#include "l2/stream_framing.hpp"

namespace l2 {

std::string_view to_string(stream_error error) {
  switch (error) {
    case stream_error::none:
      return "none";
    case stream_error::too_long:
      return "too_long";
  }
  return "none";
}

stream_reassembler::stream_reassembler()
    : partial_(std::make_unique_for_overwrite<std::byte[]>(stream_max_frame_size)) {}

void stream_reassembler::reset() {
  header_have_ = 0;
  in_frame_ = false;
  have_ = 0;
  expected_ = 0;
  failed_ = false;
  bad_length_ = 0;
}

}  // namespace l2
