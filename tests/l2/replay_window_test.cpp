// Tests of the anti-replay window: table-driven sequences of arrivals (in
// order, duplicates, the exact edge of the window, jumps of every size,
// out-of-order arrivals, 0, values near UINT64_MAX), reset, and a randomized
// run against a std::set model.
#include "l2/replay_window.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace {

using l2::replay_window;

constexpr std::uint64_t size = replay_window::size;
/// Numbers this far apart share a bit of the ring.
constexpr std::uint64_t ring = (size / 64 + 1) * 64;
/// Where "slide by many small steps" ends up.
constexpr std::uint64_t slid = 2 * size + 1904;
constexpr std::uint64_t max = std::numeric_limits<std::uint64_t>::max();

/// One arrival and whether it must be accepted.
struct arrival {
  std::uint64_t sequence;
  bool accepted;
};

/// Feeds `arrivals` to a fresh window; check() must agree with accept().
void run(const std::string& name, const std::vector<arrival>& arrivals) {
  replay_window window;
  for (std::size_t i = 0; i < arrivals.size(); ++i) {
    const arrival& a = arrivals[i];
    const std::uint64_t before = window.highest();
    EXPECT_EQ(window.check(a.sequence), a.accepted) << name << ", arrival " << i << ": " << a.sequence;
    EXPECT_EQ(window.accept(a.sequence), a.accepted) << name << ", arrival " << i << ": " << a.sequence;
    EXPECT_FALSE(window.check(a.sequence)) << name << ": seen now or rejected before";
    const std::uint64_t expected_highest = a.accepted && a.sequence > before ? a.sequence : before;
    EXPECT_EQ(window.highest(), expected_highest) << name << ", arrival " << i;
  }
}

TEST(replay_window, size_is_at_least_the_spec_minimum) { EXPECT_GE(size, 2048u); }

TEST(replay_window, starts_empty) {
  replay_window window;
  EXPECT_EQ(window.highest(), 0u);
  EXPECT_TRUE(window.check(1));
  EXPECT_TRUE(window.check(max));
  EXPECT_FALSE(window.check(0));
}

TEST(replay_window, cases) {
  struct case_t {
    std::string name;
    std::vector<arrival> arrivals;
  };
  const case_t cases[] = {
      {"first", {{1, true}}},
      {"first is large", {{1000000, true}, {1000000 - size + 1, true}, {1000000 - size, false}}},
      {"in order", {{1, true}, {2, true}, {3, true}, {4, true}}},
      {"duplicate", {{1, true}, {1, false}, {2, true}, {1, false}, {2, false}}},
      {"duplicate of the highest", {{7, true}, {7, false}}},
      {"zero", {{0, false}, {1, true}, {0, false}}},
      {"zero with a small highest", {{5, true}, {0, false}}},
      {"below the first while the window is young", {{10, true}, {1, true}, {9, true}, {1, false}}},
      {"exactly size behind is too old",
       {{size + 1000, true}, {1000, false}, {1001, true}, {1001, false}}},
      {"size - 1 behind is inside", {{size, true}, {1, true}}},
      {"size behind is outside", {{size + 1, true}, {1, false}, {2, true}}},
      {"out of order inside the window",
       {{10, true}, {8, true}, {9, true}, {5, true}, {8, false}, {11, true}, {6, true}, {9, false},
        {7, true}}},
      {"reverse order across blocks",
       {{200, true}, {150, true}, {129, true}, {128, true}, {127, true}, {64, true}, {63, true},
        {1, true}, {128, false}, {63, false}}},
      {"jump by one block", {{63, true}, {127, true}, {63, false}, {64, true}, {100, true}}},
      {"jump just under the window",
       {{1, true}, {size, true}, {1, false}, {2, true}, {size - 1, true}}},
      {"jump by exactly the window", {{5, true}, {5 + size, true}, {5, false}, {6, true}}},
      {"far future jump",
       {{1, true}, {2, true}, {3, true}, {1000000, true},
        {1000000 - size + 1, true},  // inside, never seen
        {1000000 - size, false},     // outside
        {3, false},                  // long gone
        {999999, true}, {999999, false}, {1000001, true}, {1000000, false}}},
      {"jump clears stale bits",
       // The ring has size / 64 + 1 blocks of 64: ring + 100 and ring + 101
       // use the bits of 100 and 101.
       {{100, true}, {101, true}, {ring + 188, true}, {ring + 101, true}, {ring + 100, true},
        {ring + 101, false}, {101, false}}},
      {"slide by many small steps",
       {{1, true}, {65, true}, {129, true}, {size + 1, true}, {2 * size + 1, true}, {size + 1, false},
        {size + 2, true}, {2 * size, true}, {slid, true}, {2 * size + 1, false}, {slid - size + 1, true},
        {slid - size, false}}},
      {"near the maximum",
       {{max - size - 1000, true}, {max - 1, true}, {max, true}, {max, false}, {max - 1, false},
        {max - size + 1, true}, {max - size, false}, {max - size - 1000, false}, {max - 2, true}, {1, false}}},
      {"straight to the maximum", {{max, true}, {max - size + 1, true}, {max - size, false}, {max, false}}},
      {"from 1 to the maximum", {{1, true}, {max, true}, {1, false}, {max - 1, true}}},
  };
  for (const case_t& c : cases) run(c.name, c.arrivals);
}

TEST(replay_window, every_number_of_a_long_in_order_run) {
  replay_window window;
  for (std::uint64_t s = 1; s <= 10000; ++s) {
    ASSERT_TRUE(window.accept(s)) << s;
    ASSERT_FALSE(window.accept(s)) << s;
    if (s > size) {
      ASSERT_FALSE(window.check(s - size)) << s;
    }
    if (s > 1) {
      ASSERT_FALSE(window.check(s - 1)) << s;
    }
  }
  EXPECT_EQ(window.highest(), 10000u);
}

TEST(replay_window, every_jump_length_clears_exactly_what_it_skips) {
  // For each jump length: fill a full window, jump, then every number in the
  // new window is accepted exactly when it was not accepted before the jump.
  for (std::uint64_t jump = 1; jump <= 2 * size + 130; jump += (jump < 200 ? 1 : 61)) {
    replay_window window;
    const std::uint64_t start = 2 * size + 904;
    for (std::uint64_t s = start - size + 1; s <= start; ++s) ASSERT_TRUE(window.accept(s));
    const std::uint64_t top = start + jump;
    ASSERT_TRUE(window.accept(top)) << jump;
    for (std::uint64_t s = top - size + 1; s < top; ++s) {
      const bool seen_before = s <= start;
      ASSERT_EQ(window.check(s), !seen_before) << "jump " << jump << ", sequence " << s;
    }
    ASSERT_FALSE(window.check(top - size)) << jump;
  }
}

TEST(replay_window, rejected_arrivals_change_nothing) {
  replay_window window;
  const std::uint64_t top = size + 5000;
  ASSERT_TRUE(window.accept(top));
  ASSERT_TRUE(window.accept(top - 1000));
  EXPECT_FALSE(window.accept(0));
  EXPECT_FALSE(window.accept(top - 1000));
  EXPECT_FALSE(window.accept(top - size));
  EXPECT_EQ(window.highest(), top);
  EXPECT_TRUE(window.check(top - 999));
  EXPECT_TRUE(window.check(top - size + 1));
}

TEST(replay_window, reset_forgets_everything) {
  replay_window window;
  ASSERT_TRUE(window.accept(1));
  ASSERT_TRUE(window.accept(max));
  window.reset();
  EXPECT_EQ(window.highest(), 0u);
  EXPECT_TRUE(window.accept(1));  // a new peer instance starts at 1 again
  EXPECT_FALSE(window.accept(1));
  EXPECT_TRUE(window.accept(2));
  window.reset();
  EXPECT_TRUE(window.check(max));
  EXPECT_TRUE(window.accept(2));
  EXPECT_TRUE(window.accept(1));
}

TEST(replay_window, randomized_against_a_set) {
  // Model: accepted iff not 0, never accepted before, and not `size` or more
  // behind the highest accepted. The set keeps every accepted number.
  std::mt19937_64 rng(20240601);
  for (int round = 0; round < 20; ++round) {
    replay_window window;
    std::set<std::uint64_t> accepted;
    std::uint64_t highest = 0;
    // Half the rounds start near the top of the range.
    const std::uint64_t base = round % 2 == 0 ? 0 : max - (std::uint64_t{1} << 24);
    for (int i = 0; i < 5000; ++i) {
      std::uint64_t s;
      const std::uint64_t pick = rng() % 100;
      const std::uint64_t from = highest > base ? highest : base;
      if (pick < 3) {
        s = from + 1 + rng() % (3 * size);  // a jump ahead
      } else if (pick < 40) {
        s = from + 1 + rng() % 4;  // in order-ish
      } else {
        s = from - std::min<std::uint64_t>(from, rng() % (size + 300));  // behind, maybe too far
      }
      if (rng() % 500 == 0) s = 0;
      const bool expected = s != 0 && !accepted.count(s) && (s > highest || highest - s < size);
      ASSERT_EQ(window.check(s), expected) << "round " << round << ", step " << i << ": " << s;
      ASSERT_EQ(window.accept(s), expected) << "round " << round << ", step " << i << ": " << s;
      if (expected) {
        accepted.insert(s);
        if (s > highest) highest = s;
      }
      ASSERT_EQ(window.highest(), highest);
      // Keep the model bounded: numbers far behind can never be accepted again anyway.
      while (!accepted.empty() && highest - *accepted.begin() >= size) accepted.erase(accepted.begin());
    }
  }
}

}  // namespace

TEST(replay_window, reset_at_takes_only_later_numbers) {
  for (const std::uint64_t start : {std::uint64_t{1}, std::uint64_t{63}, std::uint64_t{64},
                                    std::uint64_t{100}, std::uint64_t{5000}}) {
    SCOPED_TRACE(start);
    l2::replay_window w;
    w.accept(start + 3000);  // anything before is forgotten by reset_at
    w.reset_at(start);
    EXPECT_EQ(w.highest(), start);
    EXPECT_FALSE(w.check(start));
    for (std::uint64_t back = 1; back <= 70 && back < start; ++back) EXPECT_FALSE(w.check(start - back));
    // Later numbers, in the same block and beyond, in any order.
    EXPECT_TRUE(w.accept(start + 5));
    EXPECT_TRUE(w.accept(start + 1));
    EXPECT_TRUE(w.accept(start + 70));
    EXPECT_TRUE(w.accept(start + 2));
    EXPECT_FALSE(w.accept(start + 5));
    EXPECT_FALSE(w.check(start));
  }
}
