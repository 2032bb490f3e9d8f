// StringPool: the reader's interned strings (span names, attribute keys, event names). Entries
// are never freed, so string_views handed out stay valid for the reader's lifetime; the set of
// distinct names and keys is small in practice (values are not interned).
#ifndef AGENTRING_READER_ASSEMBLE_STRING_POOL_H_
#define AGENTRING_READER_ASSEMBLE_STRING_POOL_H_

#include <deque>
#include <string>
#include <string_view>
#include <unordered_set>

namespace agentring::reader {

class StringPool {
 public:
  // Bounded: a writer that keeps inventing names (or a hostile one) cannot grow the reader
  // without limit; past kMaxStrings new strings read as "<string pool full>" and are counted.
  static constexpr size_t kMaxStrings = 1 << 20;

  std::string_view Intern(std::string_view s) {
    auto it = set_.find(s);
    if (it != set_.end()) return *it;
    if (set_.size() >= kMaxStrings) {
      ++overflows_;
      return "<string pool full>";
    }
    storage_.emplace_back(s);
    std::string_view v = storage_.back();
    set_.insert(v);
    return v;
  }
  size_t size() const { return set_.size(); }
  uint64_t overflows() const { return overflows_; }

 private:
  std::deque<std::string> storage_;  // deque: growing never moves existing strings
  std::unordered_set<std::string_view> set_;
  uint64_t overflows_ = 0;
};

}  // namespace agentring::reader

#endif  // AGENTRING_READER_ASSEMBLE_STRING_POOL_H_
