// stream_framing: the record format of QEMU's `-netdev stream` (and of the
// legacy `-netdev socket` over TCP or a unix socket). Each Ethernet frame
// travels as a record: a 4-byte big-endian length, then that many bytes of
// frame (no virtio-net header, no FCS). QEMU's receive buffer is
// NET_BUFSIZE = 69,632 bytes; a longer length is a protocol error and the
// connection must be closed (the stream cannot be resynchronised: every byte
// after a bad length is noise).
//
// A zero length is not an error. QEMU never sends one, but its own reader
// (net_fill_rstate) takes it as an empty packet and stays in step, so do we:
// the record is handed on as an empty frame and the frame parser drops it as
// a runt (counted). Closing a guest's connection over a harmless record would
// be worse than counting it.
//
// stream_reassembler turns the bytes of successive reads into frames. Frames
// that lie wholly inside one read are handed on in place (no copy); only a
// frame cut by the end of a read is copied, into a buffer of 69,632 bytes
// allocated once per connection, and handed on when its last byte arrives.
// Pure: no I/O, no clock, no allocation after construction.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string_view>

#include "l2/byte_order.hpp"

namespace l2 {

/// Bytes of the length prefix in front of every frame.
inline constexpr std::size_t stream_length_size = 4;

/// The longest frame a stream record may carry (QEMU's NET_BUFSIZE, 4096 + 65536).
inline constexpr std::size_t stream_max_frame_size = 69632;

/// Writes the length prefix of a `frame_size`-byte frame (big-endian). The
/// caller keeps frame_size <= stream_max_frame_size (the peer refuses more).
inline void encode_length(std::size_t frame_size, std::span<std::byte, stream_length_size> out) {
  byte_order::store32(out, 0, static_cast<std::uint32_t>(frame_size));
}

/// Reads a length prefix (big-endian), as sent; it is not checked here.
inline std::uint32_t decode_length(std::span<const std::byte, stream_length_size> in) {
  return byte_order::load32(in, 0);
}

/// Why feed() stopped.
enum class stream_error : std::uint8_t {
  none,      ///< every byte was consumed
  too_long,  ///< a length over stream_max_frame_size: close the connection
};

/// "none", "too_long".
std::string_view to_string(stream_error error);

/// What one feed() did.
struct stream_feed_result {
  std::size_t frames = 0;  ///< frames handed to on_frame during this call
  stream_error error = stream_error::none;
  std::uint32_t bad_length = 0;  ///< the offending length when error is too_long
};

class stream_reassembler {
 public:
  /// Allocates the buffer for one frame cut across reads (once; its pages
  /// are touched only when a frame is cut).
  stream_reassembler();

  /// Consumes `bytes` (the next bytes of the stream) and calls
  /// on_frame(std::span<const std::byte>) for every frame completed by them,
  /// in order. A frame is valid only during its call: it points into `bytes`
  /// or into the reassembler's own buffer. An incomplete record at the end is
  /// kept for the next call. On a protocol error the frames before it have
  /// been handed on; the rest is ignored, and so is every later call (the
  /// reassembler stays failed until reset()).
  template <typename F>
  stream_feed_result feed(std::span<const std::byte> bytes, F&& on_frame) {
    stream_feed_result result;
    if (failed_) {
      result.error = stream_error::too_long;
      result.bad_length = bad_length_;
      return result;
    }
    if (bytes.empty()) return result;
    // 1. Finish the record a previous read left incomplete.
    if (header_have_ > 0 || in_frame_) {
      const std::size_t used = continue_partial(bytes, on_frame, result);
      if (result.error != stream_error::none) return result;
      bytes = bytes.subspan(used);
    }
    // 2. Whole records in place.
    while (bytes.size() >= stream_length_size) {
      const std::uint32_t length = decode_length(bytes.first<stream_length_size>());
      if (length > stream_max_frame_size) return fail(result, length);
      if (bytes.size() - stream_length_size < length) break;
      on_frame(bytes.subspan(stream_length_size, length));
      ++result.frames;
      bytes = bytes.subspan(stream_length_size + length);
    }
    // 3. Keep the start of the next record: a length prefix alone (whole or
    // cut; its frame may come wholly in the next read, to be handed on in
    // place there), or a length and the start of its frame.
    if (!bytes.empty()) {
      if (bytes.size() <= stream_length_size) {
        std::memcpy(header_.data(), bytes.data(), bytes.size());
        header_have_ = bytes.size();
      } else {
        // A complete, valid length (checked above) whose frame is cut off.
        expected_ = decode_length(bytes.first<stream_length_size>());
        in_frame_ = true;
        have_ = bytes.size() - stream_length_size;
        std::memcpy(partial_.get(), bytes.data() + stream_length_size, have_);
      }
    }
    return result;
  }

  /// Whether part of a record (of its length or of its frame) is waiting for
  /// more bytes: at end of stream, the peer closed mid-frame.
  bool pending() const { return header_have_ > 0 || in_frame_; }
  /// Bytes of the incomplete record received so far (length prefix included).
  std::size_t pending_size() const { return in_frame_ ? stream_length_size + have_ : header_have_; }
  /// Whether a protocol error was seen (until reset()).
  bool failed() const { return failed_; }
  /// Forgets any incomplete record and a protocol error (a new stream).
  void reset();

 private:
  stream_feed_result& fail(stream_feed_result& result, std::uint32_t length) {
    failed_ = true;
    bad_length_ = length;
    result.error = stream_error::too_long;
    result.bad_length = length;
    return result;
  }

  /// Adds bytes to the incomplete record; hands it on when complete. Returns
  /// the bytes used.
  template <typename F>
  std::size_t continue_partial(std::span<const std::byte> bytes, F& on_frame,
                               stream_feed_result& result) {
    std::size_t used = 0;
    if (!in_frame_) {
      // 1a. The rest of the length prefix.
      const std::size_t take = std::min(stream_length_size - header_have_, bytes.size());
      std::memcpy(header_.data() + header_have_, bytes.data(), take);
      header_have_ += take;
      used = take;
      if (header_have_ < stream_length_size) return used;
      const std::uint32_t length =
          decode_length(std::span<const std::byte, stream_length_size>(header_));
      if (length > stream_max_frame_size) {
        header_have_ = 0;
        fail(result, length);
        return used;
      }
      // The frame may now lie wholly inside this read: hand it on in place.
      const std::span<const std::byte> rest = bytes.subspan(used);
      if (rest.size() >= length) {
        header_have_ = 0;
        on_frame(rest.first(length));
        ++result.frames;
        return used + length;
      }
      // None of it here: the length stays whole in header_, and the frame
      // may lie wholly in the next read.
      if (rest.empty()) return used;
      header_have_ = 0;
      expected_ = length;
      have_ = 0;
      in_frame_ = true;
    }
    // 1b. The rest of the frame, into the buffer.
    const std::size_t take = std::min<std::size_t>(expected_ - have_, bytes.size() - used);
    std::memcpy(partial_.get() + have_, bytes.data() + used, take);
    have_ += take;
    used += take;
    if (have_ == expected_) {
      in_frame_ = false;
      on_frame(std::span<const std::byte>(partial_.get(), have_));
      ++result.frames;
      have_ = 0;
    }
    return used;
  }

  std::unique_ptr<std::byte[]> partial_;                ///< a frame cut across reads
  std::array<std::byte, stream_length_size> header_{};  ///< a length prefix cut across reads
  std::size_t header_have_ = 0;   ///< bytes of header_ received (0 when none is pending; 4: whole, checked)
  bool in_frame_ = false;         ///< partial_ holds the start of a frame
  std::size_t expected_ = 0;      ///< that frame's length
  std::size_t have_ = 0;          ///< its bytes received
  bool failed_ = false;           ///< a protocol error was seen
  std::uint32_t bad_length_ = 0;  ///< the length that caused it
};

}  // namespace l2
