// ip_fields: the offsets and values of the IPv4, IPv6, TCP and UDP header
// fields that the byte-level modules (offload, coalesce, tcp_mss) read and
// write, named once. Ethernet's are in l2/frame.hpp. Offsets are from the
// start of their own header; multi-byte fields are big-endian on the wire
// (l2/byte_order.hpp).
#pragma once

#include <cstddef>
#include <cstdint>

namespace l2::ip_fields {

// Ethernet payload types.
inline constexpr std::uint16_t ethertype_ipv4 = 0x0800;
inline constexpr std::uint16_t ethertype_ipv6 = 0x86dd;
/// Smallest Ethernet frame without FCS: shorter frames are padded up to it.
inline constexpr std::size_t ethernet_min_frame_size = 60;

// IPv4 (RFC 791).
inline constexpr std::size_t ipv4_min_header_size = 20;  ///< IHL 5, no options
inline constexpr std::size_t ipv4_tos_offset = 1;
inline constexpr std::size_t ipv4_total_length_offset = 2;
inline constexpr std::size_t ipv4_id_offset = 4;
inline constexpr std::size_t ipv4_fragment_offset = 6;  ///< flags (3 bits) and fragment offset (13)
inline constexpr std::uint16_t ipv4_flag_df = 0x4000;
inline constexpr std::uint16_t ipv4_more_fragments = 0x2000;
inline constexpr std::uint16_t ipv4_fragment_offset_mask = 0x1fff;
inline constexpr std::size_t ipv4_ttl_offset = 8;
inline constexpr std::size_t ipv4_protocol_offset = 9;
inline constexpr std::size_t ipv4_checksum_offset = 10;
inline constexpr std::size_t ipv4_source_offset = 12;
inline constexpr std::size_t ipv4_address_size = 4;

// IPv6 (RFC 8200).
inline constexpr std::size_t ipv6_header_size = 40;
inline constexpr std::size_t ipv6_payload_length_offset = 4;
inline constexpr std::size_t ipv6_next_header_offset = 6;
inline constexpr std::size_t ipv6_source_offset = 8;
inline constexpr std::size_t ipv6_address_size = 16;

// IP protocol numbers.
inline constexpr std::uint8_t protocol_tcp = 6;
inline constexpr std::uint8_t protocol_udp = 17;

// TCP (RFC 9293).
inline constexpr std::size_t tcp_min_header_size = 20;  ///< without options
inline constexpr std::size_t tcp_sequence_offset = 4;
inline constexpr std::size_t tcp_ack_offset = 8;
inline constexpr std::size_t tcp_data_offset_offset = 12;  ///< data offset (4 bits), reserved, AE
inline constexpr std::size_t tcp_flags_offset = 13;
inline constexpr std::size_t tcp_window_offset = 14;
inline constexpr std::size_t tcp_checksum_offset = 16;
inline constexpr std::uint8_t tcp_flag_fin = 0x01;
inline constexpr std::uint8_t tcp_flag_syn = 0x02;
inline constexpr std::uint8_t tcp_flag_rst = 0x04;
inline constexpr std::uint8_t tcp_flag_psh = 0x08;
inline constexpr std::uint8_t tcp_flag_ack = 0x10;
inline constexpr std::uint8_t tcp_flag_urg = 0x20;
inline constexpr std::uint8_t tcp_flag_cwr = 0x80;
inline constexpr std::uint8_t tcp_option_eol = 0;
inline constexpr std::uint8_t tcp_option_nop = 1;
inline constexpr std::uint8_t tcp_option_mss = 2;
inline constexpr std::size_t tcp_option_mss_size = 4;

// UDP (RFC 768).
inline constexpr std::size_t udp_header_size = 8;
inline constexpr std::size_t udp_length_offset = 4;
inline constexpr std::size_t udp_checksum_offset = 6;

}  // namespace l2::ip_fields
