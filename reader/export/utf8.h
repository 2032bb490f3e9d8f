// UTF-8 validation step shared by the exporters: span names and attribute values come from
// agents and may hold any bytes, but JSON and terminals must only ever get well-formed UTF-8.
#ifndef AGENTRING_READER_EXPORT_UTF8_H_
#define AGENTRING_READER_EXPORT_UTF8_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace agentring::reader {

// The UTF-8 encoding of U+FFFD REPLACEMENT CHARACTER.
inline constexpr char kUtf8Replacement[] = "\xEF\xBF\xBD";

// Looks at the bytes [p, p + n), n >= 1, with p[0] >= 0x80. Returns the length (2..4) of the
// well-formed sequence starting at p, or minus the length (1..3) of the ill-formed "maximal
// subpart" to replace with one U+FFFD. The well-formed ranges are the Unicode Standard's
// Table 3-7 (which excludes overlongs, surrogates and anything above U+10FFFF); replacing
// maximal subparts is the practice of Unicode §3.9 / WHATWG Encoding, so every invalid byte is
// consumed and the loop calling this always advances.
inline int Utf8SequenceStep(const unsigned char* p, size_t n) {
  const unsigned char b0 = p[0];
  int need;               // continuation bytes after b0
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2;
    if (b0 == 0xE0) lo = 0xA0;  // overlong below U+0800
    if (b0 == 0xED) hi = 0x9F;  // surrogates U+D800..U+DFFF
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3;
    if (b0 == 0xF0) lo = 0x90;  // overlong below U+10000
    if (b0 == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return -1;  // stray continuation byte, C0/C1 (always overlong), F5..FF
  }
  if (n < 2 || p[1] < lo || p[1] > hi) return -1;
  for (int i = 2; i <= need; ++i) {
    if (static_cast<size_t>(i) >= n || p[i] < 0x80 || p[i] > 0xBF) return -i;
  }
  return need + 1;
}

// True when every byte of [p, p + n) is ASCII: 8 bytes at a time, the common case for keys and
// values, so a full UTF-8 validation only runs on text that has a byte >= 0x80.
inline bool IsAscii(const char* p, size_t n) {
  uint64_t acc = 0;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    memcpy(&w, p + i, 8);
    acc |= w;
  }
  for (; i < n; ++i) acc |= static_cast<uint8_t>(p[i]);
  return (acc & 0x8080808080808080ull) == 0;
}

// Appends the non-ASCII sequence that starts at s[i], or U+FFFD for an ill-formed subpart;
// returns the bytes of `s` it consumed.
inline size_t AppendUtf8Sequence(std::string_view s, size_t i, std::string* out) {
  const int step =
      Utf8SequenceStep(reinterpret_cast<const unsigned char*>(s.data()) + i, s.size() - i);
  if (step > 0) {
    out->append(s.data() + i, static_cast<size_t>(step));
    return static_cast<size_t>(step);
  }
  out->append(kUtf8Replacement, 3);
  return static_cast<size_t>(-step);
}

// True when `s` is well-formed UTF-8.
inline bool IsWellFormedUtf8(std::string_view s) {
  if (IsAscii(s.data(), s.size())) return true;
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t i = 0;
  while (i < s.size()) {
    if (p[i] < 0x80) {
      ++i;
      continue;
    }
    const int step = Utf8SequenceStep(p + i, s.size() - i);
    if (step < 0) return false;
    i += static_cast<size_t>(step);
  }
  return true;
}

// Appends `s` with every ill-formed subpart replaced by U+FFFD (as AppendJsonString does).
inline void AppendSanitizedUtf8(std::string_view s, std::string* out) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t i = 0;
  while (i < s.size()) {
    if (p[i] < 0x80) {
      out->push_back(s[i++]);
      continue;
    }
    i += AppendUtf8Sequence(s, i, out);
  }
}

}  // namespace agentring::reader

#endif  // AGENTRING_READER_EXPORT_UTF8_H_
