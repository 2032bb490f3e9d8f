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
  std::string_view Intern(std::string_view s) {
    auto it = set_.find(s);
    if (it != set_.end()) return *it;
    storage_.emplace_back(s);
    std::string_view v = storage_.back();
    set_.insert(v);
    return v;
  }
  size_t size() const { return set_.size(); }

 private:
  std::deque<std::string> storage_;  // deque: growing never moves existing strings
  std::unordered_set<std::string_view> set_;
};

}  // namespace agentring::reader

#endif  // AGENTRING_READER_ASSEMBLE_STRING_POOL_H_
