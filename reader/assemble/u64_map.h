// U64Map: an open-addressing hash map from nonzero-probability 64-bit ids (span ids: random,
// never 0 in practice, any value tolerated) to small values. The assembler looks up every span
// several times on its way through (start, end, parent, emit); a node-based std::unordered_map
// costs a cache miss per node on top of the bucket, this one a probe in one array.
//
// Linear probing with tombstones; capacity a power of two, at most 7/8 used (live + tombstones),
// rebuilt in place when tombstones fill it. Pointers returned by find/try_emplace are valid until
// the next insertion. Not thread-safe.
#ifndef AGENTRING_READER_ASSEMBLE_U64_MAP_H_
#define AGENTRING_READER_ASSEMBLE_U64_MAP_H_

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace agentring::reader {

template <typename V>
class U64Map {
 public:
  U64Map() { Rebuild(16); }

  V* find(uint64_t key) {
    size_t i = Slot(key);
    for (;;) {
      if (ctrl_[i] == kEmpty) return nullptr;
      if (ctrl_[i] == kFull && keys_[i] == key) return &vals_[i];
      i = (i + 1) & mask_;
    }
  }
  const V* find(uint64_t key) const { return const_cast<U64Map*>(this)->find(key); }
  bool contains(uint64_t key) const { return find(key) != nullptr; }

  // The value for `key`, default-constructed and inserted when absent (second = inserted).
  std::pair<V*, bool> try_emplace(uint64_t key) {
    if (V* v = find(key)) return {v, false};
    if ((size_ + tombstones_ + 1) * 8 > (mask_ + 1) * 7)
      Rebuild(size_ * 2 + 2 > (mask_ + 1) / 2 ? (mask_ + 1) * 2 : mask_ + 1);
    size_t i = Slot(key);
    while (ctrl_[i] == kFull) i = (i + 1) & mask_;
    if (ctrl_[i] == kDeleted) --tombstones_;
    ctrl_[i] = kFull;
    keys_[i] = key;
    vals_[i] = V();
    ++size_;
    return {&vals_[i], true};
  }

  bool erase(uint64_t key) {
    V* v = find(key);
    if (v == nullptr) return false;
    size_t i = static_cast<size_t>(v - vals_.data());
    ctrl_[i] = kDeleted;
    ++tombstones_;
    --size_;
    return true;
  }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  void clear() { Rebuild(16); }

  // f(key, value&) for every entry; f must not insert or erase.
  template <typename F>
  void for_each(F&& f) {
    for (size_t i = 0; i <= mask_; ++i)
      if (ctrl_[i] == kFull) f(keys_[i], vals_[i]);
  }

 private:
  static constexpr uint8_t kEmpty = 0, kFull = 1, kDeleted = 2;

  size_t Slot(uint64_t key) const {
    return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_);
  }

  void Rebuild(size_t capacity) {
    std::vector<uint8_t> ctrl(capacity, kEmpty);
    std::vector<uint64_t> keys(capacity);
    std::vector<V> vals(capacity);
    std::swap(ctrl, ctrl_);
    std::swap(keys, keys_);
    std::swap(vals, vals_);
    mask_ = capacity - 1;
    shift_ = 64;
    for (size_t c = capacity; c > 1; c >>= 1) --shift_;
    size_ = 0;
    tombstones_ = 0;
    for (size_t i = 0; i < ctrl.size(); ++i) {
      if (ctrl[i] != kFull) continue;
      size_t j = Slot(keys[i]);
      while (ctrl_[j] == kFull) j = (j + 1) & mask_;
      ctrl_[j] = kFull;
      keys_[j] = keys[i];
      vals_[j] = std::move(vals[i]);
      ++size_;
    }
  }

  std::vector<uint8_t> ctrl_;
  std::vector<uint64_t> keys_;
  std::vector<V> vals_;
  size_t mask_ = 0;
  unsigned shift_ = 64;
  size_t size_ = 0;
  size_t tombstones_ = 0;
};

}  // namespace agentring::reader

#endif  // AGENTRING_READER_ASSEMBLE_U64_MAP_H_
