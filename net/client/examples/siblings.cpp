// Concurrent writers and how to resolve them: two writes without a context
// become siblings; a read returns both and a context; a write carrying that
// context replaces exactly what was read.
//   siblings HOST:PORT
#include <cstdio>
#include <string>

#include "net/client/client.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: siblings HOST:PORT\n");
    return 2;
  }
  auto client = shoal::client::Client::connect({.nodes = {argv[1]}});
  if (!client) return 1;
  auto& c = *client.value();
  shoal::client::Key key{"default", "examples", "cart-" + std::to_string(std::rand())};
  (void)c.put(key, "apples");  // two clients that did not see each other's write
  (void)c.put(key, "pears");
  auto read = c.get(key);
  if (!read) return 1;
  std::printf("%zu siblings:", read.value().siblings.size());
  std::string merged;
  for (const auto& s : read.value().siblings) {
    std::printf(" %s", s.value.c_str());
    merged += (merged.empty() ? "" : "+") + s.value;
  }
  std::printf("\n");
  shoal::client::PutOptions resolve;
  resolve.context = read.value().context;  // replaces both siblings
  if (!c.put(key, merged, resolve)) return 1;
  auto after = c.get(key);
  if (!after || after.value().siblings.size() != 1) return 1;
  std::printf("resolved: %s\n", after.value().siblings.front().value.c_str());
  return 0;
}
