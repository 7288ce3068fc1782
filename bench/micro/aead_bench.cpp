// ChaCha20-Poly1305 sealing, in place, at the sizes the sealed uplinks seal:
// libsodium and OpenSSL 3's EVP called directly, and noise::encrypt, which
// picks one by size (noise::long_text). The figures behind that choice:
//   build-release/bench/micro_bench --benchmark_filter=aead
#include <benchmark/benchmark.h>
#include <openssl/evp.h>
#include <sodium.h>

#include <array>
#include <cstring>
#include <vector>

#include "ports/noise.hpp"
#include "ports/sealed.hpp"

namespace {

constexpr std::array<unsigned char, 32> key_bytes{1, 2, 3};
constexpr std::array<unsigned char, 16> ad{4, 2};

std::array<unsigned char, 12> nonce(std::uint64_t counter) {
  std::array<unsigned char, 12> n{};
  std::memcpy(n.data() + 4, &counter, 8);
  return n;
}

void aead_seal_libsodium(benchmark::State& state) {
  ports::sealed::initialize();
  std::vector<unsigned char> text(static_cast<std::size_t>(state.range(0)));
  std::array<unsigned char, 16> tag{};
  std::uint64_t counter = 0;
  for (auto _ : state) {
    const auto n = nonce(counter++);
    crypto_aead_chacha20poly1305_ietf_encrypt_detached(text.data(), tag.data(), nullptr, text.data(), text.size(),
                                                       ad.data(), ad.size(), nullptr, n.data(), key_bytes.data());
    benchmark::DoNotOptimize(tag);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}

void aead_seal_openssl_evp(benchmark::State& state) {
  EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
  EVP_EncryptInit_ex(c, EVP_chacha20_poly1305(), nullptr, nullptr, nullptr);
  std::vector<unsigned char> text(static_cast<std::size_t>(state.range(0)));
  std::array<unsigned char, 16> tag{};
  std::uint64_t counter = 0;
  int n = 0;
  for (auto _ : state) {
    const auto iv = nonce(counter++);
    EVP_EncryptInit_ex(c, nullptr, nullptr, key_bytes.data(), iv.data());  // a key per call, as per session
    EVP_EncryptUpdate(c, nullptr, &n, ad.data(), static_cast<int>(ad.size()));
    EVP_EncryptUpdate(c, text.data(), &n, text.data(), static_cast<int>(text.size()));
    EVP_EncryptFinal_ex(c, text.data() + n, &n);
    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, 16, tag.data());
    benchmark::DoNotOptimize(tag);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
  EVP_CIPHER_CTX_free(c);
}

void aead_seal_noise(benchmark::State& state) {
  ports::noise::secret key{};
  std::memcpy(key.data(), key_bytes.data(), key.size());
  std::vector<std::byte> text(static_cast<std::size_t>(state.range(0)));
  std::array<std::byte, ports::noise::tag_size> tag{};
  std::uint64_t counter = 0;
  for (auto _ : state) {
    ports::noise::encrypt(key, counter++, std::as_bytes(std::span(ad)), text, tag);
    benchmark::DoNotOptimize(tag);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}

}  // namespace

BENCHMARK(aead_seal_libsodium)->Arg(64)->Arg(512)->Arg(1024)->Arg(1400)->Arg(9000)->Arg(65536);
BENCHMARK(aead_seal_openssl_evp)->Arg(64)->Arg(512)->Arg(1024)->Arg(1400)->Arg(9000)->Arg(65536);
BENCHMARK(aead_seal_noise)->Arg(64)->Arg(512)->Arg(1024)->Arg(1400)->Arg(9000)->Arg(65536);
